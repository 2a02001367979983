"""confluent-kafka (librdkafka 2.x, flexible protocol versions) against a real tern broker."""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from support import (
    Rec,
    assert_keys_stick_to_one_partition,
    assert_read_back_in_send_order,
    assert_stored_compressed,
    consume_all,
    create_topic,
    partition_count,
    produce,
    unique_topic,
    wait_for,
)

CODECS = ["gzip", "snappy", "lz4", "zstd"]


def test_confluent_10000_keyed_messages_read_back_in_send_order_per_partition(shared_broker):
    topic = unique_topic("ck-keyed")
    create_topic(shared_broker.bootstrap, topic, 3)
    sent = [(f"k{i % 50}".encode(), f"v{i}".encode()) for i in range(10_000)]

    acked = produce(shared_broker.bootstrap, topic, sent)
    got = consume_all(shared_broker.bootstrap, topic)

    assert_read_back_in_send_order(sent, acked, got)
    assert_keys_stick_to_one_partition(got)
    assert all(got[p] for p in range(3)), "50 keys should have landed in all 3 partitions"


def test_confluent_headers_null_key_and_empty_versus_null_value_round_trip(shared_broker):
    topic = unique_topic("ck-shapes")
    create_topic(shared_broker.bootstrap, topic, 1)
    headers = [("trace-id", b"abc123"), ("empty", b""), ("null", None), ("trace-id", b"second")]
    sent = [(None, b"no key"), (b"empty-value", b""), (b"null-value", None), (b"with-headers", b"payload", headers)]
    produce(shared_broker.bootstrap, topic, sent)

    got = consume_all(shared_broker.bootstrap, topic)[0]

    assert got == [
        Rec(0, 0, None, b"no key"),
        Rec(0, 1, b"empty-value", b""),
        Rec(0, 2, b"null-value", None),
        Rec(0, 3, b"with-headers", b"payload", tuple(headers)),
    ]


def test_confluent_1mib_value_round_trips_when_broker_message_max_bytes_is_raised(broker_factory):
    broker = broker_factory(message_max_bytes=2_000_000)
    topic = unique_topic("ck-big")
    create_topic(broker.bootstrap, topic, 1)
    big = os.urandom(1 << 20)

    acked = produce(broker.bootstrap, topic, [(b"big", big), (b"after", b"small")], **{"message.max.bytes": 2_000_000})
    got = consume_all(broker.bootstrap, topic)[0]

    assert acked == [(0, 0), (0, 1)]
    assert [(r.key, len(r.value)) for r in got] == [(b"big", len(big)), (b"after", 5)]
    assert got[0].value == big, "1 MiB value came back with different bytes"


@pytest.mark.parametrize("codec", CODECS)
def test_confluent_compressed_batches_round_trip_and_are_stored_compressed(shared_broker, codec):
    # librdkafka silently sends uncompressed batches when the broker's Produce range looks too old;
    # the size on disk shows whether compression really happened.
    topic = unique_topic(f"ck-{codec}")
    create_topic(shared_broker.bootstrap, topic, 3)
    sent = [(f"k{i % 7}".encode(), f"{i:06d}".encode() + b"x" * 500) for i in range(2_000)]

    acked = produce(shared_broker.bootstrap, topic, sent, **{"compression.type": codec, "linger.ms": 50})
    got = consume_all(shared_broker.bootstrap, topic)

    assert_read_back_in_send_order(sent, acked, got)
    assert_stored_compressed(shared_broker.log_dir, topic, sum(len(v) for _, v in sent), codec)


def stored_codecs(log_dir, topic: str) -> set[int]:
    """The compression codec of every batch in the topic's segments, read off the batch headers
    (attributes' low 3 bits, at byte 21 of a batch)."""
    import struct

    codecs = set()
    for segment in log_dir.glob(f"{topic}-*/*.log"):
        data = segment.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            (length,) = struct.unpack_from(">i", data, pos + 8)
            (attributes,) = struct.unpack_from(">h", data, pos + 21)
            codecs.add(attributes & 0x07)
            pos += 12 + length
    return codecs


