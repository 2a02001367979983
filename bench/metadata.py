#!/usr/bin/env python3
"""Metadata benchmark on a three-node Tern cluster (release build), written to bench/out/metadata.json:

  create   1,000 topics of 3 partitions (replication factor 3) through confluent-kafka's
           AdminClient, 50 topics per request; topics created per second, wall clock from the first
           request to the last answer
  failover kill -9 the active controller 10 times; seconds from the kill until another node
           reports a new leader through DescribeQuorum (median, min, max); the killed node is
           restarted and rejoins before the next kill

Usage: .venv/bin/python bench/metadata.py [--topics N] [--kills N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent
TERN = str(ROOT / ".build" / "release" / "tern")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, i: int, work: Path, clients: list[int], controllers: list[int]):
        self.id = i
        self.port = clients[i]
        self.log = open(work / f"node-{i}.log", "ab")
        self.config = work / f"server-{i}.properties"
        voters = ",".join(f"{j}@127.0.0.1:{controllers[j]}" for j in range(3))
        self.config.write_text(
            f"node.id={i}\nprocess.roles=broker,controller\n"
            f"listeners=PLAINTEXT://127.0.0.1:{clients[i]},CONTROLLER://127.0.0.1:{controllers[i]}\n"
            f"controller.quorum.voters={voters}\nlog.dirs={work}/data-{i}\n"
            "default.replication.factor=3\nmin.insync.replicas=2\nhttp.listeners=none\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([TERN, "server-start", str(self.config)], stdout=self.log, stderr=self.log)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def leader_via(node: Node) -> int | None:
    out = subprocess.run([TERN, "metadata-quorum", "--bootstrap-server", node.bootstrap, "describe", "--status"],
                         capture_output=True, text=True, timeout=10)
    m = re.search(r"^LeaderId:\s+(\d+)", out.stdout, re.M)
    return int(m.group(1)) if m else None


def wait_ready(nodes: list[Node], timeout=60) -> None:
    deadline = time.monotonic() + timeout
    for n in nodes:
        while True:
            try:
                socket.create_connection(("127.0.0.1", n.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"node {n.id} not serving")
                time.sleep(0.05)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--topics", type=int, default=1000)
    ap.add_argument("--kills", type=int, default=10)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tern-metadata-bench-"))
    clients = [free_port() for _ in range(3)]
    controllers = [free_port() for _ in range(3)]
    nodes = [Node(i, work, clients, controllers) for i in range(3)]
    result: dict = {"date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "command": "make bench-metadata (.venv/bin/python bench/metadata.py)", "topics": a.topics}
    try:
        for n in nodes:
            n.start()
        wait_ready(nodes)
        admin = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes)})
        start = time.monotonic()
        for first in range(0, a.topics, 50):
            batch = [NewTopic(f"t{i:05d}", 3, 3) for i in range(first, min(a.topics, first + 50))]
            for f in admin.create_topics(batch, request_timeout=120).values():
                f.result(180)
        took = time.monotonic() - start
        listed = len([t for t in admin.list_topics(timeout=30).topics if t.startswith("t")])
        result["create"] = {"seconds": round(took, 2), "topics_per_s": round(a.topics / took, 1),
                            "partitions_per_s": round(3 * a.topics / took, 1), "topics_listed": listed}
        print(f"created {a.topics} topics x 3 partitions x RF 3 in {took:.1f} s: {a.topics / took:.0f} topics/s")

        times = []
        for k in range(a.kills):
            leader = None
            while leader is None:
                leader = leader_via(nodes[k % 3]) if nodes[k % 3].proc.poll() is None else None
                time.sleep(0.05)
            victim = nodes[leader]
            other = nodes[(leader + 1) % 3]
            victim.kill()
            t0 = time.monotonic()
            while True:
                now = leader_via(other)
                if now is not None and now != leader:
                    break
                time.sleep(0.02)
            times.append(time.monotonic() - t0)
            print(f"kill {k + 1}: node {leader} -> node {now} in {times[-1]:.2f} s")
            victim.start()
            wait_ready([victim])
        result["failover"] = {"kills": a.kills, "median_s": round(statistics.median(times), 2),
                              "min_s": round(min(times), 2), "max_s": round(max(times), 2),
                              "each_s": [round(t, 2) for t in times]}
        print(f"controller fail-over over {a.kills} kills: median {statistics.median(times):.2f} s "
              f"(min {min(times):.2f}, max {max(times):.2f})")
    finally:
        for n in nodes:
            n.kill()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "metadata.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
