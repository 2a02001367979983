#!/usr/bin/env python3
"""Faults on purpose: a three-node Tern cluster under load while a nemesis kills, pauses,
restarts, isolates and slows brokers; then a checker reads the whole history and prints a
verdict.

Every client and controller listener sits behind a TCP proxy the harness controls
(advertised listeners and quorum voters name the proxies), so "isolate node 2" cuts every
connection into node 2: from clients, from the other brokers' replica fetchers, and from the
other controllers. A node's own connections out still work (a one-way partition), as in a
firewall that drops one direction.

With `--network netns` (root, iproute2 and iptables) the nodes are hosts of their own instead:
each in a network namespace with its own address on a bridge (bench/netns.py), no proxies.
"isolate" then drops every packet in and out of the node with iptables in its namespace, and
"partition" drops only those between it and the other nodes, so clients still reach a node that
its peers cannot (the split a proxy cannot make); "slow" needs the proxies and is left out.

Workload: an idempotent acks=all producer sends key:seq values for keys k0..k9 (numbered per
key), and a consumer in a group polls and commits. An exactly-once processor
(bench/txn_processor.py, its own process) copies the topic to chaos-eos-out in transactions,
committing its input offsets in each; the nemesis also kills it with -9 now and then. Every send, acknowledgement, poll and commit
goes to history.jsonl. At the end all faults heal, two independent readers read every partition,
and the checker reports:

  lost          acknowledged values no reader found
  wrong offset  acknowledged values found at another offset than the one acknowledged
  divergent     an offset holding different values for the two readers
  duplicates    a value stored twice (the producer is idempotent: expected 0)
  reordered     a key whose values are out of sequence order in its partition
  skipped       offsets the group consumer jumped over (the log has no gaps)
  commits back  a partition's committed offset moving backwards
  commits lost  final committed offsets below the last acknowledged commit
  unavailable   the longest and total time without an acknowledgement while sending
  eos missing   stored input values without their copy in the processor's committed output
  eos twice     copies a read_committed reader finds more than once (aborted or repeated work)

Output: a one-screen summary, chaos.json and a PNG timeline (acknowledgements per second, faults
shaded) in the output directory.

Usage: .venv/bin/python bench/chaos.py [--seconds 1800] [--fault-every 12] [--out bench/out/chaos]
       [--network proxy|netns]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TERN = os.environ.get("TERN_BIN", str(ROOT / ".build" / "debug" / "tern"))
KEYS = 10
TOPIC = "chaos"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import free_port  # noqa: E402  (loopback ports below the ephemeral range)


class Proxy:
    """Forwards 127.0.0.1:listen to 127.0.0.1:target. `blocked` refuses new connections and cuts
    live ones; `delay_s` holds each chunk that long (a slow link)."""

    def __init__(self, target: int):
        self.target = target
        self.port = free_port()
        self.blocked = False
        self.delay_s = 0.0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", self.port))
        self._server.listen(128)
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self.blocked:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while not self.blocked:
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if self.delay_s:
                        time.sleep(self.delay_s)
                    (b if s is a else a).sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass
            with self._lock:
                self._conns = [c for c in self._conns if c not in (a, b)]

    def block(self) -> None:
        self.blocked = True
        with self._lock:
            for c in self._conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def heal(self) -> None:
        self.blocked = False
        self.delay_s = 0.0

    def close(self) -> None:
        self._stop = True
        self.block()
        self._server.close()


class Node:
    """One node: behind proxies (`client`, `controller`), or on a host of its own (`prefix`
    runs it in its namespace, `host` is its address there)."""

    def __init__(self, i: int, work: Path, voters: str, client: Proxy | None, controller: Proxy | None,
                 client_port: int, controller_port: int, host: str = "127.0.0.1", prefix: list[str] | None = None):
        self.id, self.client, self.controller = i, client, controller
        self.prefix = prefix or []
        self.log = open(work / f"node-{i}.log", "ab")
        self.config = work / f"server-{i}.properties"
        advertised = client.port if client else client_port
        self.config.write_text(
            f"node.id={i}\nprocess.roles=broker,controller\n"
            f"listeners=PLAINTEXT://{host}:{client_port},CONTROLLER://{host}:{controller_port}\n"
            f"advertised.listeners=PLAINTEXT://{host}:{advertised}\n"
            f"controller.quorum.voters={voters}\nlog.dirs={work}/data-{i}\n"
            f"http.listeners={'HTTP://127.0.0.1:%d' % free_port() if not prefix else 'none'}\n"
            "default.replication.factor=3\nmin.insync.replicas=2\nnum.partitions=3\n")
        self.proc: subprocess.Popen | None = None
        self.paused = False

    def start(self) -> None:
        self.proc = subprocess.Popen([*self.prefix, TERN, "server-start", str(self.config)], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        if self.alive():
            if self.paused:
                self.signal(signal.SIGCONT)
                self.paused = False
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.alive():
            if self.paused:
                self.signal(signal.SIGCONT)
                self.paused = False
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class History:
    def __init__(self, path: Path):
        self.f = open(path, "w")
        self.lock = threading.Lock()
        self.t0 = time.monotonic()

    def add(self, kind: str, **fields) -> None:
        with self.lock:
            self.f.write(json.dumps({"t": round(time.monotonic() - self.t0, 4), "kind": kind, **fields}) + "\n")

    def close(self) -> None:
        self.f.close()


class Cluster:
    def __init__(self, work: Path, network: str = "proxy"):
        self.work = work
        self.hosts = None
        if network == "netns":
            from netns import Hosts, remove_stale
            remove_stale()
            self.hosts = Hosts(["n0", "n1", "n2"], root_link=True).up()
            self.client_proxies, self.controller_proxies = [], []
            ips = [self.hosts.ip[f"n{i}"] for i in range(3)]
            voters = ",".join(f"{i}@{ips[i]}:19092" for i in range(3))
            self.nodes = [Node(i, work, voters, None, None, 9092, 19092, host=ips[i],
                               prefix=self.hosts.command(f"n{i}")) for i in range(3)]
            self.addresses = [(ip, 9092) for ip in ips]
        else:
            clients = [free_port() for _ in range(3)]
            controllers = [free_port() for _ in range(3)]
            self.client_proxies = [Proxy(p) for p in clients]
            self.controller_proxies = [Proxy(p) for p in controllers]
            voters = ",".join(f"{i}@127.0.0.1:{self.controller_proxies[i].port}" for i in range(3))
            self.nodes = [Node(i, work, voters, self.client_proxies[i], self.controller_proxies[i], clients[i],
                               controllers[i]) for i in range(3)]
            self.addresses = [("127.0.0.1", p.port) for p in self.client_proxies]
        for n in self.nodes:
            n.start()

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.addresses)

    def describe(self) -> dict | None:
        from confluent_kafka.admin import AdminClient
        try:
            md = AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(TOPIC, timeout=5)
            t = md.topics.get(TOPIC)
            if t is None or t.error:
                return None
            return {"controller": md.controller_id,
                    "partitions": {p: (m.leader, sorted(m.isrs)) for p, m in t.partitions.items()}}
        except Exception:
            return None

    def healthy(self) -> bool:
        d = self.describe()
        return bool(d) and len(d["partitions"]) == 3 and all(
            leader >= 0 and len(isr) == 3 for leader, isr in d["partitions"].values())

    def close(self) -> None:
        for n in self.nodes:
            n.kill()
        for p in self.client_proxies + self.controller_proxies:
            p.close()
        if self.hosts:
            self.hosts.down()


class Producer:
    def __init__(self, bootstrap: str, history: History):
        from confluent_kafka import Producer as P
        self.p = P({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5,
                    "message.timeout.ms": 120_000, "reconnect.backoff.max.ms": 500})
        self.history = history
        self.seq = [0] * KEYS
        self.acked: dict[str, tuple[int, int]] = {}
        self.failed: dict[str, str] = {}
        self.ack_times: list[float] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            k = i % KEYS
            value = f"k{k}:{self.seq[k]}"
            self.seq[k] += 1
            i += 1

            def done(err, msg, value=value):
                if err is None:
                    self.acked[value] = (msg.partition(), msg.offset())
                    self.ack_times.append(time.monotonic() - self.history.t0)
                    self.history.add("ack", value=value, partition=msg.partition(), offset=msg.offset())
                else:
                    self.failed[value] = str(err)
                    self.history.add("fail", value=value, error=str(err))

            while True:
                try:
                    self.history.add("send", value=value)
                    self.p.produce(TOPIC, key=f"k{k}".encode(), value=value.encode(), on_delivery=done)
                    break
                except BufferError:
                    self.p.poll(0.05)
            self.p.poll(0)
            time.sleep(0.002)
        self.p.flush(180)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(240)


class GroupConsumer:
    def __init__(self, bootstrap: str, history: History):
        from confluent_kafka import Consumer
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "chaos-group", "enable.auto.commit": False,
                           "auto.offset.reset": "earliest", "session.timeout.ms": 10_000,
                           "reconnect.backoff.max.ms": 500})
        self.history = history
        self.polled: dict[int, list[int]] = defaultdict(list)
        self.commits: dict[int, list[int]] = defaultdict(list)
        self.last_acked_commit: dict[int, int] = {}
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from confluent_kafka import TopicPartition
        positions: dict[int, int] = {}

        def revoked(consumer, partitions) -> None:
            # Positions of partitions this member no longer owns must not be committed: the
            # next owner starts from the committed offset, and committing a stale position
            # afterwards would move it backwards (at-least-once re-reads are expected).
            for tp in partitions:
                positions.pop(tp.partition, None)
            self.history.add("revoked", partitions=[tp.partition for tp in partitions])

        self.c.subscribe([TOPIC], on_revoke=revoked, on_lost=revoked)
        since = 0
        while not self._stop.is_set():
            m = self.c.poll(0.2)
            if m is not None and not m.error():
                self.polled[m.partition()].append(m.offset())
                positions[m.partition()] = m.offset() + 1
                self.history.add("poll", partition=m.partition(), offset=m.offset(), value=m.value().decode())
                since += 1
            if since >= 50 and positions:
                offsets = [TopicPartition(TOPIC, p, o) for p, o in positions.items()]
                try:
                    result = self.c.commit(offsets=offsets, asynchronous=False)
                    for tp in result or offsets:
                        if tp.error is None:
                            self.commits[tp.partition].append(tp.offset)
                            self.last_acked_commit[tp.partition] = tp.offset
                            self.history.add("commit", partition=tp.partition, offset=tp.offset)
                except Exception as e:
                    self.history.add("commit-fail", error=str(e))
                since = 0

    def final_committed(self) -> dict[int, int]:
        from confluent_kafka import TopicPartition
        got = self.c.committed([TopicPartition(TOPIC, p) for p in range(3)], timeout=30)
        return {tp.partition: tp.offset for tp in got}

    def stop(self) -> dict[int, int]:
        self._stop.set()
        self.thread.join(30)
        try:
            return self.final_committed()
        finally:
            self.c.close()


EOS_TOPIC = "chaos-eos-out"


class Processor:
    """The exactly-once consume-transform-produce process (bench/txn_processor.py), restarted
    when it is killed or ends with an error while the run goes on."""

    def __init__(self, bootstrap: str, out: Path, history: History):
        self.bootstrap, self.out, self.history = bootstrap, out, history
        self.proc: subprocess.Popen | None = None
        self.kills = 0
        self.starts = 0

    def start(self, idle_s: float = 3600) -> None:
        self.starts += 1
        log = open(self.out / f"processor-{self.starts}.log", "w")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "txn_processor.py"), self.bootstrap, TOPIC,
                                      EOS_TOPIC, "chaos-eos", "chaos-eos-txn", str(idle_s), "0", "1000"],
                                     stdout=log, stderr=subprocess.STDOUT)
        self.history.add("processor-start", n=self.starts)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.kills += 1
            self.history.add("processor-kill")

    def keep_running(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.start()

    def drain(self, timeout_s: float = 300) -> None:
        """Replaced by one that ends after 20 s without input; waits for it."""
        self.kill()
        self.start(idle_s=20)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def read_all(bootstrap: str, name: str, topic: str = TOPIC) -> dict[int, list[tuple[int, str]]]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"chaos-reader-{name}", "enable.auto.commit": False,
                  "enable.partition.eof": True, "isolation.level": "read_committed"})
    out: dict[int, list[tuple[int, str]]] = {p: [] for p in range(3)}
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(3)])
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in range(3)}
        done = {p for p in range(3) if ends[p] == 0}
        deadline = time.monotonic() + 180
        while len(done) < 3 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF and m.offset() >= ends[m.partition()]:
                    done.add(m.partition())
                continue
            out[m.partition()].append((m.offset(), m.value().decode()))
            if m.offset() + 1 >= ends[m.partition()]:
                done.add(m.partition())
        if len(done) < 3:
            raise RuntimeError(f"reader {name} did not reach the end of partitions {set(range(3)) - done}")
        return out
    finally:
        c.close()


class Nemesis:
    KINDS = ["kill", "pause", "restart", "isolate", "isolate-controller", "slow", "kill-controller", "kill-leader"]

    def __init__(self, cluster: Cluster, history: History, rng: random.Random):
        self.cluster, self.history, self.rng = cluster, history, rng
        if cluster.hosts:
            self.KINDS = [k for k in self.KINDS if k != "slow"] + ["partition", "partition-controller"]
        self.faults: list[dict] = []
        self.crashes: list[dict] = []

    def target(self, kind: str) -> Node:
        d = self.cluster.describe() or {}
        if kind.endswith("controller") and d.get("controller", -1) in (0, 1, 2):
            return self.cluster.nodes[d["controller"]]
        if kind == "kill-leader" and d.get("partitions"):
            leader = self.rng.choice(list(d["partitions"].values()))[0]
            if leader in (0, 1, 2):
                return self.cluster.nodes[leader]
        return self.rng.choice(self.cluster.nodes)

    def reap_crashes(self) -> None:
        """A node that exited without the nemesis killing it crashed: record it, start it again."""
        for n in self.cluster.nodes:
            if n.proc is not None and n.proc.poll() is not None:
                self.crashes.append({"node": n.id, "status": n.proc.returncode,
                                     "t": round(time.monotonic() - self.history.t0, 2)})
                self.history.add("crash", node=n.id, status=n.proc.returncode)
                n.start()

    def run_one(self, hold_s: float) -> None:
        self.reap_crashes()
        kind = self.rng.choice(self.KINDS)
        node = self.target(kind)
        start = time.monotonic() - self.history.t0
        self.history.add("fault-start", fault=kind, node=node.id)
        if kind in ("kill", "kill-controller", "kill-leader"):
            node.kill()
            time.sleep(hold_s)
            node.start()
        elif kind == "pause":
            node.signal(signal.SIGSTOP)
            node.paused = True
            time.sleep(max(hold_s, 11))  # longer than the 9 s broker session
            node.signal(signal.SIGCONT)
            node.paused = False
        elif kind == "restart":
            node.stop()
            node.start()
            time.sleep(hold_s)
        elif kind in ("isolate", "isolate-controller") and self.cluster.hosts:
            self.cluster.hosts.cut(f"n{node.id}")
            time.sleep(hold_s)
            self.cluster.hosts.heal(f"n{node.id}")
        elif kind in ("partition", "partition-controller"):
            # Cut from the other nodes only: clients still reach it, its peers do not.
            self.cluster.hosts.cut(f"n{node.id}", only_from=[f"n{n.id}" for n in self.cluster.nodes if n is not node])
            time.sleep(hold_s)
            self.cluster.hosts.heal(f"n{node.id}")
        elif kind in ("isolate", "isolate-controller"):
            node.client.block()
            node.controller.block()
            time.sleep(hold_s)
            node.client.heal()
            node.controller.heal()
        elif kind == "slow":
            node.client.delay_s = node.controller.delay_s = 0.15
            time.sleep(hold_s)
            node.client.heal()
            node.controller.heal()
        end = time.monotonic() - self.history.t0
        self.history.add("fault-end", fault=kind, node=node.id)
        self.faults.append({"kind": kind, "node": node.id, "start": round(start, 2), "end": round(end, 2)})


def check_eos(stored: dict[int, list[tuple[int, str]]], output: dict[int, list[tuple[int, str]]]) -> dict:
    """Every stored input value has exactly one copy in the committed output, and nothing else is there."""
    from collections import Counter
    copies = Counter(v for recs in output.values() for _, v in recs)
    inputs = [v for recs in stored.values() for _, v in recs]
    missing = [v for v in inputs if copies[f"out-{v}"] == 0]
    twice = [v for v, n in copies.items() if n > 1]
    wanted = {f"out-{v}" for v in inputs}
    extra = [v for v in copies if v not in wanted]
    return {"eos_inputs": len(inputs), "eos_output": sum(copies.values()), "eos_missing": len(missing),
            "eos_missing_examples": missing[:10], "eos_twice": len(twice), "eos_twice_examples": twice[:10],
            "eos_extra": len(extra), "eos_extra_examples": extra[:10]}


def check(producer: Producer, group: GroupConsumer, committed: dict[int, int], reads: list[dict]) -> dict:
    r1, r2 = reads
    where: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for p, recs in r1.items():
        for off, v in recs:
            where[v].append((p, off))
    lost = [v for v in producer.acked if v not in where]
    wrong = [v for v, at in producer.acked.items() if v in where and at not in where[v]]
    dups = [v for v, at in where.items() if len(at) > 1]
    divergent = []
    for p in range(3):
        a = dict(r1[p])
        b = dict(r2[p])
        divergent += [(p, o) for o in a.keys() & b.keys() if a[o] != b[o]]
    reordered = 0
    for p, recs in r1.items():
        last: dict[str, int] = {}
        for _, v in recs:
            k, s = v.split(":")
            if int(s) <= last.get(k, -1):
                reordered += 1
            last[k] = int(s)
    skipped = 0
    for p, offs in group.polled.items():
        for a, b in zip(offs, offs[1:]):
            if b > a + 1:
                skipped += b - a - 1
    commits_back = sum(1 for offs in group.commits.values() for a, b in zip(offs, offs[1:]) if b < a)
    commits_lost = {p: (committed.get(p), o) for p, o in group.last_acked_commit.items()
                    if committed.get(p, -1) < o}
    times = sorted(producer.ack_times)
    gaps = [b - a for a, b in zip(times, times[1:])]
    return {
        "acknowledged": len(producer.acked), "failed_sends": len(producer.failed),
        "stored": sum(len(v) for v in r1.values()), "lost": len(lost), "lost_examples": lost[:10],
        "wrong_offset": len(wrong), "wrong_offset_examples": wrong[:10], "divergent_offsets": len(divergent),
        "duplicates": len(dups), "duplicate_examples": dups[:10], "reordered": reordered,
        "polled": sum(len(v) for v in group.polled.values()), "skipped_offsets": skipped,
        "commits": sum(len(v) for v in group.commits.values()), "commits_backwards": commits_back,
        "commits_lost": len(commits_lost), "commits_lost_detail": {str(k): v for k, v in commits_lost.items()},
        "longest_unavailable_s": round(max(gaps, default=0), 2),
        "total_unavailable_s": round(sum(g for g in gaps if g > 1.0), 2),
    }


def write_png(path: Path, ack_times: list[float], faults: list[dict], seconds: float) -> None:
    """Acknowledgements per second as bars, faults shaded red: a tiny PNG writer (no plotting
    library needed)."""
    width, height = 1000, 240
    total = max(1, int(seconds) + 1)
    per = [0] * total
    for t in ack_times:
        if int(t) < total:
            per[int(t)] += 1
    top = max(per) or 1
    px = [[(255, 255, 255)] * width for _ in range(height)]
    for f in faults:
        x0, x1 = int(f["start"] / total * width), max(int(f["start"] / total * width) + 1, int(f["end"] / total * width))
        for x in range(max(0, x0), min(width, x1)):
            for y in range(height):
                px[y][x] = (255, 215, 215)
    for x in range(width):
        s = int(x / width * total)
        h = int(per[s] / top * (height - 10))
        for y in range(height - h, height):
            px[y][x] = (40, 90, 200)
    raw = b"".join(b"\x00" + bytes(c for p in row for c in p) for row in px)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def run(seconds: float, fault_every: float, out: Path, seed: int = 1, network: str = "proxy",
        kinds: list[str] | None = None) -> dict:
    from confluent_kafka.admin import AdminClient, NewTopic
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tern-chaos-"))
    rng = random.Random(seed)
    history = History(out / "history.jsonl")
    cluster = None
    try:
        cluster = Cluster(work, network)
        deadline = time.monotonic() + 90
        # Brokers open their client listeners once they have joined the cluster; until then a
        # proxy has nothing to connect to, so wait for every broker (behind its proxy).
        targets = [("127.0.0.1", p.target) for p in cluster.client_proxies] or cluster.addresses
        for target in targets:
            while True:
                try:
                    socket.create_connection(target, timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"no broker listening on {target} after 90 s")
                    time.sleep(0.2)
        while True:
            admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
            try:
                created = admin.create_topics([NewTopic(t, 3, replication_factor=3, config={"min.insync.replicas": "2"})
                                               for t in (TOPIC, EOS_TOPIC)])
                for f in created.values():
                    try:
                        f.result(20)
                    except Exception as e:
                        if "TOPIC_ALREADY_EXISTS" not in str(e):
                            raise
                break
            except Exception as e:
                if "TOPIC_ALREADY_EXISTS" in str(e):
                    break
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        while not cluster.healthy():
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not become healthy")
            time.sleep(0.5)
        producer = Producer(cluster.bootstrap, history)
        group = GroupConsumer(cluster.bootstrap, history)
        producer.thread.start()
        group.thread.start()
        processor = Processor(cluster.bootstrap, out, history)
        processor.start()
        nemesis = Nemesis(cluster, history, rng)
        if kinds:
            nemesis.KINDS = kinds
        started = time.monotonic()
        time.sleep(min(5, seconds / 10))
        while time.monotonic() - started < seconds:
            processor.keep_running()
            if rng.random() < 0.25:
                processor.kill()  # the processor itself, mid-transaction
            processor.keep_running()
            nemesis.run_one(hold_s=rng.uniform(2, fault_every / 2))
            print(f"  {time.monotonic() - started:6.0f} s  fault {len(nemesis.faults)}: {nemesis.faults[-1]['kind']} "
                  f"node {nemesis.faults[-1]['node']}; {len(producer.acked)} acknowledged", flush=True)
            time.sleep(rng.uniform(fault_every / 2, fault_every))
        # Heal, let the cluster settle, then stop the clients and read everything twice.
        nemesis.reap_crashes()
        settle = time.monotonic() + 90
        while not cluster.healthy() and time.monotonic() < settle:
            time.sleep(0.5)
        time.sleep(5)
        producer.stop()
        time.sleep(3)
        committed = group.stop()
        processor.drain()
        reads = [read_all(cluster.bootstrap, "a"), read_all(cluster.bootstrap, "b")]
        verdict = check(producer, group, committed, reads)
        verdict.update(check_eos(reads[0], read_all(cluster.bootstrap, "eos", EOS_TOPIC)))
        verdict["eos_processor_kills"] = processor.kills
        elapsed = time.monotonic() - history.t0
        faults_by_kind: dict[str, int] = defaultdict(int)
        for f in nemesis.faults:
            faults_by_kind[f["kind"]] += 1
        result = {"seconds": round(elapsed, 1), "faults": len(nemesis.faults), "faults_by_kind": dict(faults_by_kind),
                  "seed": seed, "network": network, "crashes": len(nemesis.crashes), "crash_log": nemesis.crashes, **verdict,
                  "fault_log": nemesis.faults}
        (out / "chaos.json").write_text(json.dumps(result, indent=2))
        write_png(out / "timeline.png", producer.ack_times, nemesis.faults, elapsed)
        return result
    finally:
        history.close()
        if cluster:
            cluster.close()
        for log in work.glob("node-*.log"):
            subprocess.run(["cp", str(log), str(out / log.name)])
        subprocess.run(["rm", "-rf", str(work)])


def summary(r: dict) -> str:
    ok = r["lost"] == 0 and r["wrong_offset"] == 0 and r["divergent_offsets"] == 0 and r["duplicates"] == 0 \
        and r["reordered"] == 0 and r["commits_backwards"] == 0 and r["commits_lost"] == 0 and r["crashes"] == 0 \
        and r.get("eos_missing", 0) == 0 and r.get("eos_twice", 0) == 0 and r.get("eos_extra", 0) == 0
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["faults_by_kind"].items()))
    return "\n".join([
        f"verdict: {'VALID' if ok else 'INVALID'}",
        f"run: {r['seconds']} s, {r['faults']} faults ({kinds}); broker crashes: {r['crashes']}",
        f"writes: {r['acknowledged']} acknowledged, {r['failed_sends']} failed (never acknowledged), "
        f"{r['stored']} stored",
        f"lost acknowledged: {r['lost']}   wrong offset: {r['wrong_offset']}   divergent offsets: "
        f"{r['divergent_offsets']}   duplicates: {r['duplicates']}   reordered: {r['reordered']}",
        f"group: {r['polled']} polled, {r['skipped_offsets']} offsets skipped, {r['commits']} commits, "
        f"{r['commits_backwards']} backwards, {r['commits_lost']} lost",
        f"unavailable: longest {r['longest_unavailable_s']} s, total {r['total_unavailable_s']} s (gaps over 1 s)",
        f"exactly-once: {r.get('eos_inputs', 0)} inputs, {r.get('eos_output', 0)} committed copies; "
        f"missing {r.get('eos_missing', 0)}, twice {r.get('eos_twice', 0)}, extra {r.get('eos_extra', 0)}; "
        f"processor killed {r.get('eos_processor_kills', 0)} times",
    ])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1800)
    ap.add_argument("--fault-every", type=float, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "chaos"))
    ap.add_argument("--network", choices=["proxy", "netns"], default="proxy",
                    help="proxies on loopback, or each node a host of its own (root; iptables cuts links)")
    a = ap.parse_args()
    r = run(a.seconds, a.fault_every, Path(a.out), a.seed, a.network)
    print(summary(r))
    print(f"details: {a.out}/chaos.json, history: {a.out}/history.jsonl, timeline: {a.out}/timeline.png")
    sys.exit(0 if "VALID" == summary(r).split("\n")[0].split(": ")[1] else 1)


if __name__ == "__main__":
    main()