@pytest.mark.parametrize("codec", ["uncompressed"] + CODECS)
def test_a_topics_compression_type_decides_how_batches_are_stored(shared_broker, codec):
    """compression.type on a topic other than "producer": the leader stores every batch in that
    codec, recompressing what producers sent otherwise (here uncompressed, or lz4 to an
    uncompressed topic), as Kafka does; librdkafka and kafka-python read the records back."""
    from kafka import KafkaConsumer

    topic = unique_topic(f"tc-{codec}")
    create_topic(shared_broker.bootstrap, topic, 1, config={"compression.type": codec})
    sent = [(f"k{i % 7}".encode(), f"{i:06d}".encode() + b"x" * 500) for i in range(1_000)]
    producer_codec = "lz4" if codec == "uncompressed" else "none"
    acked = produce(shared_broker.bootstrap, topic, sent, **{"compression.type": producer_codec, "linger.ms": 50})
    got = consume_all(shared_broker.bootstrap, topic)
    assert_read_back_in_send_order(sent, acked, got)
    expected = {"uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}[codec]
    assert stored_codecs(shared_broker.log_dir, topic) == {expected}
    if codec != "uncompressed":
        assert_stored_compressed(shared_broker.log_dir, topic, sum(len(v) for _, v in sent), codec)
    consumer = KafkaConsumer(topic, bootstrap_servers=shared_broker.bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=5_000)
    values = [m.value for m in consumer]
    consumer.close()
    assert values == [v for _, v in sent]


@pytest.mark.parametrize("fallback,codec", [("0.9.0", "none"), ("0.9.0", "gzip"), ("0.10.0.0", "none"),
                                            ("0.10.0.0", "snappy")])
def test_old_message_formats_are_converted_on_the_way_in(shared_broker, fallback, codec):
    """A producer that does not ask for API versions and assumes an old broker
    (api.version.request=false, broker.version.fallback 0.9 or 0.10.0) sends Produce v1/v2 with
    magic 0/1 message sets, plain or compressed: Tern converts them to v2 batches as Kafka 3.x
    does (librdkafka's 0052 test). Magic 0 has no timestamps (-1 on CreateTime topics, the
    broker's time on LogAppendTime ones); magic 1 keeps the producer's."""
    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, Producer

    wanted = 1_600_000_000_000
    for ts_type in ("CreateTime", "LogAppendTime"):
        topic = unique_topic(f"legacy-{fallback}-{codec}-{ts_type}")
        create_topic(shared_broker.bootstrap, topic, 1, config={"message.timestamp.type": ts_type})
        p = Producer({"bootstrap.servers": shared_broker.bootstrap, "api.version.request": False,
                      "broker.version.fallback": fallback, "enable.idempotence": False,
                      "compression.codec": codec, "batch.num.messages": 7})
        errors = []
        # Values that compress well: librdkafka sends a batch uncompressed when compressing would
        # not make it smaller.
        for i in range(20):
            p.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode() * 100, partition=0, timestamp=wanted,
                      on_delivery=lambda err, msg: errors.append(err))
        assert p.flush(20) == 0
        assert errors == [None] * 20, errors
        before = int(time.time() * 1000)
        c = Consumer({"bootstrap.servers": shared_broker.bootstrap, "group.id": topic,
                      "auto.offset.reset": "earliest"})
        c.subscribe([topic])
        got = []
        deadline = time.time() + 30
        while len(got) < 20 and time.time() < deadline:
            m = c.poll(1)
            if m is not None and m.error() is None:
                got.append(m)
        c.close()
        assert [m.value() for m in got] == [f"v{i}".encode() * 100 for i in range(20)]
        assert [m.key() for m in got] == [f"k{i}".encode() for i in range(20)]
        stamps = {m.timestamp() for m in got}
        if ts_type == "LogAppendTime":
            assert {t for t, _ in stamps} == {TIMESTAMP_LOG_APPEND_TIME}
            assert all(before - 600_000 < ms <= before for _, ms in stamps), stamps
        elif fallback == "0.9.0":
            assert {ms for _, ms in stamps} == {-1}, stamps
        else:
            assert {ms for _, ms in stamps} == {wanted}, stamps
        if codec != "none":
            assert stored_codecs(shared_broker.log_dir, topic) == {{"gzip": 1, "snappy": 2}[codec]}


