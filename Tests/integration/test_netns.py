"""Real hosts, not loopback: three nodes in three network namespaces of their own (each its own
address on a bridge, made with `ip netns` and veth), a client in a fourth. The leader of a
partition is cut off from every other host with iptables in its own namespace (packets dropped,
no connection refused, no proxy): the two others elect a new leader and keep acknowledging
acks=all writes, while a producer inside the cut-off host's namespace gets no acknowledgement
from the old leader. The link heals: the old leader truncates what it appended alone, rejoins the
ISR, and every node holds the same log: each acknowledged record once, in order, and none of the
unacknowledged ones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, TERN_BIN
from support import wait_until

sys.path.insert(0, str(REPO / "bench"))
from netns import Hosts, missing_tools, remove_stale, sh  # noqa: E402

PYTHON = str(REPO / ".venv" / "bin" / "python")
CLIENT = str(Path(__file__).with_name("netns_client.py"))


class ClientHosts(Hosts):
    def client(self, name: str, *args: str, timeout: float = 120) -> object:
        out = sh(*self.command(name, PYTHON, CLIENT, *args), timeout=timeout)
        return json.loads(out.stdout.strip().splitlines()[-1])


def node_config(i: int, hosts: Hosts, data: Path) -> str:
    voters = ",".join(f"{n}@{hosts.ip[f'n{n}']}:19092" for n in range(3))
    return "".join(f"{k}={v}\n" for k, v in {
        "node.id": i, "process.roles": "broker,controller",
        "listeners": f"PLAINTEXT://{hosts.ip[f'n{i}']}:9092,CONTROLLER://{hosts.ip[f'n{i}']}:19092",
        "controller.quorum.voters": voters, "log.dirs": data, "http.listeners": "none",
        "default.replication.factor": 3, "min.insync.replicas": 2, "replica.lag.time.max.ms": 10000,
    }.items())


def segment_bytes(data: Path, topic: str) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((data / f"{topic}-0").glob("*.log")))


@pytest.mark.timeout(300)
def test_a_leader_cut_off_by_iptables_in_its_own_namespace_loses_no_acknowledged_write(tmp_path):
    why = missing_tools()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the network-namespace test: {why}")
        pytest.skip(why)
    remove_stale()
    hosts = ClientHosts(["n0", "n1", "n2", "c"])
    procs: dict[int, subprocess.Popen] = {}
    try:
        hosts.up()
        for i in range(3):
            (tmp_path / f"node-{i}").mkdir()
            conf = tmp_path / f"node-{i}" / "server.properties"
            conf.write_text(node_config(i, hosts, tmp_path / f"node-{i}" / "data"))
            with (tmp_path / f"node-{i}" / "broker.log").open("ab") as log:
                procs[i] = subprocess.Popen(hosts.command(f"n{i}", str(TERN_BIN), "server-start", str(conf)),
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        everyone = ",".join(f"{hosts.ip[f'n{i}']}:9092" for i in range(3))
        hosts.client("c", "ready", everyone, "3")
        topic = "cut"
        hosts.client("c", "create", everyone, topic)
        wait_until(lambda: hosts.client("c", "describe", everyone, topic)["isr"] == [0, 1, 2], 20, "a full ISR")
        assert hosts.client("c", "produce", everyone, topic, "v", "0", "100", "30000") == [f"v{i}" for i in range(100)]

        before = hosts.client("c", "describe", everyone, topic)
        old = before["leader"]
        others = [i for i in range(3) if i != old]
        survivors = ",".join(f"{hosts.ip[f'n{i}']}:9092" for i in others)
        hosts.cut(f"n{old}")
        cut_at = time.monotonic()

        # Inside the cut-off host a producer talks to the old leader alone: nothing may be acked.
        minority = subprocess.Popen(
            hosts.command(f"n{old}", PYTHON, CLIENT, "produce", f"{hosts.ip[f'n{old}']}:9092", topic, "minority-", "0",
                          "50", "20000"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        moved = wait_until(lambda: (lambda d: d if d["leader"] in others and old not in d["isr"] else None)(
            hosts.client("c", "describe", survivors, topic)), 40, "a new leader and an ISR without the cut-off node")
        print(f"leader {old} cut off (controller was {before['controller']}): "
              f"{moved['leader']} leads {time.monotonic() - cut_at:.1f} s later, ISR {moved['isr']}")
        assert hosts.client("c", "produce", survivors, topic, "v", "100", "100", "30000") == [
            f"v{i}" for i in range(100, 200)]

        out, err = minority.communicate(timeout=60)
        assert json.loads(out.strip().splitlines()[-1]) == [], f"the cut-off leader acknowledged writes: {out} {err}"
        assert all(p.poll() is None for p in procs.values()), "a node exited while cut off"

        hosts.heal(f"n{old}")
        wait_until(lambda: hosts.client("c", "describe", everyone, topic)["isr"] == [0, 1, 2], 60,
                   "the old leader back in the ISR")
        got = hosts.client("c", "consume", everyone, topic, "200")
        assert got == [f"v{i}" for i in range(200)], got
        # Its own appends are gone from the old leader's disk: every node holds the same log.
        wait_until(lambda: len({segment_bytes(tmp_path / f"node-{i}" / "data", topic) for i in range(3)}) == 1, 20,
                   "the three logs byte for byte the same")
        assert b"minority-" not in segment_bytes(tmp_path / f"node-{old}" / "data", topic)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
        hosts.down()


@pytest.mark.timeout(300)
def test_a_minute_of_chaos_between_hosts_of_their_own_loses_no_acknowledged_write(tmp_path):
    """bench/chaos.py's network-namespace mode, short: kills, pauses, restarts, whole-host cuts and
    node-to-node partitions (clients still reach the cut node) with iptables, under the idempotent
    acks=all producer and the committing group consumer; then its checker."""
    why = missing_tools()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the network-namespace chaos: {why}")
        pytest.skip(why)
    import chaos

    kinds = ["partition", "partition-controller", "isolate", "isolate-controller", "kill-leader", "pause"]
    result = chaos.run(seconds=60, fault_every=6, out=tmp_path / "chaos", seed=5, network="netns", kinds=kinds)
    print("\n" + chaos.summary(result))
    assert result["network"] == "netns" and result["faults"] >= 6
    assert result["faults_by_kind"].get("partition", 0) + result["faults_by_kind"].get("partition-controller", 0) > 0
    assert result["crashes"] == 0, result["crash_log"]
    assert result["acknowledged"] > 200
    assert result["lost"] == 0, result["lost_examples"]
    assert result["wrong_offset"] == 0 and result["divergent_offsets"] == 0 and result["duplicates"] == 0
    assert result["reordered"] == 0
    assert result["commits_backwards"] == 0 and result["commits_lost"] == 0, result["commits_lost_detail"]
