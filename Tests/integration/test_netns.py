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
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, TERN_BIN
from support import wait_until

PYTHON = str(REPO / ".venv" / "bin" / "python")
CLIENT = str(Path(__file__).with_name("netns_client.py"))
SUBNET = "198.18.7"  # RFC 2544's benchmarking range, on a bridge inside our own namespaces only
PREFIX = "tern"  # namespace names: tern<pid>sw, tern<pid>n0..n2, tern<pid>c


def _have_tools() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    missing = [t for t in ("ip", "iptables") if shutil.which(t) is None]
    return f"missing {' and '.join(missing)} (make deps installs iproute2 and iptables)" if missing else None


def sh(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    out = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {out.stderr.strip()}")
    return out


def _remove_stale_namespaces() -> None:
    """Namespaces of earlier runs whose pytest is gone (killed before its cleanup)."""
    for line in sh("ip", "netns", "list").stdout.splitlines():
        name = line.split()[0]
        digits = name[len(PREFIX):].split("sw")[0].split("n")[0].split("c")[0]
        if name.startswith(PREFIX) and digits.isdigit() and not Path(f"/proc/{digits}").exists():
            sh("ip", "netns", "del", name, check=False)


class Hosts:
    """A switch namespace with a bridge, and one namespace per host with its address on it."""

    def __init__(self, names: list[str]):
        tag = f"{PREFIX}{os.getpid()}"
        self.switch = f"{tag}sw"
        self.ns = {name: f"{tag}{name}" for name in names}
        self.ip = {name: f"{SUBNET}.{10 + i}" for i, name in enumerate(names)}

    def up(self) -> None:
        sh("ip", "netns", "add", self.switch)
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        for i, (name, ns) in enumerate(self.ns.items()):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            # Made in the host's namespace, its peer moved to the switch: no name in the root one.
            sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"port{i}", "netns", self.switch)
            sh("ip", "-n", ns, "addr", "add", f"{self.ip[name]}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", self.switch, "link", "set", f"port{i}", "master", "br0")
            sh("ip", "-n", self.switch, "link", "set", f"port{i}", "up")

    def down(self) -> None:
        for ns in [*self.ns.values(), self.switch]:
            sh("ip", "netns", "del", ns, check=False)

    def cut(self, name: str) -> None:
        """Every packet into or out of the host, but its own loopback, dropped."""
        for chain, flag in (("INPUT", "-i"), ("OUTPUT", "-o")):
            sh("ip", "netns", "exec", self.ns[name], "iptables", "-A", chain, "!", flag, "lo", "-j", "DROP")

    def heal(self, name: str) -> None:
        sh("ip", "netns", "exec", self.ns[name], "iptables", "-F")

    def client(self, name: str, *args: str, timeout: float = 120) -> object:
        out = sh("ip", "netns", "exec", self.ns[name], PYTHON, CLIENT, *args, timeout=timeout)
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
    why = _have_tools()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the network-namespace test: {why}")
        pytest.skip(why)
    _remove_stale_namespaces()
    hosts = Hosts(["n0", "n1", "n2", "c"])
    procs: dict[int, subprocess.Popen] = {}
    try:
        hosts.up()
        for i in range(3):
            (tmp_path / f"node-{i}").mkdir()
            conf = tmp_path / f"node-{i}" / "server.properties"
            conf.write_text(node_config(i, hosts, tmp_path / f"node-{i}" / "data"))
            with (tmp_path / f"node-{i}" / "broker.log").open("ab") as log:
                procs[i] = subprocess.Popen(["ip", "netns", "exec", hosts.ns[f"n{i}"], str(TERN_BIN), "server-start",
                                             str(conf)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
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
            ["ip", "netns", "exec", hosts.ns[f"n{old}"], PYTHON, CLIENT, "produce", f"{hosts.ip[f'n{old}']}:9092",
             topic, "minority-", "0", "50", "20000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

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