def test_confluent_idempotent_producer_delivers_10000_messages_exactly_once_in_order(shared_broker):
    topic = unique_topic("ck-idempotent")
    create_topic(shared_broker.bootstrap, topic, 3)
    sent = [(f"k{i % 50}".encode(), f"v{i}".encode()) for i in range(10_000)]

    acked = produce(shared_broker.bootstrap, topic, sent, **{"enable.idempotence": True})
    got = consume_all(shared_broker.bootstrap, topic)

    copies = Counter(r.value for recs in got.values() for r in recs)
    duplicated = [v for v, n in copies.items() if n > 1]
    assert not duplicated, f"{len(duplicated)} values stored more than once, e.g. {duplicated[:3]}"
    assert set(copies) == {v for _, v in sent}
    assert_read_back_in_send_order(sent, acked, got)


def test_confluent_admin_creates_lists_and_deletes_topics(shared_broker):
    admin = AdminClient({"bootstrap.servers": shared_broker.bootstrap})
    topic = unique_topic("ck-admin")

    admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])[topic].result(timeout=30)
    wait_for(lambda: partition_count(shared_broker.bootstrap, topic) == 4, what=f"{topic} in metadata")

    meta = admin.list_topics(timeout=10)
    partitions = meta.topics[topic].partitions
    assert sorted(partitions) == [0, 1, 2, 3]
    for p in partitions.values():
        assert (p.leader, list(p.replicas), list(p.isrs)) == (0, [0], [0]), f"partition {p.id}"
    assert [b.id for b in meta.brokers.values()] == [0]
    assert meta.brokers[0].port == shared_broker.port

    with pytest.raises(KafkaException) as again:
        admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])[topic].result(timeout=30)
    assert again.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    admin.delete_topics([topic], operation_timeout=10)[topic].result(timeout=30)
    wait_for(lambda: topic not in admin.list_topics(timeout=10).topics, what=f"{topic} gone from metadata")


def test_log_append_time_topics_stamp_the_brokers_time(broker):
    """`message.timestamp.type=LogAppendTime`: whatever time the producer gives (an hour-old one
    here, in plain and compressed batches), consumers see the time the broker appended the batch,
    marked as LOG_APPEND_TIME; the delivery report carries it too (Produce's log_append_time_ms).
    A CreateTime topic keeps the producer's time."""
    import time

    from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, Consumer, Producer
    from kafka import KafkaConsumer

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.create_topics([NewTopic("stamped", 1, 1, config={"message.timestamp.type": "LogAppendTime"}),
                                  NewTopic("kept", 1, 1)]).values():
        f.result(15)
    old = int(time.time() * 1000) - 3_600_000
    before = int(time.time() * 1000)
    reports = []
    for codec in ("none", "lz4", "zstd"):
        p = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": codec, "linger.ms": 5})
        for topic in ("stamped", "kept"):
            for i in range(5):
                p.produce(topic, value=f"{codec}-{i}".encode() * 20, timestamp=old,
                          on_delivery=lambda err, msg: reports.append((err, msg.topic(), msg.timestamp())))
        assert p.flush(15) == 0
    after = int(time.time() * 1000)
    assert all(err is None for err, _, _ in reports)
    for _, topic, (kind, ts) in reports:
        if topic == "stamped":
            assert kind == TIMESTAMP_LOG_APPEND_TIME and before <= ts <= after, (kind, ts)
        else:
            assert (kind, ts) == (TIMESTAMP_CREATE_TIME, old)

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "stamps", "auto.offset.reset": "earliest"})
    c.subscribe(["stamped", "kept"])
    seen = {"stamped": [], "kept": []}
    deadline = time.monotonic() + 30
    while sum(map(len, seen.values())) < 30 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            seen[m.topic()].append(m.timestamp())
    c.close()
    assert len(seen["stamped"]) == 15 and len(seen["kept"]) == 15
    assert all(kind == TIMESTAMP_LOG_APPEND_TIME and before <= ts <= after for kind, ts in seen["stamped"])
    assert all((kind, ts) == (TIMESTAMP_CREATE_TIME, old) for kind, ts in seen["kept"])

    kc = KafkaConsumer("stamped", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest",
                       consumer_timeout_ms=5000)
    records = [r for _, r in zip(range(15), kc)]
    kc.close()
    assert len(records) == 15, "kafka-python checks each batch's CRC, recomputed after the stamp"
    assert all(r.timestamp_type == 1 and before <= r.timestamp <= after for r in records)


