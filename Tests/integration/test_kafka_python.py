"""kafka-python 3.x (pure Python, negotiates versions per API) against a real tern broker."""

from __future__ import annotations

import os
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import MessageSizeTooLargeError

from support import (
    Rec,
    assert_keys_stick_to_one_partition,
    assert_read_back_in_send_order,
    assert_stored_compressed,
    unique_topic,
)

CODECS = ["gzip", "snappy", "lz4", "zstd"]


def create_topic(bootstrap: str, topic: str, partitions: int, configs: dict[str, str] | None = None) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics({topic: {"num_partitions": partitions, "replication_factor": 1,
                                     "configs": configs or {}}}, wait_for_metadata=True)
    finally:
        admin.close()


def send_all(bootstrap: str, topic: str, records: list[tuple], **config) -> list[tuple[int, int]]:
    """Sends (key, value[, headers]) and returns each record's acknowledged (partition, offset)."""
    producer = KafkaProducer(**{"bootstrap_servers": bootstrap, "linger_ms": 5, **config})
    try:
        futures = [producer.send(topic, key=key, value=value, headers=list(headers[0]) if headers else None)
                   for key, value, *headers in records]
        producer.flush(timeout=60)
        return [(meta.partition, meta.offset) for meta in (f.get(timeout=1) for f in futures)]
    finally:
        producer.close(timeout=10)


def read_all(bootstrap: str, topic: str, partitions: int, expected: int, timeout_s: float = 60,
             **config) -> dict[int, list[Rec]]:
    """Reads `expected` records from offset 0 of every partition, then checks nothing more is there."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                             enable_auto_commit=False, **config)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        out: dict[int, list[Rec]] = {p: [] for p in range(partitions)}
        count = 0
        deadline = time.monotonic() + timeout_s
        while count < expected:
            assert time.monotonic() < deadline, f"read {count} of {expected} records within {timeout_s} s"
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    out[tp.partition].append(Rec(r.partition, r.offset, r.key, r.value, tuple(r.headers or ())))
                    count += 1
        # ListOffsets(latest) must be the log end offset: one past the last record of each partition.
        assert consumer.beginning_offsets(tps) == {tp: 0 for tp in tps}
        ends = {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
        assert ends == {p: len(recs) for p, recs in out.items()}, "end offsets vs records read per partition"
        return out
    finally:
        consumer.close()


def test_kafka_python_10000_keyed_messages_read_back_in_send_order_per_partition(shared_broker):
    topic = unique_topic("kp-keyed")
    create_topic(shared_broker.bootstrap, topic, 3)
    sent = [(f"k{i % 50}".encode(), f"v{i}".encode()) for i in range(10_000)]

    acked = send_all(shared_broker.bootstrap, topic, sent)
    got = read_all(shared_broker.bootstrap, topic, 3, expected=len(sent))

    assert_read_back_in_send_order(sent, acked, got)
    assert_keys_stick_to_one_partition(got)
    assert all(got[p] for p in range(3)), "50 keys should have landed in all 3 partitions"


def test_kafka_python_headers_null_key_and_empty_versus_null_value_round_trip(shared_broker):
    topic = unique_topic("kp-shapes")
    create_topic(shared_broker.bootstrap, topic, 1)
    headers = [("trace-id", b"abc123"), ("empty", b""), ("trace-id", b"second value, same key")]
    sent = [
        (None, b"no key"),
        (b"empty-value", b""),
        (b"null-value", None),
        (b"with-headers", b"payload", headers),
    ]

    send_all(shared_broker.bootstrap, topic, sent)
    got = read_all(shared_broker.bootstrap, topic, 1, expected=len(sent))[0]

    assert got == [
        Rec(0, 0, None, b"no key"),
        Rec(0, 1, b"empty-value", b""),
        Rec(0, 2, b"null-value", None),
        Rec(0, 3, b"with-headers", b"payload", tuple(headers)),
    ]


def test_kafka_python_1mib_value_round_trips_when_topic_max_message_bytes_is_raised(shared_broker):
    topic = unique_topic("kp-big")
    create_topic(shared_broker.bootstrap, topic, 1, {"max.message.bytes": "2000000"})
    big = os.urandom(1 << 20)

    acked = send_all(shared_broker.bootstrap, topic, [(b"big", big), (b"after", b"small")],
                     max_request_size=2_000_000)
    got = read_all(shared_broker.bootstrap, topic, 1, expected=2)[0]

    assert acked == [(0, 0), (0, 1)]
    assert [(r.key, len(r.value)) for r in got] == [(b"big", len(big)), (b"after", 5)]
    assert got[0].value == big, "1 MiB value came back with different bytes"


def test_kafka_python_1mib_value_is_rejected_as_too_large_by_default_topic_limit(shared_broker):
    topic = unique_topic("kp-too-big")
    create_topic(shared_broker.bootstrap, topic, 1)  # default max.message.bytes 1048588 < 1 MiB + overhead

    with pytest.raises(MessageSizeTooLargeError):
        send_all(shared_broker.bootstrap, topic, [(b"big", os.urandom(1 << 20))], max_request_size=2_000_000)

    acked = send_all(shared_broker.bootstrap, topic, [(b"small", b"fits")])
    assert acked == [(0, 0)], "the rejected record must not have used an offset"


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_compressed_batches_round_trip_and_are_stored_compressed(shared_broker, codec):
    topic = unique_topic(f"kp-{codec}")
    create_topic(shared_broker.bootstrap, topic, 3)
    sent = [(f"k{i % 7}".encode(), f"{i:06d}".encode() + b"x" * 500) for i in range(2_000)]

    acked = send_all(shared_broker.bootstrap, topic, sent, compression_type=codec, linger_ms=50)
    got = read_all(shared_broker.bootstrap, topic, 3, expected=len(sent))

    assert_read_back_in_send_order(sent, acked, got)
    assert_stored_compressed(shared_broker.log_dir, topic, sum(len(v) for _, v in sent), codec)
