#!/usr/bin/env python3
"""What replication costs: a three-node Tern cluster (RF 3, min.insync.replicas=2) beside a
single Tern node (RF 1), in the same run, with confluent-kafka clients. Writes
bench/out/replication.json. `make bench-replication` runs it on the release build.

Each round starts both setups fresh and runs, on each, in turn (single first in odd rounds):

  produce acks=1    N records of S bytes from P producer processes (as bench.py does)
  produce acks=all  the same into a second topic (three nodes only; on one node it equals acks=1)
  consume           the acks=all topic back from the beginning (single: its acks=1 topic)
  latency           a producer paced at R records/s (acks=all on the cluster, acks=1 alone)
                    and a consumer; receive time minus send time

CPU is the sum over the setup's broker processes. The headline ratio is three-node acks=all
throughput over single-node acks=1 throughput (the issue's target: at least 0.5).

Usage: .venv/bin/python bench/replication.py [--rounds 3] [--records 1000000]
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402  (the workers and phase helpers are shared)

ROOT = B.ROOT
TERN = str(ROOT / ".build" / "release" / "tern")


class Setup:
    """One or three Tern nodes, started fresh in their own temporary directory."""

    def __init__(self, name: str, n: int, logs: Path):
        self.name, self.n = name, n
        self.work = Path(tempfile.mkdtemp(prefix=f"tern-repl-bench-{name}-"))
        self.ports = [B.free_port() for _ in range(n)]
        controllers = [B.free_port() for _ in range(n)]
        voters = ",".join(f"{i}@127.0.0.1:{controllers[i]}" for i in range(n))
        self.procs, self.logs = [], []
        for i in range(n):
            props = self.work / f"server-{i}.properties"
            listeners = f"PLAINTEXT://127.0.0.1:{self.ports[i]}"
            text = f"node.id={i}\nlog.dirs={self.work}/data-{i}\nnum.partitions=3\nhttp.listeners=none\n"
            if n > 1:
                listeners += f",CONTROLLER://127.0.0.1:{controllers[i]}"
                text += (f"process.roles=broker,controller\ncontroller.quorum.voters={voters}\n"
                         f"default.replication.factor={n}\nmin.insync.replicas=2\n")
            props.write_text(text + f"listeners={listeners}\n")
            log = open(logs / f"{name}-node{i}.log", "ab")
            self.logs.append(log)
            self.procs.append(subprocess.Popen([TERN, "server-start", str(props)], stdout=log,
                                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        for port, proc in zip(self.ports, self.procs):
            B.wait_port(port, proc, timeout=60)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def cpu(self) -> float:
        return sum(B.cpu_seconds(p.pid) for p in self.procs)

    def create(self, topic: str) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        admin.create_topics([NewTopic(topic, 3, self.n)], operation_timeout=10)[topic].result(15)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            t = admin.list_topics(topic, timeout=5).topics.get(topic)
            if t and not t.error and len(t.partitions) == 3 and all(
                    p.leader >= 0 and len(p.isrs) == self.n for p in t.partitions.values()):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: topic {topic} not fully replicated after 30 s")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs:
            log.close()
        subprocess.run(["rm", "-rf", str(self.work)])


def produce(s: Setup, a, topic: str, acks: str) -> dict:
    per = a.records // a.producers
    w = B.Workers([["produce", "--bootstrap", s.bootstrap, "--topic", topic, "--size", str(a.size),
                    "--linger-ms", str(a.linger_ms), "--timeout", str(a.timeout), "--acks", acks,
                    "--count", str(per + (a.records % a.producers if i == 0 else 0)),
                    "--first-partition", str(i)] for i in range(a.producers)])
    cpu0 = s.cpu()
    w.go()
    rs = w.results(a.timeout + 60)
    cpu = s.cpu() - cpu0
    ok = sum(r["ok"] for r in rs)
    wall = (max(r["end_ns"] for r in rs) - min(r["start_ns"] for r in rs)) / 1e9
    per_partition: dict[int, int] = {}
    for r in rs:
        for p, n in r["per_partition"].items():
            per_partition[int(p)] = per_partition.get(int(p), 0) + n
    return {"records": ok, "errors": sum(r["err"] + r["undelivered"] for r in rs),
            "first_error": next((r["first_err"] for r in rs if r["first_err"]), None), "seconds": wall,
            "records_per_s": ok / wall, "mb_per_s": ok * a.size / wall / 1e6, "cluster_cpu_s": cpu,
            "cluster_cpu_s_per_million": cpu / (ok / 1e6) if ok else None, "per_partition": per_partition}


def consume(s: Setup, a, topic: str, per_partition: dict[int, int]) -> dict:
    w = B.Workers([["consume", "--bootstrap", s.bootstrap, "--topic", topic, "--partitions", "0,1,2",
                    "--timeout", str(a.timeout), "--expected", str(sum(per_partition.values()))]])
    cpu0 = s.cpu()
    w.go()
    (r,) = w.results(a.timeout + 60)
    wall = (r["end_ns"] - r["start_ns"]) / 1e9
    return {"records": r["got"], "expected": r["expected"], "errors": r["errors"], "seconds": wall,
            "records_per_s": r["got"] / wall, "mb_per_s": r["bytes"] / wall / 1e6, "cluster_cpu_s": s.cpu() - cpu0}


def latency(s: Setup, a, topic: str, acks: str) -> dict:
    common = ["--bootstrap", s.bootstrap, "--topic", topic, "--rate", str(a.rate), "--duration",
              str(a.duration), "--warmup", str(a.warmup), "--size", str(a.size), "--timeout", "10"]
    w = B.Workers([["latency-consume", *common],
                   ["latency-produce", "--linger-ms", str(a.latency_linger_ms), "--acks", acks, *common]])
    w.go()
    cons, prod = w.results(a.warmup + a.duration + 60)
    cons.pop("cpu_s", None)
    return {**cons, "sent": prod["sent"], "produce_errors": prod["errors"]}


def run_round(rnd: int, a, logs: Path) -> dict:
    order = ["single", "three"] if rnd % 2 else ["three", "single"]
    print(f"round {rnd}: {' before '.join(order)} in every phase", flush=True)
    setups: dict[str, Setup] = {}
    res: dict[str, dict] = {n: {} for n in order}
    try:
        for n in order:
            setups[n] = Setup(n, 1 if n == "single" else 3, logs)
            for t in ("acks1", "acksall", "latency"):
                setups[n].create(t)
        phases = [("produce_acks1", lambda s: produce(s, a, "acks1", "1"))]
        phases.append(("produce_acksall", lambda s: produce(s, a, "acksall", "all")))
        phases.append(("consume", lambda s: consume(s, a, "acksall", res[s.name]["produce_acksall"]["per_partition"])))
        phases.append(("latency", lambda s: latency(s, a, "latency", "all")))
        for phase, fn in phases:
            for n in order:
                if phase == "produce_acksall" and n == "single" and not a.single_acks_all:
                    continue
                if phase == "consume" and n == "single" and "produce_acksall" not in res[n]:
                    res[n][phase] = consume(setups[n], a, "acks1", res[n]["produce_acks1"]["per_partition"])
                else:
                    res[n][phase] = fn(setups[n])
                r = res[n][phase]
                if "records_per_s" in r:
                    print(f"  {n:6} {phase:16} {r['records_per_s']:>12,.0f} rec/s  {r['mb_per_s']:6.1f} MB/s  "
                          f"errors {r.get('errors', 0)}", flush=True)
                else:
                    print(f"  {n:6} {phase:16} p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  "
                          f"({r['got']}/{r['expected']})", flush=True)
    finally:
        for s in setups.values():
            s.stop()
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--producers", type=int, default=2)
    ap.add_argument("--linger-ms", type=int, default=10)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--latency-linger-ms", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--single-acks-all", action="store_true",
                    help="also run acks=all on the single node (same as acks=1 there)")
    a = ap.parse_args()
    logs = B.OUT / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    rounds = [run_round(i + 1, a, logs) for i in range(a.rounds)]

    def med(setup, phase, key):
        vals = [r[setup][phase][key] for r in rounds if phase in r[setup]]
        return statistics.median(vals) if vals else None

    single = med("single", "produce_acks1", "records_per_s")
    summary = {
        "single_acks1_records_per_s": single,
        "three_acks1_records_per_s": med("three", "produce_acks1", "records_per_s"),
        "three_acksall_records_per_s": med("three", "produce_acksall", "records_per_s"),
        "single_consume_records_per_s": med("single", "consume", "records_per_s"),
        "three_consume_records_per_s": med("three", "consume", "records_per_s"),
        "single_latency_p50_ms": med("single", "latency", "p50_ms"),
        "single_latency_p99_ms": med("single", "latency", "p99_ms"),
        "three_acksall_latency_p50_ms": med("three", "latency", "p50_ms"),
        "three_acksall_latency_p99_ms": med("three", "latency", "p99_ms"),
        "three_acksall_cpu_s_per_million": med("three", "produce_acksall", "cluster_cpu_s_per_million"),
        "single_acks1_cpu_s_per_million": med("single", "produce_acks1", "cluster_cpu_s_per_million"),
    }
    per_round = [r["three"]["produce_acksall"]["records_per_s"] / r["single"]["produce_acks1"]["records_per_s"]
                 for r in rounds]
    summary["acksall_over_single_acks1"] = statistics.median(per_round)
    summary["acksall_over_single_acks1_per_round"] = per_round
    result = {"date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": "make bench-replication (.venv/bin/python bench/replication.py " + " ".join(sys.argv[1:]) + ")",
              "machine": B.machine(), "options": vars(a), "summary": summary, "rounds": rounds}
    (B.OUT / "replication.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    ok = summary["acksall_over_single_acks1"] >= 0.5
    print(f"three-node acks=all / single-node acks=1 = {summary['acksall_over_single_acks1']:.2f} "
          f"(target >= 0.50: {'met' if ok else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