KAFKA_39_TOPIC_CONFIGS = {
    "cleanup.policy", "compression.gzip.level", "compression.lz4.level", "compression.type",
    "compression.zstd.level", "delete.retention.ms", "file.delete.delay.ms", "flush.messages", "flush.ms",
    "follower.replication.throttled.replicas", "index.interval.bytes", "leader.replication.throttled.replicas",
    "local.retention.bytes", "local.retention.ms", "max.compaction.lag.ms", "max.message.bytes",
    "message.downconversion.enable", "message.format.version", "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms", "message.timestamp.difference.max.ms", "message.timestamp.type",
    "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas", "preallocate",
    "remote.log.copy.disable", "remote.log.delete.on.disable", "remote.storage.enable", "retention.bytes",
    "retention.ms", "segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms",
    "unclean.leader.election.enable",
}


def test_every_kafka_topic_config_is_accepted_and_readable(broker):
    """The topic configs of Kafka 3.9 (librdkafka's tests set min.cleanable.dirty.ratio and
    message.format.version) are accepted at creation and by AlterConfigs, and DescribeConfigs
    lists every one with its value and source; a value Tern cannot honour is refused."""
    from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    set_at_creation = {"min.cleanable.dirty.ratio": "0.1", "message.format.version": "2.8",
                       "follower.replication.throttled.replicas": "*", "min.compaction.lag.ms": "1000",
                       "message.timestamp.before.max.ms": "86400000", "segment.jitter.ms": "0"}
    admin.create_topics([NewTopic("all-configs", 1, 1, config=set_at_creation)])["all-configs"].result(15)
    resource = ConfigResource(ResourceType.TOPIC, "all-configs")
    described = admin.describe_configs([resource])[resource].result(15)
    assert KAFKA_39_TOPIC_CONFIGS <= set(described), KAFKA_39_TOPIC_CONFIGS - set(described)
    for name, value in set_at_creation.items():
        assert described[name].value == value
        assert described[name].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert described["min.compaction.lag.ms"].value == "1000"
    assert described["remote.storage.enable"].value == "false"
    assert described["message.timestamp.after.max.ms"].value == str(2**63 - 1)
    assert described["max.compaction.lag.ms"].source == ConfigSource.DEFAULT_CONFIG.value

    with pytest.raises(KafkaException) as refused:
        admin.create_topics([NewTopic("tiered", 1, 1, config={"remote.storage.enable": "true"})])["tiered"].result(15)
    assert refused.value.args[0].code() == KafkaError.INVALID_CONFIG
    with pytest.raises(KafkaException) as bad_ratio:
        admin.create_topics([NewTopic("ratio", 1, 1, config={"min.cleanable.dirty.ratio": "1.5"})])["ratio"].result(15)
    assert bad_ratio.value.args[0].code() == KafkaError.INVALID_CONFIG

    # message.timestamp.before.max.ms acts: a record a week old is refused with INVALID_TIMESTAMP.
    import time

    from confluent_kafka import Producer
    errors = []
    p = Producer({"bootstrap.servers": broker.bootstrap, "message.send.max.retries": 0})
    p.produce("all-configs", b"old", timestamp=int(time.time() * 1000) - 7 * 86_400_000,
              on_delivery=lambda err, msg: errors.append(err))
    p.flush(15)  # its own batch: a batch with one record out of bounds is refused whole
    p.produce("all-configs", b"new", on_delivery=lambda err, msg: errors.append(err))
    p.flush(15)
    codes = sorted(e.code() if e else 0 for e in errors)
    assert codes == [0, KafkaError.INVALID_TIMESTAMP], errors


