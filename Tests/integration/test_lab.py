"""The lab from Kafka courses, as written, with Tern's bin/ scripts against a cluster started by
`tern cluster up` (the shipped configs moved to free ports): create `purchases` (3 partitions,
RF 3), produce, kill -9 broker 1, watch `--describe` show new leaders and an ISR without 1, keep
producing, restart broker 1 with kafka-server-start.sh, watch the ISR refill, and read every
message back from the beginning."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

from support import wait_until
from test_cli import BIN, run
from test_cluster_cli import make_config_dir, tern

SESSION_TIMEOUT_S = 9


def describe(bootstrap: str) -> dict[int, tuple[str, list[int], list[int]]]:
    out = run("topics", "--bootstrap-server", bootstrap, "--describe", "--topic", "purchases").stdout.decode()
    rows = {}
    for line in out.splitlines()[1:]:
        if line.startswith("\t\t"):  # why the partition above is unhealthy
            continue
        m = re.fullmatch(r"\tTopic: purchases\tPartition: (\d)\tLeader: (\d|none)\tReplicas: ([\d,]+)\tIsr: ([\d,]*)",
                         line)
        assert m, line
        rows[int(m.group(1))] = (m.group(2), [int(x) for x in m.group(3).split(",")],
                                 [int(x) for x in m.group(4).split(",") if x])
    return rows


def test_the_kafka_lab_as_written(tmp_path):
    config = make_config_dir(tmp_path)
    logs = tmp_path / "logs"
    restarted = None
    pids: list[int] = []
    try:
        up = tern("cluster", "up", "--config-dir", str(config), "--run-dir", str(logs), cwd=tmp_path)
        assert up.returncode == 0, up.stdout + up.stderr
        pids = [int((logs / f"node-{i}.pid").read_text()) for i in range(3)]
        b0, b1, b2 = re.search(r"bootstrap servers: (\S+)", up.stdout).group(1).split(",")

        created = run("topics", "--bootstrap-server", b0, "--create", "--replication-factor", "3", "--partitions", "3",
                      "--topic", "purchases")
        assert created.stdout.decode().strip() == "Created topic purchases."
        assert "purchases" in run("topics", "--bootstrap-server", b1, "--list").stdout.decode().splitlines()
        before = describe(b0)
        assert [before[p][1] for p in range(3)] == [[0, 1, 2], [1, 2, 0], [2, 0, 1]]
        assert all(leader == str(replicas[0]) and sorted(isr) == [0, 1, 2]
                   for leader, replicas, isr in before.values())

        first = "".join(f"purchase-{i}\n" for i in range(30)).encode()
        run("console-producer", "--bootstrap-server", b0, "--topic", "purchases", stdin=first)

        os.kill(pids[1], signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(
            lambda: all(leader not in ("1", "none") and 1 not in isr for leader, _, isr in describe(b0).values()),
            SESSION_TIMEOUT_S + 5, "new leaders and an ISR without broker 1", interval_s=0.25)
        seen_at = time.monotonic()
        print(f"describe showed the fail-over {seen_at - killed_at:.1f} s after kill -9 of broker 1")
        under = run("topics", "--bootstrap-server", b2, "--describe", "--under-replicated-partitions").stdout.decode()
        rows = [line for line in under.splitlines() if line.startswith("\tTopic: purchases")]
        reasons = [line for line in under.splitlines() if line.startswith("\t\t")]
        assert len(rows) == 3 and len(under.splitlines()) == 6, under
        # Each partition line is followed by why: broker 1 is down (not "behind" or "no copy").
        assert reasons == ["\t\tUnder-replicated: broker 1 is down."] * 3, under
        assert run("topics", "--bootstrap-server", b2, "--describe", "--unavailable-partitions").stdout == b""

        second = "".join(f"purchase-{i}\n" for i in range(30, 60)).encode()
        run("console-producer", "--bootstrap-server", b2, "--topic", "purchases", "--producer-property", "acks=all",
            stdin=second)

        with (logs / "node-1.restart.log").open("ab") as out:
            restarted = subprocess.Popen([str(BIN / "kafka-server-start.sh"), str(config / "server-1.properties")],
                                         cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
        wait_until(lambda: all(sorted(isr) == [0, 1, 2] for _, _, isr in describe(b0).values()), 60,
                   "broker 1 back in every ISR", interval_s=0.25)
        # Broker 1 answers from its own image, which may apply the last ISR change a moment after b0's.
        wait_until(
            lambda: run("topics", "--bootstrap-server", b1, "--describe", "--under-replicated-partitions").stdout == b"",
            10, "broker 1 itself reports no under-replicated partition", interval_s=0.25)

        read = run("console-consumer", "--bootstrap-server", b1, "--topic", "purchases", "--from-beginning",
                   "--max-messages", "60", timeout_s=60)
        got = read.stdout.decode().splitlines()
        assert sorted(got) == sorted(f"purchase-{i}" for i in range(60)), got
        assert "Processed a total of 60 messages" in read.stderr.decode()

        down = tern("cluster", "down", "--config-dir", str(config), "--run-dir", str(logs), cwd=tmp_path)
        assert down.returncode == 0, down.stdout + down.stderr
    finally:
        if restarted is not None and restarted.poll() is None:
            restarted.send_signal(signal.SIGTERM)
            try:
                restarted.wait(15)
            except subprocess.TimeoutExpired:
                restarted.kill()
                restarted.wait()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for pid in pids:
        try:
            os.kill(pid, 0)
            raise AssertionError(f"pid {pid} still running")
        except ProcessLookupError:
            pass
