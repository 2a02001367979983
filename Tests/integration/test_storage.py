"""The storage engine under real clients and real processes: segments roll by size and time,
retention by time and size and DeleteRecords move the log start, compaction keeps the last value
per key, a deleted index is rebuilt, a torn or damaged segment is cut at the damage (a lone
replica reports it; a follower fetches it again from the leader), and 1,000 partitions reopen
after a clean shutdown without a scan."""

from __future__ import annotations

import os
import random
import re
import struct
import subprocess
import time
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from conftest import REPO
from support import consume_all, create_topic, produce, unique_topic, wait_for, wait_until

FAST_MAINTENANCE = {"log.retention.check.interval.ms": "300", "log.cleaner.backoff.ms": "300"}


def segments(log_dir: Path, topic: str, partition: int = 0) -> list[Path]:
    return sorted((log_dir / f"{topic}-{partition}").glob("*.log"))


def batches(path: Path) -> list[tuple[int, int, int]]:
    """(file position, base offset, size) of each batch in a segment file."""
    data = path.read_bytes()
    out, pos = [], 0
    while pos + 12 <= len(data):
        base, length = struct.unpack(">qi", data[pos:pos + 12])
        out.append((pos, base, length + 12))
        pos += length + 12
    return out


def watermarks(bootstrap: str, topic: str, partition: int = 0) -> tuple[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "tern-it-watermarks"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        c.close()


def set_topic_config(bootstrap: str, topic: str, **configs: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry(k.replace("_", "."), v, incremental_operation=AlterConfigOpType.SET) for k, v in configs.items()])
    for f in admin.incremental_alter_configs([resource]).values():
        f.result(timeout=20)


def values_from(bootstrap: str, topic: str) -> list[tuple[int, bytes | None, bytes | None]]:
    return [(r.offset, r.key, r.value) for r in consume_all(bootstrap, topic)[0]]


def test_segments_roll_by_size_and_time_and_retention_moves_the_log_start(broker_factory):
    broker = broker_factory(extra=FAST_MAINTENANCE)
    b = broker.bootstrap
    topic = unique_topic("retention")
    create_topic(b, topic, 1, {"segment.bytes": "2048", "retention.ms": "-1"})
    produce(b, topic, [(None, f"v{i:04d}-".encode() + b"x" * 80) for i in range(300)], **{"linger.ms": 0, "batch.num.messages": 5})
    rolled = segments(broker.log_dir, topic)
    assert len(rolled) >= 10, f"segment.bytes=2048 should roll ~15 segments, found {len(rolled)}"
    assert watermarks(b, topic) == (0, 300)

    # Roll by time: a second topic whose segments last 500 ms.
    timed = unique_topic("roll-time")
    create_topic(b, timed, 1, {"segment.ms": "500"})
    produce(b, timed, [(None, b"first")])
    time.sleep(0.7)
    produce(b, timed, [(None, b"second")])
    assert len(segments(broker.log_dir, timed)) == 2

    # Retention by size: only whole old segments go, the newest bytes stay.
    set_topic_config(b, topic, retention_bytes="6000")
    wait_until(lambda: watermarks(b, topic)[0] > 0, 15, "retention.bytes to move the log start")
    low, high = watermarks(b, topic)
    kept = sum(p.stat().st_size for p in segments(broker.log_dir, topic))
    assert kept <= 6000 + 2048 and high == 300, (kept, low, high)
    read = values_from(b, topic)
    assert [o for o, _, _ in read] == list(range(low, 300)), "reading from the beginning starts at the log start"
    assert read[-1][2].startswith(b"v0299-")
    assert f"by retention.bytes=6000; log start offset is now {low}" in broker.log_file.read_text()

    # Retention by time: every record is older than 1 s, so everything goes, the active
    # segment too, and offsets go on where they were.
    set_topic_config(b, topic, retention_ms="1000", retention_bytes="-1")
    wait_until(lambda: watermarks(b, topic) == (300, 300), 15, "retention.ms to empty the partition")
    assert [p.name for p in segments(broker.log_dir, topic)] == ["00000000000000000300.log"]
    assert produce(b, topic, [(None, b"after")]) == [(0, 300)]


