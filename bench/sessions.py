#!/usr/bin/env python3
"""What fetch sessions (KIP-227) save with many partitions: three Tern nodes, RF 3, one topic of
P partitions, with sessions on (the default) and off (`max.incremental.fetch.session.cache.slots=0`:
every follower fetch names every partition it follows, and every answer carries each of them),
the same binary, in the same run. Writes bench/out/sessions.json.

Each round starts both setups fresh (order rotating) and measures on each:

  ready     CreateTopics until every partition is led with an ISR of 3
  idle      30 s with no clients: the brokers' CPU seconds (sum of three) and the bytes of Fetch
            requests they received (/metrics, tern_request_bytes_total{api="Fetch"})
  one each  one acks=all record of 100 bytes to every partition (confluent-kafka, one producer),
            until all are acknowledged; the brokers' CPU and the Fetch requests they answered
  latency   acks=all round trips of one record to a partition in turn, after the one-each phase
            (p50/p99 over 500)

The idle phase also times two /metrics scrapes of one node (the first after the topic is made,
then another). `--baseline PATH --setups base on` puts another build of tern (say, the commit
before a change, built in a scratch worktree) beside this one, both with sessions on.

Usage: .venv/bin/python bench/sessions.py [--rounds 2] [--partitions 10000] [--setups off on base]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402

ROOT = B.ROOT
TERN = str(ROOT / ".build" / "release" / "tern")


class Setup:
    def __init__(self, name: str, slots: int, logs: Path, binary: str = TERN):
        self.name, self.binary = name, binary
        self.work = Path(tempfile.mkdtemp(prefix=f"tern-sessions-bench-{name}-"))
        self.ports = [B.free_port() for _ in range(3)]
        self.http = [B.free_port() for _ in range(3)]
        controllers = [B.free_port() for _ in range(3)]
        voters = ",".join(f"{i}@127.0.0.1:{controllers[i]}" for i in range(3))
        self.procs, self.logs = [], []
        for i in range(3):
            props = self.work / f"server-{i}.properties"
            props.write_text(
                f"node.id={i}\nlog.dirs={self.work}/data-{i}\nprocess.roles=broker,controller\n"
                f"controller.quorum.voters={voters}\ndefault.replication.factor=3\nmin.insync.replicas=2\n"
                f"listeners=PLAINTEXT://127.0.0.1:{self.ports[i]},CONTROLLER://127.0.0.1:{controllers[i]}\n"
                f"http.listeners=HTTP://127.0.0.1:{self.http[i]}\n"
                f"max.incremental.fetch.session.cache.slots={slots}\n")
            self.logs.append(open(logs / f"sessions-{name}-node{i}.log", "ab"))
            self.procs.append(self.start(i))
        for port, proc in zip(self.ports, self.procs):
            B.wait_port(port, proc, timeout=60)

    def start(self, i: int) -> subprocess.Popen:
        return subprocess.Popen([self.binary, "server-start", str(self.work / f"server-{i}.properties")],
                                stdout=self.logs[i], stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def cpu(self) -> float:
        return sum(B.cpu_seconds(p.pid) for p in self.procs)

    def metric(self, i: int, name: str, label: str = "") -> float:
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.http[i]}/metrics", timeout=30).read().decode()
        for line in text.splitlines():
            if line.startswith(name) and label in line and not line.startswith("#"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stop(self, keep_data: bool = False) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs:
            log.close()
        if not keep_data:
            subprocess.run(["rm", "-rf", str(self.work)])


def ready(s: Setup, topic: str, partitions: int) -> float:
    from confluent_kafka.admin import AdminClient, NewTopic

    # Creating 10,000 partitions can take the controller past librdkafka's 60 s socket timeout.
    admin = AdminClient({"bootstrap.servers": s.bootstrap, "socket.timeout.ms": 300_000})
    t0 = time.monotonic()
    admin.create_topics([NewTopic(topic, partitions, 3)], operation_timeout=300, request_timeout=300)[topic].result(360)
    while time.monotonic() - t0 < 300:
        t = admin.list_topics(topic, timeout=30).topics.get(topic)
        if t and not t.error and len(t.partitions) == partitions and all(
                p.leader >= 0 and len(p.isrs) == 3 for p in t.partitions.values()):
            return time.monotonic() - t0
        time.sleep(0.5)
    raise RuntimeError(f"{s.name}: {topic} not fully replicated after 300 s")


def fetch_bytes(s: Setup) -> float:
    return sum(s.metric(i, "tern_request_bytes_total", 'api="Fetch"') for i in range(3))


def scrape_seconds(s: Setup) -> float:
    t0 = time.monotonic()
    urllib.request.urlopen(f"http://127.0.0.1:{s.http[0]}/metrics", timeout=120).read()
    return time.monotonic() - t0


def idle(s: Setup, seconds: float) -> dict:
    time.sleep(5)  # partitions still opening settle
    first_scrape = scrape_seconds(s)
    second_scrape = scrape_seconds(s)
    before_bytes = fetch_bytes(s)
    c0 = s.cpu()
    time.sleep(seconds)
    cpu = s.cpu() - c0
    got = fetch_bytes(s) - before_bytes
    sessions = sum(s.metric(i, "tern_fetch_sessions") for i in range(3))
    return {"cpu_s_per_s": cpu / seconds, "fetch_request_bytes_per_s": got / seconds, "sessions": sessions,
            "first_scrape_s": first_scrape, "second_scrape_s": second_scrape}


def one_each(s: Setup, topic: str, partitions: int) -> dict:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": s.bootstrap, "acks": "all", "linger.ms": 5})
    failed = []
    fetches0 = sum(s.metric(i, "tern_requests_total", 'api="Fetch"') for i in range(3))
    c0, t0 = s.cpu(), time.monotonic()
    for p in range(partitions):
        while True:
            try:
                producer.produce(topic, value=b"x" * 100, partition=p,
                                 on_delivery=lambda err, _m: err is not None and failed.append(err))
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(300)
    elapsed = time.monotonic() - t0
    cpu = s.cpu() - c0
    fetches = sum(s.metric(i, "tern_requests_total", 'api="Fetch"') for i in range(3)) - fetches0
    return {"seconds": elapsed, "cpu_s": cpu, "errors": len(failed) + left, "fetch_requests": fetches}


def latency(s: Setup, topic: str, partitions: int, n: int = 500) -> dict:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": s.bootstrap, "acks": "all", "linger.ms": 0})
    times = []
    for i in range(n):
        done = []
        t0 = time.monotonic()
        producer.produce(topic, value=b"y" * 100, partition=(i * 7919) % partitions,
                         on_delivery=lambda err, _m: done.append(err))
        while not done:
            producer.poll(0.0005)
        times.append((time.monotonic() - t0) * 1000)
    times.sort()
    return {"p50_ms": times[n // 2], "p99_ms": times[int(n * 0.99)]}


def run_round(rnd: int, a, logs: Path) -> dict:
    order = [(name, slots, binary) for name, slots, binary in [("off", 0, TERN), ("on", 1000, TERN),
                                                                ("base", 1000, a.baseline)] if name in a.setups]
    if rnd % 2:
        order.reverse()
    out = {}
    for name, slots, binary in order:
        s = Setup(name, slots, logs, binary)
        try:
            topic = f"many-{rnd}"
            r = {"ready_s": ready(s, topic, a.partitions)}
            r["idle"] = idle(s, a.idle_seconds)
            r["one_each"] = one_each(s, topic, a.partitions)
            r["latency"] = latency(s, topic, a.partitions)
            out[name] = r
            print(f"round {rnd} sessions {name}: {json.dumps(r)}", flush=True)
        finally:
            s.stop()
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--partitions", type=int, default=10_000)
    p.add_argument("--idle-seconds", type=float, default=30)
    p.add_argument("--setups", nargs="+", default=["off", "on"], choices=["off", "on", "base"])
    p.add_argument("--baseline", help="another tern binary, the 'base' setup (sessions on)")
    a = p.parse_args()
    if "base" in a.setups and not a.baseline:
        p.error("--setups base needs --baseline PATH")
    logs = ROOT / "bench" / "out" / "sessions-logs"
    logs.mkdir(parents=True, exist_ok=True)
    rounds = [run_round(r, a, logs) for r in range(a.rounds)]

    def med(setup: str, *path: str) -> float:
        values = []
        for r in rounds:
            v = r[setup]
            for k in path:
                v = v[k]
            values.append(v)
        return statistics.median(values)

    summary = {}
    names = [n for n in ["off", "base", "on"] if n in a.setups]
    for key in [("ready_s",), ("idle", "cpu_s_per_s"), ("idle", "fetch_request_bytes_per_s"), ("idle", "sessions"),
                ("idle", "first_scrape_s"), ("idle", "second_scrape_s"), ("one_each", "seconds"),
                ("one_each", "cpu_s"), ("one_each", "errors"), ("one_each", "fetch_requests"),
                ("latency", "p50_ms"), ("latency", "p99_ms")]:
        summary["/".join(key)] = {n: med(n, *key) for n in names}
    for k, v in summary.items():
        cells = "   ".join(f"{n} {v[n]:>12.3f}" for n in names)
        ratio = f"   on/{names[0]} {v['on'] / v[names[0]]:.3f}" if "on" in v and names[0] != "on" and v[names[0]] else ""
        print(f"{k:28} {cells}{ratio}")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    out = ROOT / "bench" / "out" / "sessions.json"
    out.write_text(json.dumps({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(), "commit": commit,
                               "partitions": a.partitions, "rounds": rounds, "summary": summary}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
