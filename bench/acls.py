#!/usr/bin/env python3
"""What authorization costs: two single-node Tern processes in the same run, one without an
authorizer and one with Kafka's standard authorizer holding --acls ACLs (of other principals,
literal and prefixed, plus the ones the bench's principal needs). In each round, on each node in
turn (the order rotates): confluent-kafka produces N records (acks=1, linger 0, so many small
Produce requests) and asks Metadata for every topic M times. Reported: the medians of records/s,
Metadata requests/s and broker CPU-seconds, and the authorized node's as a ratio to the other's.

    make bench-acls                    # or: .venv/bin/python bench/acls.py --acls 10000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient, NewTopic,
                                   ResourcePatternType, ResourceType)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, cpu, medians, port, rounds, timed_produce, write_json  # noqa: E402


def start(work: Path, name: str, tern_bin: str, authorizer: bool):
    p = port()
    props = work / f"{name}.properties"
    lines = ["node.id=0", f"log.dirs={work / name}", "http.listeners=none", f"listeners=PLAINTEXT://127.0.0.1:{p}"]
    if authorizer:
        lines += ["authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                  # Open while the cluster has no ACL, so the bench can create the first ones; every
                  # topic and the cluster then have ACLs, and each check evaluates them.
                  "allow.everyone.if.no.acl.found=true"]
    props.write_text("\n".join(lines) + "\n")
    log = open(work / f"{name}.log", "w")
    proc = subprocess.Popen([tern_bin, "server-start", str(props)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            AdminClient({"bootstrap.servers": f"127.0.0.1:{p}"}).list_topics(timeout=2)
            return proc, f"127.0.0.1:{p}"
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                sys.exit(f"tern did not start; see {work / name}.log")
            time.sleep(0.2)


def phase(bootstrap: str, pid: int, n: int, metadata_calls: int, topic: str) -> dict:
    produce_s, produce_cpu = timed_produce({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 0}, topic, n,
                                           b"x" * 100, [pid])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    before, t0 = cpu(pid), time.monotonic()
    for _ in range(metadata_calls):
        admin.list_topics(timeout=10)
    metadata_s, metadata_cpu = time.monotonic() - t0, cpu(pid) - before
    return {"produce_rps": n / produce_s, "produce_cpu_per_m": produce_cpu / n * 1e6,
            "metadata_rps": metadata_calls / metadata_s, "metadata_cpu_per_k": metadata_cpu / metadata_calls * 1e3}


def main() -> None:
    a = argparse.ArgumentParser()
    a.add_argument("--records", type=int, default=200_000)
    a.add_argument("--topics", type=int, default=200)
    a.add_argument("--metadata-calls", type=int, default=300)
    a.add_argument("--acls", type=int, default=10_000)
    a.add_argument("--rounds", type=int, default=3)
    a.add_argument("--tern-bin", default=os.environ.get("TERN_BIN", str(ROOT / ".build" / "release" / "tern")))
    args = a.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tern-acl-bench-"))
    nodes = {}
    try:
        for name, on in [("open", False), ("authorized", True)]:
            nodes[name] = start(work, name, args.tern_bin, on)
        for name, (proc, bootstrap) in nodes.items():
            admin = AdminClient({"bootstrap.servers": bootstrap})
            if name == "authorized":
                # The bench's principal (User:ANONYMOUS on PLAINTEXT) may create, write and
                # describe everything; the rest are other principals' ACLs, as a shared cluster has.
                mine = [AclBinding(ResourceType.TOPIC, "*", ResourcePatternType.LITERAL, "User:ANONYMOUS", "*",
                                   op, AclPermissionType.ALLOW)
                        for op in (AclOperation.CREATE, AclOperation.WRITE, AclOperation.DESCRIBE)]
                mine.append(AclBinding(ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL,
                                       "User:ANONYMOUS", "*", AclOperation.ALL, AclPermissionType.ALLOW))
                others = [AclBinding(ResourceType.TOPIC, f"t{i % args.topics}-{i}" if i % 2 else f"t{i % args.topics}",
                                     ResourcePatternType.LITERAL if i % 2 else ResourcePatternType.PREFIXED,
                                     f"User:svc-{i}", "*", AclOperation.READ, AclPermissionType.ALLOW)
                          for i in range(args.acls)]
                for chunk in range(0, len(mine + others), 1000):
                    for f in admin.create_acls((mine + others)[chunk:chunk + 1000]).values():
                        f.result(60)
            for f in admin.create_topics([NewTopic(f"t{i}", 1, 1) for i in range(args.topics)]).values():
                f.result(60)
        results = rounds(list(nodes), args.rounds, lambda k, r: phase(
            nodes[k][1], nodes[k][0].pid, args.records, args.metadata_calls, f"t{r}"))
    finally:
        for proc, _ in nodes.values():
            proc.terminate()
            proc.wait(30)
    med = medians(results)
    o = med["open"]
    print(f"\n{args.records:,} records of 100 B (linger 0), {args.metadata_calls} Metadata of {args.topics} topics, "
          f"{args.acls:,} ACLs, {args.rounds} rounds, medians; authorized / open")
    print("| node | produce rec/s | broker CPU-s per M records | Metadata req/s | broker CPU-s per 1k Metadata |")
    print("|---|---|---|---|---|")
    for k, m in med.items():
        print(f"| {k} | {m['produce_rps']:,.0f} ({m['produce_rps'] / o['produce_rps']:.2f}) "
              f"| {m['produce_cpu_per_m']:.2f} ({m['produce_cpu_per_m'] / o['produce_cpu_per_m']:.2f}) "
              f"| {m['metadata_rps']:,.0f} ({m['metadata_rps'] / o['metadata_rps']:.2f}) "
              f"| {m['metadata_cpu_per_k']:.2f} ({m['metadata_cpu_per_k'] / o['metadata_cpu_per_k']:.2f}) |")
    write_json("acls", args=vars(args), medians=med, rounds=results)

if __name__ == "__main__":
    main()