def test_delete_records_moves_the_log_start_on_every_replica(cluster_factory, tmp_path):
    nodes = cluster_factory(3, props=FAST_MAINTENANCE)
    b = ",".join(n.bootstrap for n in nodes)
    topic = unique_topic("delete-records")
    admin = AdminClient({"bootstrap.servers": b})
    admin.create_topics([NewTopic(topic, 1, replication_factor=3, config={"segment.bytes": "1024"})])[topic].result(30)
    produce(b, topic, [(None, f"r{i}".encode() * 20) for i in range(100)], acks="all", **{"batch.num.messages": 5})
    result = admin.delete_records([TopicPartition(topic, 0, 40)])
    low = list(result.values())[0].result(timeout=20)
    assert low.low_watermark == 40
    assert watermarks(b, topic) == (40, 100)
    read = values_from(b, topic)
    assert [o for o, _, _ in read] == list(range(40, 100))
    # Kafka's tool, with Kafka's JSON file and output.
    offsets = tmp_path / "offsets.json"
    offsets.write_text(f'{{"partitions": [{{"topic": "{topic}", "partition": 0, "offset": 50}}], "version": 1}}')
    r = subprocess.run([str(REPO / "bin" / "kafka-delete-records.sh"), "--bootstrap-server", b,
                        "--offset-json-file", str(offsets)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["Executing records delete operation", "Records delete operation completed:",
                                     f"partition: {topic}-0\tlow_watermark: 50"]
    offsets.write_text('{"partitions": [{"topic": 1}]}')
    r = subprocess.run([str(REPO / "bin" / "kafka-delete-records.sh"), "--bootstrap-server", b,
                        "--offset-json-file", str(offsets)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and 'partitions[0] needs "topic"' in r.stderr, r.stderr
    # Past the high watermark: refused, nothing moves.
    past = list(admin.delete_records([TopicPartition(topic, 0, 1000)]).values())[0]
    try:
        past.result(timeout=20)
        raise AssertionError("DeleteRecords past the high watermark was accepted")
    except KafkaException as e:
        assert "OFFSET_OUT_OF_RANGE" in str(e) or "out of range" in str(e).lower(), e
    # The followers take the new log start from their fetches; their next retention pass
    # removes the segments below it.
    for n in nodes:
        path = n.log_dir / f"{topic}-0" / "log-start-offset"
        wait_until(lambda: path.exists() and path.read_text().strip() == "50", 15,
                   f"node {n.node_id} to store log start 50")
        wait_until(lambda: int(segments(n.log_dir, topic)[0].name[:20]) > 0, 15,
                   f"node {n.node_id} to delete its segments below 50")


def test_compaction_keeps_the_last_value_per_key_and_drops_tombstones(broker_factory):
    broker = broker_factory(extra=FAST_MAINTENANCE)
    b = broker.bootstrap
    topic = unique_topic("compact")
    create_topic(b, topic, 1, {"cleanup.policy": "compact", "segment.bytes": "1024", "delete.retention.ms": "0"})
    rounds = [[(f"k{k}".encode(), f"k{k}-round{r}".encode()) for k in range(10)] for r in range(30)]
    produce(b, topic, [rec for rnd in rounds for rec in rnd], **{"linger.ms": 0, "batch.num.messages": 5})
    produce(b, topic, [(b"k9", None)])  # a tombstone: k9 is deleted
    # Filler under another key pushes the last round out of the active segment, which the
    # cleaner never touches.
    produce(b, topic, [(b"filler", b"f" * 100) for _ in range(30)], **{"linger.ms": 0, "batch.num.messages": 5})
    total = 300 + 1 + 30

    def compacted():
        read = values_from(b, topic)
        keyed = [r for r in read if r[1] != b"filler"]
        return keyed if len(keyed) == 9 else None

    keyed = wait_for(compacted, timeout_s=30, what="the cleaner to compact the topic")
    assert {k: v for _, k, v in keyed} == {f"k{k}".encode(): f"k{k}-round29".encode() for k in range(9)}
    offsets = [o for o, _, _ in keyed]
    assert offsets == sorted(offsets) and offsets[0] >= 270, "offsets never change, only gaps appear"
    assert watermarks(b, topic)[1] == total
    assert re.search(r"compacted \d+ segment\(s\), \d+ record\(s\) removed", broker.log_file.read_text())

    # A record without a key has no place in a compacted topic.
    p = Producer({"bootstrap.servers": b, "retries": 0})
    errors = []
    p.produce(topic, value=b"no key", on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)
    assert errors and errors[0] is not None and errors[0].name() == "INVALID_RECORD", errors


def test_a_deleted_index_is_rebuilt_at_restart(broker_factory):
    broker = broker_factory()
    b = broker.bootstrap
    topic = unique_topic("index")
    create_topic(b, topic, 1, {"segment.bytes": "8192", "index.interval.bytes": "256"})
    produce(b, topic, [(None, f"value-{i}".encode() * 4) for i in range(600)], **{"linger.ms": 0, "batch.num.messages": 5})
    assert broker.stop() == 0
    victim = segments(broker.log_dir, topic)[1].with_suffix(".index")
    first, second = (int(p.name[:20]) for p in segments(broker.log_dir, topic)[1:3])
    victim.unlink()
    # Another segment's index gets a wrong last entry: dump-log calls it damaged.
    damaged = segments(broker.log_dir, topic)[2].with_suffix(".index")
    with damaged.open("r+b") as f:
        f.seek(damaged.stat().st_size - 4)
        position = struct.unpack(">I", f.read(4))[0]
        f.seek(damaged.stat().st_size - 4)
        f.write(struct.pack(">I", position + 3))
    r = subprocess.run([os.environ["TERN_BIN"], "dump-log", "--files", str(damaged)], capture_output=True, text=True)
    assert r.returncode == 2 and "Health: DAMAGED" in r.stdout and "does not point at its batch" in r.stdout, r.stdout
    broker.start()
    assert broker.log_file.read_text().count("rebuilding its indexes from the log") == 2
    assert victim.exists() and victim.stat().st_size > 0
    for index in (victim, damaged):
        r = subprocess.run([os.environ["TERN_BIN"], "dump-log", "--files", str(index)], capture_output=True, text=True)
        assert r.returncode == 0 and "entries, in order" in r.stdout.splitlines()[-1], r.stdout[-500:]
    # Reading from the middle of that segment starts at the offset asked for.
    middle = (first + second) // 2
    c = Consumer({"bootstrap.servers": b, "group.id": "tern-it-index", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, middle)])
        msg = None
        deadline = time.monotonic() + 20
        while msg is None and time.monotonic() < deadline:
            msg = c.poll(0.5)
        assert msg is not None and msg.error() is None
        assert (msg.offset(), msg.value()) == (middle, f"value-{middle}".encode() * 4)
    finally:
        c.close()


def test_a_torn_tail_is_cut_at_the_last_whole_batch_after_kill9(broker_factory):
    broker = broker_factory()
    b = broker.bootstrap
    topic = unique_topic("torn")
    create_topic(b, topic, 1)
    produce(b, topic, [(None, f"m{i:05d}".encode() * 10) for i in range(2000)], **{"linger.ms": 5, "batch.num.messages": 50})
    broker.kill9()
    active = segments(broker.log_dir, topic)[-1]
    layout = batches(active)
    cut = random.Random(7).randrange(layout[len(layout) // 2][0] + 1, active.stat().st_size)
    with active.open("r+b") as f:
        f.truncate(cut)
    whole = [x for x in layout if x[0] + x[2] <= cut]
    broker.start()
    log = broker.log_file.read_text()
    m = re.search(r"recovery truncated .* at byte (\d+): found .*; (\d+) bytes after offset (\d+) removed", log)
    assert m, log[-2000:]
    assert int(m.group(1)) == whole[-1][0] + whole[-1][2]
    next_offset = int(m.group(3))
    assert next_offset == layout[len(whole)][1], "the log ends where the first cut batch began"
    read = values_from(b, topic)
    assert [o for o, _, _ in read] == list(range(next_offset))
    assert all(v == f"m{o:05d}".encode() * 10 for o, _, v in read)
    assert produce(b, topic, [(None, b"after")]) == [(0, next_offset)]


def test_a_flipped_byte_on_a_lone_replica_is_reported_and_never_served(broker_factory):
    broker = broker_factory()
    b = broker.bootstrap
    topic = unique_topic("flip")
    create_topic(b, topic, 1)
    produce(b, topic, [(None, f"m{i:05d}".encode() * 10) for i in range(1000)], **{"linger.ms": 5, "batch.num.messages": 50})
    broker.kill9()
    active = segments(broker.log_dir, topic)[-1]
    layout = batches(active)
    pos, base, size = layout[len(layout) // 2]
    with active.open("r+b") as f:
        f.seek(pos + size - 7)
        byte = f.read(1)
        f.seek(pos + size - 7)
        f.write(bytes([byte[0] ^ 0x5A]))
    broker.start()
    log = broker.log_file.read_text()
    assert re.search(rf"a batch at offset {base} whose CRC does not match .*; \d+ bytes after offset {base} removed",
                     log), log[-2000:]
    read = values_from(b, topic)
    assert [o for o, _, _ in read] == list(range(base))
    assert all(v == f"m{o:05d}".encode() * 10 for o, _, v in read)


def test_a_damaged_follower_fetches_the_damaged_part_again_from_the_leader(cluster_factory):
    nodes = cluster_factory(3)
    b = ",".join(n.bootstrap for n in nodes)
    topic = unique_topic("flip-follower")
    admin = AdminClient({"bootstrap.servers": b})
    admin.create_topics([NewTopic(topic, 1, replication_factor=3)])[topic].result(30)
    # Idempotent, so that a batch retried after the leader's NOT_LEADER_OR_FOLLOWER (it may
    # answer so while it is still opening the new partition's log, as Kafka may) keeps its place.
    produce(b, topic, [(None, f"m{i:05d}".encode() * 10) for i in range(1000)], acks="all",
            **{"linger.ms": 5, "batch.num.messages": 50, "enable.idempotence": True})
    leader_id = admin.list_topics(topic, timeout=10).topics[topic].partitions[0].leader
    leader = nodes[leader_id]
    follower = next(n for n in nodes if n.node_id != leader_id)
    follower.kill9()
    active = segments(follower.log_dir, topic)[-1]
    pos, base, size = batches(active)[5]
    with active.open("r+b") as f:
        f.seek(pos + size - 3)
        byte = f.read(1)
        f.seek(pos + size - 3)
        f.write(bytes([byte[0] ^ 0x01]))
    follower.start()
    # The partition logs open once the broker has caught up with the metadata log.
    wait_until(lambda: "whose CRC does not match" in follower.log_file.read_text(), 30,
               "start-up recovery to find the damaged batch")
    leader_file = segments(leader.log_dir, topic)[-1]
    wait_until(lambda: active.read_bytes() == leader_file.read_bytes(), 30,
               "the follower's segment to equal the leader's byte for byte")
    # And it serves the repaired data as leader.
    leader.kill9()
    wait_until(lambda: AdminClient({"bootstrap.servers": follower.bootstrap}).list_topics(topic, timeout=5)
               .topics[topic].partitions[0].leader != leader_id, 30, "a new leader")
    survivors = ",".join(n.bootstrap for n in nodes if n is not leader)
    read = values_from(survivors, topic)
    assert [o for o, _, _ in read] == list(range(1000))
    assert [v for _, _, v in read] == [f"m{i:05d}".encode() * 10 for i in range(1000)]


def test_a_thousand_partitions_reopen_after_a_clean_shutdown_without_a_scan(broker_factory):
    broker = broker_factory()
    b = broker.bootstrap
    topic = unique_topic("many")
    admin = AdminClient({"bootstrap.servers": b})
    admin.create_topics([NewTopic(topic, 1000, replication_factor=1)])[topic].result(60)
    wait_until(lambda: len(list(broker.log_dir.glob(f"{topic}-*"))) == 1000, 60, "1,000 partition directories")
    p = Producer({"bootstrap.servers": b, "linger.ms": 20})
    for i in range(3000):
        p.produce(topic, value=f"v{i}".encode(), partition=i % 1000)
        p.poll(0)
    assert p.flush(60) == 0
    assert broker.stop() == 0
    started = time.monotonic()
    broker.start()
    c = Consumer({"bootstrap.servers": b, "group.id": "tern-it-many"})

    def watermarks():
        # Right after the restart the client may not know the partitions yet (_UNKNOWN_PARTITION):
        # that is asked again, not a failure.
        try:
            return [c.get_watermark_offsets(TopicPartition(topic, i), timeout=10) for i in range(0, 1000)]
        except KafkaException:
            return None

    try:
        ends = wait_for(watermarks, timeout_s=120, what="every partition's offsets")
    finally:
        c.close()
    elapsed = time.monotonic() - started
    assert set(ends) == {(0, 3)}
    # The metadata log is applied in steps (64 new partitions each), a line for each step.
    steps = re.findall(r"opened (\d+) partition log\(s\) in (\d+) ms: (\d+) segment\(s\) scanned",
                       broker.log_file.read_text().split("==== test harness: starting")[-1])
    # The topic's 1,000 (and __consumer_offsets' 50 once the group asks for it), none scanned.
    assert sum(int(n) for n, _, _ in steps) in (1000, 1050) and all(s == "0" for _, _, s in steps), steps
    print(f"\n1,000 partitions: logs opened in {sum(int(ms) for _, ms, _ in steps)} ms over {len(steps)} steps; "
          f"restart to every offset answered {elapsed:.1f} s")