def test_records_a_topic_refuses_are_named_per_record(broker):
    """KIP-467: a batch to a compacted topic with records lacking a key is refused with
    INVALID_RECORD and `record_errors` naming those records, so librdkafka fails exactly them
    with INVALID_RECORD and the rest of the batch with _INVALID_DIFFERENT_RECORD (retry those);
    nothing of the batch is written."""
    from confluent_kafka import Producer

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("keyed-only", 1, 1, config={"cleanup.policy": "compact"})])["keyed-only"].result(15)
    results: dict[int, int] = {}
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 1000, "message.send.max.retries": 0})
    # The partition's leader known first: records produced before the metadata arrives wait in
    # an unassigned queue, and those that waited past linger.ms leave as a batch of their own.
    assert p.list_topics("keyed-only", timeout=10).topics["keyed-only"].partitions[0].leader == 0
    for i in range(10):
        key = None if i in (2, 5, 7) else f"k{i}".encode()
        p.produce("keyed-only", value=f"v{i}".encode(), key=key, partition=0,
                  on_delivery=lambda err, msg, i=i: results.__setitem__(i, err.code() if err else 0))
    p.flush(15)
    assert {i: results[i] for i in (2, 5, 7)} == {2: KafkaError.INVALID_RECORD, 5: KafkaError.INVALID_RECORD,
                                                   7: KafkaError.INVALID_RECORD}
    assert all(results[i] == KafkaError._INVALID_DIFFERENT_RECORD for i in range(10) if i not in (2, 5, 7)), results
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "keyed-only"})
    assert c.get_watermark_offsets(TopicPartition("keyed-only", 0), timeout=10, cached=False) == (0, 0), \
        "a refused batch writes nothing"
    c.close()


def test_list_offsets_finds_the_record_with_the_largest_timestamp(shared_broker):
    """ListOffsets v7+ (KIP-734): OffsetSpec.max_timestamp() answers the offset of the record
    with the largest timestamp, not the last one; earliest and latest as before."""
    from confluent_kafka import Producer, TopicPartition
    from confluent_kafka.admin import OffsetSpec

    topic = unique_topic("maxts")
    create_topic(shared_broker.bootstrap, topic, 1)
    p = Producer({"bootstrap.servers": shared_broker.bootstrap, "linger.ms": 0})
    for i, ts in enumerate([1_000, 5_000, 900_000, 2_000, 3_000]):
        p.produce(topic, f"v{i}".encode(), partition=0, timestamp=1_700_000_000_000 + ts)
        p.flush(10)
    admin = AdminClient({"bootstrap.servers": shared_broker.bootstrap})
    tp = TopicPartition(topic, 0)
    def offset(spec):
        return admin.list_offsets({tp: spec}).get(tp).result(20)
    found = offset(OffsetSpec.max_timestamp())
    assert (found.offset, found.timestamp) == (2, 1_700_000_900_000)
    assert offset(OffsetSpec.earliest()).offset == 0
    assert offset(OffsetSpec.latest()).offset == 5


def test_without_an_authorizer_every_operation_is_reported_as_authorized(shared_broker):
    """Admin describes that ask for authorized operations get every operation of the resource
    from a broker without an authorizer, as Kafka answers (librdkafka's 0081): 8 for a topic,
    7 for the cluster, 3 for a group."""
    from confluent_kafka import Consumer, TopicCollection

    topic = unique_topic("ops")
    create_topic(shared_broker.bootstrap, topic, 1)
    admin = AdminClient({"bootstrap.servers": shared_broker.bootstrap})
    d = admin.describe_topics(TopicCollection([topic]), include_authorized_operations=True)[topic].result(20)
    assert len(d.authorized_operations) == 8
    cluster = admin.describe_cluster(include_authorized_operations=True).result(20)
    assert len(cluster.authorized_operations) == 7
    c = Consumer({"bootstrap.servers": shared_broker.bootstrap, "group.id": topic})
    c.subscribe([topic])
    c.poll(5)
    group = admin.describe_consumer_groups([topic], include_authorized_operations=True)[topic].result(20)
    c.close()
    assert len(group.authorized_operations) == 3
