#!/usr/bin/env python3
"""What transactions cost: on one three-node Tern cluster (RF 3, min.insync.replicas=2), in the
same run, a confluent-kafka producer sends N records of S bytes

  idempotent       acks=all, enable.idempotence (the baseline)
  transactional    the same records in transactions of T records each (begin, produce,
                   commit_transaction), one transactional id

and reports records/s for each, their ratio, each transaction's commit time (commit_transaction
call to return; p50/p99) and the broker CPU per million records. Phases alternate in order over
the rounds (idempotent first in odd rounds). Writes bench/out/transactions.json.

Usage: .venv/bin/python bench/transactions.py [--rounds 3] [--records 200000] [--txn-records 1000]
       [--tern .build/release/tern]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402
import replication as R  # noqa: E402


def run_phase(setup: R.Setup, topic: str, a, transactional: bool, round_no: int) -> dict:
    from confluent_kafka import Producer

    conf = {"bootstrap.servers": setup.bootstrap, "linger.ms": a.linger_ms, "acks": "all",
            "enable.idempotence": True, "batch.num.messages": 10000, "queue.buffering.max.messages": 1_000_000}
    if transactional:
        conf["transactional.id"] = f"bench-txn-{round_no}"
    p = Producer(conf)
    if transactional:
        p.init_transactions(60)
    value = b"x" * a.size
    failed = []

    def done(err, msg):
        if err is not None:
            failed.append(str(err))

    commits: list[float] = []
    cpu0 = setup.cpu()
    start = time.monotonic()
    sent = 0
    while sent < a.records:
        n = min(a.txn_records, a.records - sent)
        if transactional:
            p.begin_transaction()
        for i in range(n):
            while True:
                try:
                    p.produce(topic, value=value, partition=(sent + i) % 3, on_delivery=done)
                    break
                except BufferError:
                    p.poll(0.01)
        sent += n
        if transactional:
            t0 = time.monotonic()
            p.commit_transaction(60)
            commits.append(time.monotonic() - t0)
        else:
            p.poll(0)
    p.flush(120)
    wall = time.monotonic() - start
    cpu = setup.cpu() - cpu0
    out = {"records": sent - len(failed), "errors": len(failed), "first_error": failed[0] if failed else None,
           "seconds": wall, "records_per_s": (sent - len(failed)) / wall, "cluster_cpu_s": cpu,
           "cluster_cpu_s_per_million": cpu / (sent / 1e6)}
    if commits:
        commits.sort()
        out.update({"transactions": len(commits), "commit_ms_p50": commits[len(commits) // 2] * 1000,
                    "commit_ms_p99": commits[min(len(commits) - 1, int(len(commits) * 0.99))] * 1000})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--txn-records", type=int, default=1000)
    ap.add_argument("--linger-ms", type=int, default=5)
    ap.add_argument("--tern", default=R.TERN)
    ap.add_argument("--out", default=str(B.ROOT / "bench" / "out" / "transactions.json"))
    a = ap.parse_args()
    R.TERN = a.tern
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    logs = out.parent / "transactions-logs"
    logs.mkdir(exist_ok=True)
    rounds = []
    for r in range(1, a.rounds + 1):
        setup = R.Setup("cluster", 3, logs)
        try:
            phases = {}
            order = ["idempotent", "transactional"] if r % 2 else ["transactional", "idempotent"]
            for name in order:
                topic = f"bench-{name}-{r}"
                setup.create(topic)
                phases[name] = run_phase(setup, topic, a, name == "transactional", r)
                print(f"round {r} {name}: {phases[name]['records_per_s']:,.0f} records/s"
                      + (f", commit p50 {phases[name]['commit_ms_p50']:.1f} ms p99 {phases[name]['commit_ms_p99']:.1f} ms"
                         if name == "transactional" else ""), flush=True)
            phases["ratio"] = phases["transactional"]["records_per_s"] / phases["idempotent"]["records_per_s"]
            rounds.append(phases)
        finally:
            setup.stop()
    ratios = [x["ratio"] for x in rounds]
    summary = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": subprocess.run(["git", "-C", str(B.ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip(),
        "settings": vars(a), "rounds": rounds, "ratio_median": statistics.median(ratios),
        "idempotent_records_per_s_median": statistics.median(x["idempotent"]["records_per_s"] for x in rounds),
        "transactional_records_per_s_median": statistics.median(x["transactional"]["records_per_s"] for x in rounds),
        "commit_ms_p50_median": statistics.median(x["transactional"]["commit_ms_p50"] for x in rounds),
    }
    out.write_text(json.dumps(summary, indent=2))
    print(f"transactional / idempotent throughput: {summary['ratio_median']:.2f} (median of {a.rounds} rounds); "
          f"commit p50 {summary['commit_ms_p50_median']:.1f} ms")


if __name__ == "__main__":
    main()
