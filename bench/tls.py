#!/usr/bin/env python3
"""What TLS and SASL cost: one Tern node with PLAINTEXT, SSL and SASL_SSL (SCRAM-SHA-256)
listeners; in each round, for each listener in turn (the order rotates), confluent-kafka
produces N records of S bytes (acks=1) and consumes them back. Reported per listener: records/s
and broker CPU-seconds per million records (utime+stime from /proc), the medians of the rounds,
and each as a ratio to PLAINTEXT from the same run.

    make bench-tls                     # or: .venv/bin/python bench/tls.py --records 300000
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import (AdminClient, NewTopic, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import arguments, cpu, medians, port, rounds, timed_produce, workdir_with_certs, write_json  # noqa: E402


def client_config(kind: str, ports: dict, certs: Path) -> dict:
    c = {"bootstrap.servers": f"127.0.0.1:{ports[kind]}"}
    if kind != "PLAINTEXT":
        c.update({"security.protocol": kind, "ssl.ca.location": str(certs / "ca.pem")})
    if kind == "SASL_SSL":
        c.update({"sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "bench", "sasl.password": "bench-secret"})
    return c


def phase(kind: str, ports: dict, certs: Path, pid: int, n: int, size: int) -> dict:
    config = client_config(kind, ports, certs)
    topic = f"tls-{kind.lower()}-{random.randrange(1 << 30)}"
    admin = AdminClient(config)
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result(30)
    produce_s, produce_cpu = timed_produce(
        {**config, "acks": 1, "linger.ms": 5, "batch.size": 1 << 20}, topic, n, os.urandom(size), [pid])
    c = Consumer({**config, "group.id": "tls-bench", "enable.auto.commit": False,
                  "fetch.max.bytes": 50 << 20, "max.partition.fetch.bytes": 10 << 20})
    c.assign([TopicPartition(topic, 0, 0)])
    before, start, got = cpu(pid), time.monotonic(), 0
    while got < n:
        for m in c.consume(10_000, timeout=5):
            if m.error() is None:
                got += 1
        if time.monotonic() - start > 120:
            raise RuntimeError(f"{kind}: consumed {got} of {n} in 120 s")
    consume_s, consume_cpu = time.monotonic() - start, cpu(pid) - before
    c.close()
    return {"produce_rps": n / produce_s, "produce_cpu_per_m": produce_cpu / n * 1e6,
            "consume_rps": n / consume_s, "consume_cpu_per_m": consume_cpu / n * 1e6}


def main() -> None:
    args = arguments().parse_args()
    work, certs = workdir_with_certs("tls")
    kinds = ["PLAINTEXT", "SSL", "SASL_SSL"]
    ports = {k: port() for k in kinds}
    props = work / "server.properties"
    props.write_text("\n".join([
        "node.id=0", f"log.dirs={work / 'data'}", "http.listeners=none", "min.insync.replicas=1",
        "listeners=" + ",".join(f"{k}://127.0.0.1:{ports[k]}" for k in kinds),
        "ssl.keystore.type=PEM", f"ssl.keystore.location={certs / 'server.pem'}",
        "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-256",
    ]) + "\n")
    log = open(work / "tern.log", "w")
    proc = subprocess.Popen([args.tern_bin, "server-start", str(props)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", ports["PLAINTEXT"]), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    sys.exit(f"tern did not start; see {work / 'tern.log'}")
                time.sleep(0.1)
        admin = AdminClient(client_config("PLAINTEXT", ports, certs))
        for f in admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
                "bench", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"bench-secret")]).values():
            f.result(30)
        results = rounds(kinds, args.rounds,
                         lambda k, _: phase(k, ports, certs, proc.pid, args.records, args.size))
    finally:
        proc.terminate()
        proc.wait(30)
    med = medians(results)
    print(f"\n{args.records:,} records of {args.size} B, {args.rounds} rounds, medians; ratio to PLAINTEXT")
    print("| listener | produce rec/s | broker CPU-s per M (produce) | consume rec/s | broker CPU-s per M (consume) |")
    print("|---|---|---|---|---|")
    for k in kinds:
        m, base = med[k], med["PLAINTEXT"]
        print(f"| {k} | {m['produce_rps']:,.0f} ({m['produce_rps'] / base['produce_rps']:.2f}) "
              f"| {m['produce_cpu_per_m']:.3f} ({m['produce_cpu_per_m'] / base['produce_cpu_per_m']:.2f}) "
              f"| {m['consume_rps']:,.0f} ({m['consume_rps'] / base['consume_rps']:.2f}) "
              f"| {m['consume_cpu_per_m']:.3f} ({m['consume_cpu_per_m'] / base['consume_cpu_per_m']:.2f}) |")
    write_json("tls", records=args.records, size=args.size, rounds=args.rounds, tern=args.tern_bin, medians=med,
               rounds_detail=results)

if __name__ == "__main__":
    main()
