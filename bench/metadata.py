#!/usr/bin/env python3
"""Metadata benchmark on a three-node Tern cluster (release build), written to bench/out/metadata.json:

  create   1,000 topics of 3 partitions (replication factor 3) through confluent-kafka's
           AdminClient, 50 topics per request; topics created per second, wall clock from the first
           request to the last answer
  visible  50 topics of 3 partitions (RF 3) created one at a time; for each, milliseconds from the
           CreateTopics answer until every node's own Metadata answer names it (each node asked
           alone), and until one acks=all record to each of its partitions is acknowledged by a
           producer that was already connected (what a program that creates, then writes, waits)
  failover kill -9 the active controller 10 times; seconds from the kill until another node
           reports a new leader through DescribeQuorum (median, min, max); the killed node is
           restarted and rejoins before the next kill

`--baseline OTHER_TERN` runs the same phases on another build first, in the same invocation, so the
two can be compared as ratios on a shared machine.

Usage: .venv/bin/python bench/metadata.py [--topics N] [--visible N] [--kills N] [--baseline PATH]
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
import sys
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
from bench import free_port  # noqa: E402  (below the ephemeral range)
from support import topic_errors_on  # noqa: E402  (one node's own Metadata answer)

TERN = str(ROOT / ".build" / "release" / "tern")


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


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def visible(nodes: list[Node], admin: AdminClient, count: int) -> dict:
    """Topics created one at a time: when every node names each, and when a write to it is acknowledged."""
    producer = Producer({"bootstrap.servers": ",".join(n.bootstrap for n in nodes), "acks": "all", "linger.ms": 0})
    for f in admin.create_topics([NewTopic("warm", 3, 3)]).values():
        f.result(30)
    producer.produce("warm", b"x")
    producer.flush(30)
    named_ms: list[float] = []
    acked_ms: list[float] = []
    for i in range(count):
        name = f"v{i:04d}"
        for f in admin.create_topics([NewTopic(name, 3, 3)]).values():
            f.result(30)
        answered = time.monotonic()
        acked: list[float] = []
        for p in range(3):
            producer.produce(name, b"x", partition=p,
                             on_delivery=lambda err, _m: acked.append(time.monotonic()) if err is None else None)
        producer.poll(0)
        for n in nodes:
            while topic_errors_on("127.0.0.1", n.port, [name])[name] != 0:
                time.sleep(0.0005)
        named_ms.append((time.monotonic() - answered) * 1000)
        producer.flush(30)
        if len(acked) != 3:
            raise RuntimeError(f"{name}: {3 - len(acked)} of 3 records not acknowledged")
        acked_ms.append((max(acked) - answered) * 1000)
    summary = {"topics": count}
    for key, xs in (("named_everywhere_ms", named_ms), ("first_writes_acked_ms", acked_ms)):
        summary[key] = {"p50": round(statistics.median(xs), 1), "p90": round(percentile(xs, 0.9), 1),
                        "max": round(max(xs), 1), "over_400": sum(1 for x in xs if x > 400)}
    print(f"visible: every node names a new topic p50 {summary['named_everywhere_ms']['p50']} ms, "
          f"p90 {summary['named_everywhere_ms']['p90']} ms, max {summary['named_everywhere_ms']['max']} ms; "
          f"its first acks=all writes acknowledged p50 {summary['first_writes_acked_ms']['p50']} ms, "
          f"p90 {summary['first_writes_acked_ms']['p90']} ms, max {summary['first_writes_acked_ms']['max']} ms",
          flush=True)
    return summary


def run(binary: str, a) -> dict:
    global TERN
    TERN = binary
    work = Path(tempfile.mkdtemp(prefix="tern-metadata-bench-"))
    clients = [free_port() for _ in range(3)]
    controllers = [free_port() for _ in range(3)]
    nodes = [Node(i, work, clients, controllers) for i in range(3)]
    result: dict = {"binary": binary}
    print(f"== {binary}", flush=True)
    try:
        for n in nodes:
            n.start()
        wait_ready(nodes)
        admin = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes)})
        if a.visible:
            result["visible"] = visible(nodes, admin, a.visible)
        if a.topics:
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
        if times:
            result["failover"] = {"kills": a.kills, "median_s": round(statistics.median(times), 2),
                                  "min_s": round(min(times), 2), "max_s": round(max(times), 2),
                                  "each_s": [round(t, 2) for t in times]}
            print(f"controller fail-over over {a.kills} kills: median {statistics.median(times):.2f} s "
                  f"(min {min(times):.2f}, max {max(times):.2f})")
    finally:
        for n in nodes:
            n.kill()
    return result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--topics", type=int, default=1000)
    ap.add_argument("--visible", type=int, default=50)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--baseline", help="another tern binary, run first in the same invocation")
    a = ap.parse_args()
    result: dict = {"date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "command": " ".join([".venv/bin/python bench/metadata.py", *sys.argv[1:]]),
                    "topics": a.topics}
    if a.baseline:
        result["baseline"] = run(a.baseline, a)
    result.update(run(str(ROOT / ".build" / "release" / "tern"), a))
    if a.baseline:
        for key in ("named_everywhere_ms", "first_writes_acked_ms"):
            old, new = result["baseline"]["visible"][key], result["visible"][key]
            print(f"{key}: p50 {old['p50']} -> {new['p50']} ms, p90 {old['p90']} -> {new['p90']} ms, "
                  f"over 400 ms {old['over_400']} -> {new['over_400']} of {a.visible}")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "metadata.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
