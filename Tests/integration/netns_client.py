"""The client half of test_netns.py, run inside one of its network namespaces (`ip netns exec NS
python netns_client.py COMMAND ARGS...`); prints its result as JSON on stdout."""

from __future__ import annotations

import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def ready(bootstrap: str, brokers: str) -> object:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if len(admin.list_topics(timeout=5).brokers) == int(brokers):
                return True
        except KafkaException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"fewer than {brokers} brokers registered after 60 s")


def create(bootstrap: str, topic: str) -> object:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 3, config={"min.insync.replicas": "2"})])[topic].result(30)
    return True


def describe(bootstrap: str, topic: str) -> object:
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    p = md.topics[topic].partitions[0]
    return {"leader": p.leader, "replicas": p.replicas, "isr": sorted(p.isrs), "controller": md.controller_id}


def produce(bootstrap: str, topic: str, prefix: str, start: str, count: str, timeout_ms: str) -> object:
    acked: list[str] = []

    def done(err, msg):
        if err is None:
            acked.append(msg.value().decode())

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                  "message.timeout.ms": int(timeout_ms), "linger.ms": 5})
    for i in range(int(start), int(start) + int(count)):
        p.produce(topic, value=f"{prefix}{i}".encode(), on_delivery=done)
        p.poll(0)
    p.flush(int(timeout_ms) / 1000 + 10)
    return acked


def consume(bootstrap: str, topic: str, expected: str) -> object:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"netns-{time.time()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False, "isolation.level": "read_uncommitted"})
    c.assign([TopicPartition(topic, 0, 0)])
    got: list[str] = []
    deadline = time.monotonic() + 60
    while len(got) < int(expected) and time.monotonic() < deadline:
        got.extend(m.value().decode() for m in c.consume(500, 1) if not m.error())
    # Anything past what is expected would show here too.
    got.extend(m.value().decode() for m in c.consume(500, 2) if not m.error())
    c.close()
    return got


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    print(json.dumps({"ready": ready, "create": create, "describe": describe, "produce": produce,
                      "consume": consume}[command](*args)))
