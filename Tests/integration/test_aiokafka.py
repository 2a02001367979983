"""aiokafka 0.14 (asyncio, no consumer group) against a real tern broker.

Topics here are auto-created by the producer's first Metadata request, with the broker's
num.partitions (3).
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from support import Rec, assert_keys_stick_to_one_partition, assert_read_back_in_send_order, unique_topic


async def send_all(bootstrap: str, topic: str, records: list[tuple], **config) -> list[tuple[int, int]]:
    producer = AIOKafkaProducer(**{"bootstrap_servers": bootstrap, "linger_ms": 5, **config})
    await producer.start()
    try:
        assert await producer.partitions_for(topic) == {0, 1, 2}, "auto-created topic should get num.partitions=3"
        futures = [await producer.send(topic, key=key, value=value, headers=headers[0] if headers else None)
                   for key, value, *headers in records]
        return [(meta.partition, meta.offset) for meta in await asyncio.gather(*futures)]
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 60) -> dict[int, list[Rec]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: dict[int, list[Rec]] = {p: [] for p in range(3)}
        count = 0
        deadline = time.monotonic() + timeout_s
        while count < expected:
            assert time.monotonic() < deadline, f"read {count} of {expected} records within {timeout_s} s"
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for r in records:
                    out[tp.partition].append(Rec(r.partition, r.offset, r.key, r.value, tuple(r.headers)))
                    count += 1
        ends = {tp.partition: offset for tp, offset in (await consumer.end_offsets(tps)).items()}
        assert ends == {p: len(recs) for p, recs in out.items()}, "end offsets vs records read per partition"
        return out
    finally:
        await consumer.stop()


def test_aiokafka_10000_keyed_lz4_messages_round_trip_in_send_order_per_partition(shared_broker):
    topic = unique_topic("aio-keyed")
    sent = [(f"k{i % 50}".encode(), f"v{i}".encode()) for i in range(10_000)]

    acked = asyncio.run(send_all(shared_broker.bootstrap, topic, sent, compression_type="lz4"))
    got = asyncio.run(read_all(shared_broker.bootstrap, topic, expected=len(sent)))

    assert_read_back_in_send_order(sent, acked, got)
    assert_keys_stick_to_one_partition(got)
    assert all(got[p] for p in range(3)), "50 keys should have landed in all 3 partitions"


def test_aiokafka_headers_null_key_and_empty_versus_null_value_round_trip(shared_broker):
    topic = unique_topic("aio-shapes")
    headers = [("trace-id", b"abc123"), ("empty", b"")]
    # One key for the first four, so they share a partition in send order; the keyless one goes last.
    sent = [(b"same", b"first"), (b"same", b""), (b"same", None), (b"same", b"last", headers), (None, b"no key")]

    acked = asyncio.run(send_all(shared_broker.bootstrap, topic, sent))
    got = asyncio.run(read_all(shared_broker.bootstrap, topic, expected=len(sent)))

    partition = acked[0][0]
    assert got[partition][:4] == [
        Rec(partition, 0, b"same", b"first"),
        Rec(partition, 1, b"same", b""),
        Rec(partition, 2, b"same", None),
        Rec(partition, 3, b"same", b"last", tuple(headers)),
    ]
    keyless = [r for recs in got.values() for r in recs if r.key is None]
    assert [(r.partition, r.offset, r.value) for r in keyless] == [(*acked[4], b"no key")]
