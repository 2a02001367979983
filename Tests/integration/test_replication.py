"""Replication under failure: acks=all writes survive repeated kill -9 of partition leaders.

Three nodes, a topic with 3 partitions, replication factor 3 and min.insync.replicas=2. A
confluent-kafka producer (acks=all, idempotent) sends numbered records without pause while the
test kills -9 a partition leader, waits for the new leader, restarts the old one, and repeats
against each broker. Afterwards every acknowledged record must be present exactly once, in
send order, in its partition."""

from __future__ import annotations

import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "lab"
KILLS = 6
FAILOVER_LIMIT_S = 9.0 + 5.0  # broker.session.timeout.ms + 5 s


def partition_leaders(admin) -> dict[int, tuple[int, list[int]]]:
    md = admin.list_topics(TOPIC, timeout=10)
    return {p.id: (p.leader, list(p.isrs)) for p in md.topics[TOPIC].partitions.values()}


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # a node may be down mid-way; keep asking the others
            last = e
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout} s (last: {last})")


def test_acknowledged_writes_survive_repeated_leader_kills(cluster_factory):
    nodes = cluster_factory(3)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(TOPIC, 3, 3, config={"min.insync.replicas": "2"})]).values():
        f.result(20)
    wait_until(lambda: all(len(isr) == 3 for _, isr in partition_leaders(admin).values()), 20, "full ISR")

    acked: dict[int, list[tuple[int, int]]] = {0: [], 1: [], 2: []}  # partition -> (offset, value)
    ack_times: list[float] = []
    errors: list[str] = []
    stop = threading.Event()

    def produce():
        p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5,
                      "message.timeout.ms": 60000, "retry.backoff.ms": 100})

        def on_delivery(err, msg):
            if err is None:
                acked[msg.partition()].append((msg.offset(), int(msg.value())))
                ack_times.append(time.monotonic())
            else:
                errors.append(str(err))

        i = 0
        while not stop.is_set():
            try:
                p.produce(TOPIC, value=str(i).encode(), partition=i % 3, on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            p.poll(0.0005 if i % 20 else 0.002)
        p.flush(90)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    time.sleep(2)

    failovers = []
    for round_ in range(KILLS):
        partition = round_ % 3
        leaders = partition_leaders(admin)
        victim_id = leaders[partition][0]
        victim = nodes[victim_id]
        led = [p for p, (leader, _) in leaders.items() if leader == victim_id]
        victim.kill9()
        killed = time.monotonic()
        others = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes if n is not victim)})
        wait_until(lambda: all(partition_leaders(others)[p][0] not in (victim_id, -1) for p in led), FAILOVER_LIMIT_S + 5,
                   f"new leaders for {led} after killing broker {victim_id}")
        failovers.append(time.monotonic() - killed)
        victim.start()
        wait_until(lambda: all(len(isr) == 3 for _, isr in partition_leaders(others).values()), 30,
                   f"broker {victim_id} back in every ISR")
        time.sleep(1)

    stop.set()
    producer.join(120)
    assert not producer.is_alive()
    gaps = [b - a for a, b in zip(ack_times, ack_times[1:])]
    total_acked = sum(len(v) for v in acked.values())
    print(f"kills: {KILLS}, kill-to-new-leader seconds: {[round(f, 1) for f in failovers]}, "
          f"records acknowledged: {total_acked}, longest producer stall: {max(gaps):.1f} s, "
          f"delivery errors: {len(errors)}")
    assert total_acked > 1000
    assert all(f < FAILOVER_LIMIT_S for f in failovers), failovers

    # Read every partition back from the beginning to its end.
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "checker", "enable.auto.commit": False})
    ends = {}
    for p in range(3):
        _, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
        ends[p] = high
    consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(3)])
    seen: dict[int, list[tuple[int, int]]] = {0: [], 1: [], 2: []}
    deadline = time.monotonic() + 60
    while any((seen[p][-1][0] + 1 if seen[p] else 0) < ends[p] for p in range(3)) and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and m.error() is None:
            seen[m.partition()].append((m.offset(), int(m.value())))
    consumer.close()

    for p in range(3):
        offsets = [o for o, _ in seen[p]]
        assert offsets == list(range(ends[p])), f"partition {p}: offsets not dense"
        values = [v for _, v in seen[p]]
        assert len(values) == len(set(values)), f"partition {p}: a record appears twice"
        assert values == sorted(values), f"partition {p}: records out of send order"
        stored = dict(seen[p])
        for offset, value in acked[p]:
            assert stored.get(offset) == value, f"partition {p}: acknowledged record {value} at offset {offset} lost"
