"""`tern cluster up|down|status` on a copy of the shipped configs moved to free ports."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from conftest import REPO, TERN_BIN, free_port


def make_config_dir(tmp_path: Path) -> Path:
    config = tmp_path / "config"
    config.mkdir()
    clients = [free_port() for _ in range(3)]
    controllers = [free_port() for _ in range(3)]
    consoles = [free_port() for _ in range(3)]
    for i in range(3):
        text = (REPO / "config" / f"server-{i}.properties").read_text()
        for j in range(3):
            text = text.replace(f"localhost:{19092 + j}", f"127.0.0.1:{controllers[j]}")
            text = text.replace(f"localhost:{9092 + j}", f"127.0.0.1:{clients[j]}")
            text = text.replace(f"localhost:{8080 + j}", f"127.0.0.1:{consoles[j]}")
        text = text.replace(f"./data/node-{i}", str(tmp_path / "data" / f"node-{i}"))
        assert "localhost:80" not in text and "localhost:90" not in text, "a shipped port was left in place"
        (config / f"server-{i}.properties").write_text(text)
    return config


def tern(*args, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([str(TERN_BIN), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_cluster_up_status_down_leaves_no_process(tmp_path):
    config = make_config_dir(tmp_path)
    pids: list[int] = []
    try:
        up = tern("cluster", "up", "--config-dir", str(config), "--run-dir", str(tmp_path / "logs"), cwd=tmp_path)
        assert up.returncode == 0, up.stdout + up.stderr
        assert re.search(r"cluster is up: 3 brokers \[0, 1, 2\], active controller node \d", up.stdout)
        pids = [int((tmp_path / "logs" / f"node-{i}.pid").read_text()) for i in range(3)]
        for pid in pids:
            os.kill(pid, 0)  # alive

        status = tern("cluster", "status", "--config-dir", str(config), "--run-dir", str(tmp_path / "logs"), cwd=tmp_path)
        rows = [line.split() for line in status.stdout.splitlines()[1:4]]
        assert [r[2] for r in rows] == ["serving"] * 3
        assert sorted(r[3] for r in rows).count("controller") == 1

        # The shipped defaults: three partitions on all three nodes.
        bootstrap = re.search(r"bootstrap servers: (\S+)", up.stdout).group(1)
        created = tern("topics", "--bootstrap-server", bootstrap.split(",")[1], "--create", "--topic", "purchases",
                       cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        described = tern("topics", "--bootstrap-server", bootstrap.split(",")[2], "--describe", "--topic", "purchases",
                         cwd=tmp_path).stdout
        assert "PartitionCount: 3\tReplicationFactor: 3" in described
        assert "Replicas: 0,1,2\tIsr: 0,1,2" in described

        down = tern("cluster", "down", "--config-dir", str(config), "--run-dir", str(tmp_path / "logs"), cwd=tmp_path)
        assert down.returncode == 0, down.stderr
        for pid in pids:
            try:
                os.kill(pid, 0)
                raise AssertionError(f"pid {pid} still running after cluster down")
            except ProcessLookupError:
                pass
        assert not any((tmp_path / "logs").glob("*.pid"))
    finally:
        kill_all(pids)


def test_one_node_at_a_time_and_nodes_started_elsewhere_are_seen(tmp_path):
    """`cluster down 1` stops node 1 alone and `status` says so; `kafka-server-start.sh` starts it
    again outside `cluster up`, and `status` finds it by its log.dirs lock; `cluster up 1` on a
    node whose port is taken reports that node's failure instead of "up"."""
    import socket
    import time

    config = make_config_dir(tmp_path)
    run = ["--config-dir", str(config), "--run-dir", str(tmp_path / "logs")]
    pids: list[int] = []
    try:
        up = tern("cluster", "up", *run, cwd=tmp_path)
        assert up.returncode == 0, up.stdout + up.stderr
        pids = [int((tmp_path / "logs" / f"node-{i}.pid").read_text()) for i in range(3)]

        down = tern("cluster", "down", "1", *run, cwd=tmp_path)
        assert down.returncode == 0 and "node(s) [1] stopped" in down.stdout, down.stdout + down.stderr
        # If node 1 led the metadata quorum, the other two say "starting" until they have elected
        # a new leader (about 2-3 s): that is the truth, so wait for it, with a bound.
        deadline = time.monotonic() + 20
        while True:
            status = tern("cluster", "status", *run, cwd=tmp_path).stdout.splitlines()
            states = {int(r.split()[0]): r.split()[2] for r in status[1:4]}
            assert states[1] == "stopped", status
            if states == {0: "serving", 1: "stopped", 2: "serving"}:
                break
            assert time.monotonic() < deadline and set(states.values()) <= {"serving", "starting", "stopped"}, status
            time.sleep(0.5)

        log = (tmp_path / "elsewhere.log").open("wb")
        other = subprocess.Popen([str(REPO / "bin" / "kafka-server-start.sh"), str(config / "server-1.properties")],
                                 stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        pids.append(other.pid)
        deadline = time.monotonic() + 60
        while True:
            rows = tern("cluster", "status", "1", *run, cwd=tmp_path).stdout.splitlines()[1:]
            if rows and rows[0].split()[2] == "serving":
                break
            assert time.monotonic() < deadline, rows
            time.sleep(0.5)
        assert rows[0].split()[1] == str(other.pid), "found by the pid in its log.dirs lock"
        other.terminate()
        assert other.wait(timeout=30) == 0

        port = int(re.search(r"PLAINTEXT://127.0.0.1:(\d+)", (config / "server-1.properties").read_text()).group(1))
        with socket.socket() as holder:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            holder.bind(("127.0.0.1", port))
            holder.listen()
            failed = tern("cluster", "up", "1", *run, cwd=tmp_path)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "node 1 exited during start-up" in failed.stderr and "cannot listen on 127.0.0.1" in failed.stderr
        assert "up" not in failed.stdout.split("\n")[-2:]
    finally:
        kill_all(pids)
        tern("cluster", "down", *run, cwd=tmp_path)
