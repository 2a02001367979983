"""Client-side helpers shared by the integration tests (confluent-kafka unless named otherwise)."""

from __future__ import annotations

import socket
import struct
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


@dataclass(frozen=True)
class Rec:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple = ()


def unique_topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(condition, timeout_s: float = 15, interval_s: float = 0.1, what: str = "condition"):
    """Polls `condition()` until it returns something truthy; returns that value."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def wait_until(predicate, timeout: float, what: str, interval_s: float = 0.2):
    """Like wait_for, for clusters: an exception (a node down mid-way, a tool failing while
    leadership moves) counts as "not yet". Returns the first truthy value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:
            last = e
        time.sleep(interval_s)
    raise AssertionError(f"{what} not reached within {timeout} s (last: {last})")


def topic_errors_on(host: str, port: int, topics: list[str], timeout_s: float = 5) -> dict[str, int]:
    """Asks one node alone (no client library picks another) for `topics` with Metadata v1 and
    returns each topic's error code as that node answers: 0 once its metadata image names it."""
    def string(s: str) -> bytes:
        b = s.encode()
        return struct.pack(">h", len(b)) + b
    body = struct.pack(">hhi", 3, 1, 1) + string("topic-errors-on") + struct.pack(">i", len(topics))
    body += b"".join(string(t) for t in topics)
    with socket.create_connection((host, port), timeout=timeout_s) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack_from(">i", data)[0]:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError(f"{host}:{port} closed the connection mid-answer")
            data += chunk
    o = 8  # size, correlation id
    (brokers,) = struct.unpack_from(">i", data, o)
    o += 4
    for _ in range(brokers):  # node id, host, port, rack (nullable)
        (n,) = struct.unpack_from(">h", data, o + 4)
        o += 4 + 2 + n + 4
        (n,) = struct.unpack_from(">h", data, o)
        o += 2 + max(n, 0)
    o += 4  # controller id
    (count,) = struct.unpack_from(">i", data, o)
    o += 4
    out: dict[str, int] = {}
    for _ in range(count):
        err, n = struct.unpack_from(">hh", data, o)
        name = data[o + 4:o + 4 + n].decode()
        o += 4 + n + 1  # is_internal
        (parts,) = struct.unpack_from(">i", data, o)
        o += 4
        for _ in range(max(parts, 0)):  # error, index, leader, replicas[], isr[]
            o += 2 + 4 + 4
            for _ in range(2):
                (k,) = struct.unpack_from(">i", data, o)
                o += 4 + 4 * max(k, 0)
        out[name] = err
    return out


def known_everywhere(admin, topics: list[str], timeout_s: float = 30) -> None:
    """Waits until every broker the cluster lists names `topics` in its own Metadata answers. A
    CreateTopics answer means the controller committed them; each node learns that a few
    milliseconds later, as in Kafka, and a tool asking that node first would be told
    UNKNOWN_TOPIC_OR_PARTITION."""
    def named_everywhere() -> bool:
        brokers = admin.list_topics(timeout=10).brokers.values()
        return all(set(topic_errors_on(b.host, b.port, topics).values()) == {0} for b in brokers)
    wait_until(named_everywhere, timeout_s, f"every node names {topics}", interval_s=0.01)


def create_topic(bootstrap: str, topic: str, partitions: int, config: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1,
                                            config=config or {})], operation_timeout=10)
    futures[topic].result(timeout=30)
    wait_for(lambda: partition_count(bootstrap, topic) == partitions, what=f"metadata of new topic {topic}")


def partition_count(bootstrap: str, topic: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    md = admin.list_topics(timeout=10)
    meta = md.topics.get(topic)
    if meta is None or meta.error is not None:
        return 0
    return len(meta.partitions)


def produce(bootstrap: str, topic: str, records, **config) -> list[tuple[int, int]]:
    """Sends (key, value[, headers]) tuples and waits; every one must be acknowledged.

    Returns (partition, offset) per record, in send order.
    """
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **config})
    results: list = []
    for i, (key, value, *headers) in enumerate(records):
        extra = {"headers": headers[0]} if headers else {}
        results.append(None)

        def on_delivery(err, msg, i=i):
            results[i] = err if err is not None else (msg.partition(), msg.offset())

        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery, **extra)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(60)
    assert remaining == 0, f"{remaining} messages still unacknowledged after 60 s"
    errors = [r for r in results if not isinstance(r, tuple)]
    assert not errors, f"{len(errors)} of {len(results)} deliveries failed, first: {errors[0]}"
    return results


