#!/usr/bin/env python3
"""What securing the nodes' own traffic costs: two three-node clusters in the same run, one
with PLAINTEXT between the nodes and one with replication over SASL_SSL (SCRAM-SHA-512, the
nodes' login seeded by `tern storage format --add-scram`) and the quorum over mutual TLS.
Clients reach both over a PLAINTEXT listener, so only the nodes' traffic differs. In each round,
on each cluster in turn (the order rotates), confluent-kafka produces N records of S bytes with
acks=all to a new RF 3 topic of 3 partitions: every record crosses the inter-broker listener
twice before it is acknowledged. Reported: records/s and the three nodes' CPU-seconds per
million records (utime+stime from /proc), medians of the rounds, the secured cluster's as a
ratio to the plaintext one's.

    make bench-internode               # or: .venv/bin/python bench/internode.py --records 300000
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import arguments, medians, port, rounds, timed_produce, workdir_with_certs, write_json  # noqa: E402

JAAS = ('org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" '
        'password="broker-secret";')


def start_cluster(work: Path, name: str, tern_bin: str, certs: Path | None) -> tuple[list, str]:
    """Three nodes; with certs, the INTERNAL and CONTROLLER listeners are secured."""
    client, internal, controller = ([port() for _ in range(3)] for _ in range(3))
    voters = ",".join(f"{i}@127.0.0.1:{controller[i]}" for i in range(3))
    cluster_id = subprocess.run([tern_bin, "storage", "random-uuid"], check=True, capture_output=True,
                                text=True).stdout.strip()
    procs = []
    for i in range(3):
        lines = [
            f"node.id={i}", "process.roles=broker,controller", f"log.dirs={work / name / str(i)}",
            "http.listeners=none", "min.insync.replicas=2", "default.replication.factor=3",
            f"listeners=CLIENT://127.0.0.1:{client[i]},INTERNAL://127.0.0.1:{internal[i]},"
            f"CONTROLLER://127.0.0.1:{controller[i]}",
            "inter.broker.listener.name=INTERNAL", "controller.listener.names=CONTROLLER",
            f"controller.quorum.voters={voters}",
        ]
        if certs is None:
            lines.append("listener.security.protocol.map=CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT")
        else:
            lines += [
                "listener.security.protocol.map=CLIENT:PLAINTEXT,INTERNAL:SASL_SSL,CONTROLLER:SSL",
                "ssl.keystore.type=PEM", f"ssl.keystore.location={certs / 'server.pem'}",
                "ssl.truststore.type=PEM", f"ssl.truststore.location={certs / 'ca.pem'}",
                "listener.name.controller.ssl.client.auth=required",
                "listener.name.internal.sasl.enabled.mechanisms=SCRAM-SHA-512",
                "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
                f"listener.name.internal.scram-sha-512.sasl.jaas.config={JAAS}",
            ]
        props = work / f"{name}-{i}.properties"
        props.write_text("\n".join(lines) + "\n")
        if certs is not None:
            subprocess.run([tern_bin, "storage", "format", "-t", cluster_id, "-c", str(props), "--add-scram",
                            "SCRAM-SHA-512=[name=broker,password=broker-secret]"], check=True, capture_output=True)
        log = open(work / f"{name}-{i}.log", "w")
        procs.append(subprocess.Popen([tern_bin, "server-start", str(props)], stdout=log, stderr=subprocess.STDOUT))
    bootstrap = ",".join(f"127.0.0.1:{p}" for p in client)
    deadline = time.monotonic() + 60
    while True:
        try:
            if len(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=2).brokers) == 3:
                return procs, bootstrap
        except Exception:
            pass
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            sys.exit(f"cluster {name} did not start; see {work}/{name}-*.log")
        time.sleep(0.3)


def phase(bootstrap: str, pids: list[int], n: int, size: int, topic: str) -> dict:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 3, 3)])[topic].result(30)
    deadline = time.monotonic() + 30
    while True:  # every replica in the ISR before the clock starts
        t = admin.list_topics(topic, timeout=10).topics[topic]
        if len(t.partitions) == 3 and all(len(p.isrs) == 3 and p.leader >= 0 for p in t.partitions.values()):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{topic}: replicas not in sync after 30 s")
        time.sleep(0.2)
    seconds, cpu_s = timed_produce({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                                    "batch.size": 1 << 20}, topic, n, os.urandom(size), pids)
    return {"produce_rps": n / seconds, "cluster_cpu_per_m": cpu_s / n * 1e6}


def main() -> None:
    args = arguments().parse_args()
    work, certs = workdir_with_certs("internode")
    clusters = {}
    try:
        clusters["plaintext"] = start_cluster(work, "plaintext", args.tern_bin, None)
        clusters["secured"] = start_cluster(work, "secured", args.tern_bin, certs)
        results = rounds(list(clusters), args.rounds, lambda k, r: phase(
            clusters[k][1], [p.pid for p in clusters[k][0]], args.records, args.size, f"bench-{r}"))
    finally:
        for procs, _ in clusters.values():
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)
    med = medians(results)
    base = med["plaintext"]
    print(f"\n{args.records:,} records of {args.size} B, acks=all, RF 3, {args.rounds} rounds, medians; "
          "ratio to plaintext between the nodes")
    print("| between the nodes | produce rec/s | cluster CPU-s per M records |")
    print("|---|---|---|")
    for k, m in med.items():
        print(f"| {k} | {m['produce_rps']:,.0f} ({m['produce_rps'] / base['produce_rps']:.2f}) "
              f"| {m['cluster_cpu_per_m']:.3f} ({m['cluster_cpu_per_m'] / base['cluster_cpu_per_m']:.2f}) |")
    write_json("internode", args=vars(args), medians=med, rounds=results)


if __name__ == "__main__":
    main()