def consume_all(bootstrap: str, topic: str, timeout_s: float = 60, **config) -> dict[int, list[Rec]]:
    """Reads every partition of `topic` from offset 0 up to its high watermark, without a group.

    `group.id` is only required by the client; offsets are assigned explicitly and never committed.
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "tern-it-reader",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "auto.offset.reset": "earliest", **config})
    try:
        md = consumer.list_topics(topic, timeout=10)
        partitions = sorted(md.topics[topic].partitions)
        assert partitions, f"topic {topic} has no partitions"
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        out: dict[int, list[Rec]] = {p: [] for p in partitions}
        at_end: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while len(at_end) < len(partitions):
            assert time.monotonic() < deadline, (
                f"reading {topic}: partitions {sorted(set(partitions) - at_end)} never reached their end "
                f"within {timeout_s} s; got {[len(v) for v in out.values()]} records so far")
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(msg.partition())
                    continue
                raise AssertionError(f"consumer error on {topic}: {msg.error()}")
            at_end.discard(msg.partition())
            out[msg.partition()].append(Rec(msg.partition(), msg.offset(), msg.key(), msg.value(),
                                            tuple(msg.headers() or ())))
        return out
    finally:
        consumer.close()


def assert_dense(records: dict[int, list[Rec]]) -> None:
    """Offsets of each partition run 0, 1, 2, ... with no gap and no repeat."""
    for partition, recs in records.items():
        offsets = [r.offset for r in recs]
        assert offsets == list(range(len(offsets))), (
            f"partition {partition}: offsets not dense from 0; first break near "
            f"{next((i, o) for i, o in enumerate(offsets + [None]) if o != i)}")


def assert_keys_stick_to_one_partition(records: dict[int, list[Rec]]) -> None:
    partitions_of_key = defaultdict(set)
    for recs in records.values():
        for r in recs:
            partitions_of_key[r.key].add(r.partition)
    split = {k: p for k, p in partitions_of_key.items() if len(p) > 1}
    assert not split, f"keys found in more than one partition: {split}"


def stored_log_bytes(log_dir: Path, topic: str) -> int:
    """Bytes of record-batch data (.log segments) the broker keeps for `topic` on disk."""
    files = list(log_dir.glob(f"{topic}-*/*.log"))
    assert files, f"no segment files under {log_dir}/{topic}-*/ (is the on-disk layout Kafka's?)"
    return sum(f.stat().st_size for f in files)


def assert_stored_compressed(log_dir: Path, topic: str, raw_bytes: int, codec: str) -> None:
    """The batches on disk are much smaller than the raw values: the client really compressed them
    and the broker kept them as sent. Clients fall back to no compression without saying so."""
    stored = stored_log_bytes(log_dir, topic)
    assert stored < raw_bytes / 4, (
        f"{codec}: {stored} bytes on disk for {raw_bytes} raw bytes, so batches were sent or stored "
        f"uncompressed. librdkafka drops compression unless the broker advertises Produce from v0, "
        f"drops lz4 unless it advertises FindCoordinator, and zstd unless Produce >= 7 and Fetch >= 10")


def first_difference(expected: list, actual: list) -> str | None:
    """Where two long lists first differ, as a short message (pytest's own diff of 10,000 items is slow)."""
    for i, (e, a) in enumerate(zip(expected, actual)):
        if e != a:
            return f"first difference at index {i}: expected {e!r}, got {a!r}"
    if len(expected) != len(actual):
        return f"expected {len(expected)} items, got {len(actual)}"
    return None


def assert_read_back_in_send_order(sent: list[tuple], acked: list[tuple[int, int]],
                                   got: dict[int, list[Rec]]) -> None:
    """Each partition holds exactly the records sent to it, in send order, at the acknowledged offsets.

    sent: (key, value) per record in send order; acked: (partition, offset) for each of them.
    """
    assert len(sent) == len(acked)
    expected: dict[int, list] = defaultdict(list)
    for (key, value, *_), (partition, offset) in zip(sent, acked):
        expected[partition].append((offset, key, value))
    for partition in sorted(set(expected) | set(got)):
        want = expected.get(partition, [])
        have = [(r.offset, r.key, r.value) for r in got.get(partition, [])]
        diff = first_difference(want, have)
        assert diff is None, f"partition {partition}: {diff}"
    assert_dense(got)
