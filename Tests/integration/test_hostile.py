"""Hostile input, tried as an attacker would, on real processes and raw sockets.

Each test sends what a careless or malicious client or a forged peer could send, then checks that
the sender got an answer, an error code or a closed connection; that every node still runs; that
the cluster still takes produce and serves fetch; and, where memory is the target, that the
broker's RSS stayed under the bound stated in the test. Requests are built by hand from Kafka's
message specs (clients/src/main/resources/common/message/*.json).
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import time
import uuid

import pytest
from kafka import KafkaConsumer

from conftest import TERN_BIN
from support import consume_all, create_topic, produce, unique_topic, wait_until
from test_bad_input import closed_by_broker, frame, header_v1, read_uvarint, recv_exactly, rss_bytes, uvarint

MAX_STRING = 32_767
INT32_MAX = 2**31 - 1

API_FETCH, API_PRODUCE, API_DESCRIBE_CONFIGS, API_CREATE_TOPICS = 1, 0, 32, 19
API_JOIN_GROUP, API_CREATE_PARTITIONS = 11, 37
API_BEGIN_QUORUM_EPOCH, API_VOTE, API_BROKER_REGISTRATION = 53, 52, 62

NOT_LEADER_OR_FOLLOWER, INVALID_TOPIC, INVALID_REPLICA_ASSIGNMENT = 6, 17, 39
NOT_CONTROLLER, MEMBER_ID_REQUIRED, GROUP_MAX_SIZE_REACHED = 41, 79, 81
INCONSISTENT_VOTER_SET, DUPLICATE_BROKER_REGISTRATION, INCONSISTENT_CLUSTER_ID = 94, 101, 104


# --- encoding -------------------------------------------------------------------------------------

def s16(text: str | bytes | None) -> bytes:
    """INT16-length string (None is null)."""
    if text is None:
        return struct.pack(">h", -1)
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack(">h", len(raw)) + raw


def cstr(text: str | None) -> bytes:
    """Compact string (unsigned varint length + 1)."""
    if text is None:
        return uvarint(0)
    raw = text.encode()
    return uvarint(len(raw) + 1) + raw


def header_v2(api: int, version: int, correlation_id: int, client_id: bytes = b"tern-hostile") -> bytes:
    return header_v1(api, version, correlation_id, client_id) + b"\x00"


def call(sock: socket.socket, payload: bytes, timeout_s: float = 30) -> bytes | None:
    """Sends one request; its answer (after the length), or None if the broker closed instead."""
    sock.settimeout(timeout_s)
    sock.sendall(frame(payload))
    size = recv_exactly(sock, 4)
    if size is None:
        return None
    return recv_exactly(sock, struct.unpack(">i", size)[0])


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def fetch_v4(topic: str, partitions: list[int], *, replica_id: int = -1, max_bytes: int = INT32_MAX,
             partition_max_bytes: int = INT32_MAX, offset: int = 0) -> bytes:
    body = struct.pack(">iiiib", replica_id, 0, 0, max_bytes, 0) + struct.pack(">i", 1) + s16(topic)
    body += struct.pack(">i", len(partitions))
    for p in partitions:
        body += struct.pack(">iqi", p, offset, partition_max_bytes)
    return header_v1(API_FETCH, 4, 7) + body


def parse_fetch_v4(payload: bytes) -> list[tuple[str, int, int, int]]:
    """-> [(topic, partition, error_code, record_bytes)]."""
    pos = 8  # correlation id, throttle
    out = []
    (topics,) = struct.unpack_from(">i", payload, pos)
    pos += 4
    for _ in range(topics):
        (n,) = struct.unpack_from(">h", payload, pos)
        name = payload[pos + 2:pos + 2 + n].decode()
        pos += 2 + n
        (parts,) = struct.unpack_from(">i", payload, pos)
        pos += 4
        for _ in range(parts):
            index, error, _hw, _lso, aborted = struct.unpack_from(">ihqqi", payload, pos)
            pos += struct.calcsize(">ihqqi")
            pos += max(aborted, 0) * 16
            (size,) = struct.unpack_from(">i", payload, pos)
            pos += 4 + max(size, 0)
            out.append((name, index, error, max(size, 0)))
    assert pos == len(payload), "bytes left after a Fetch v4 answer"
    return out


API_FIND_COORDINATOR = 10


def wait_for_coordinator(sock: socket.socket, group: str) -> None:
    """FindCoordinator v1 until it answers without error (the first one creates __consumer_offsets)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = call(sock, header_v1(API_FIND_COORDINATOR, 1, 9) + s16(group) + b"\x00")
        if struct.unpack_from(">h", answer, 8)[0] == 0:
            return
        time.sleep(0.25)
    raise AssertionError(f"no coordinator for {group} within 30 s")


def assert_serving(bootstrap: str, topic: str, before: list[bytes]) -> None:
    produce(bootstrap, topic, [(None, b"after")], acks="all")
    values = [r.value for recs in consume_all(bootstrap, topic).values() for r in recs]
    assert values == before + [b"after"], "records written before the attack changed"


def seed(bootstrap: str, n: int = 20) -> tuple[str, list[bytes]]:
    topic = unique_topic("hostile")
    create_topic(bootstrap, topic, 1)
    values = [f"before-{i}".encode() for i in range(n)]
    produce(bootstrap, topic, [(None, v) for v in values])
    return topic, values


# --- strings the broker composes from client input ------------------------------------------------

def test_32767_byte_names_and_client_ids_get_answers_not_a_dead_broker(broker):
    """Each of these used to make the broker compose a string longer than its INT16 field (an error
    message quoting the name, a member id built from the client id) and trap."""
    topic, before = seed(broker.bootstrap)
    long_name = "t" * MAX_STRING
    with connect(broker.port) as sock:
        # DescribeConfigs v0: resources [type 2 (topic), name, config names null].
        body = struct.pack(">ib", 1, 2) + s16(long_name) + struct.pack(">i", -1)
        answer = call(sock, header_v1(API_DESCRIBE_CONFIGS, 0, 1) + body)
        assert answer is not None and struct.unpack_from(">i", answer)[0] == 1
        # CreatePartitions v1: topics [name, count 4, assignments null], timeout, validate_only.
        body = struct.pack(">i", 1) + s16(long_name) + struct.pack(">ii", 4, -1) + struct.pack(">ib", 5000, 0)
        answer = call(sock, header_v1(API_CREATE_PARTITIONS, 1, 2) + body)
        assert answer is not None and struct.unpack_from(">i", answer)[0] == 2
    # JoinGroup v4 with a 32,767-byte client id: MEMBER_ID_REQUIRED carries an id built from it.
    with connect(broker.port) as sock:
        group = unique_topic("g")
        protocols = struct.pack(">i", 1) + s16("range") + struct.pack(">i", 0)
        body = s16(group) + struct.pack(">ii", 10_000, 30_000) + s16("") + s16("consumer") + protocols
        wait_for_coordinator(sock, group)
        answer = None
        for attempt in range(40):  # the coordinator may still be loading
            answer = call(sock, header_v1(API_JOIN_GROUP, 4, 3, b"c" * MAX_STRING) + body)
            assert answer is not None, "the broker closed the connection instead of answering"
            if struct.unpack_from(">h", answer, 8)[0] == MEMBER_ID_REQUIRED:
                break
            time.sleep(0.25)
        assert struct.unpack_from(">h", answer, 8)[0] == MEMBER_ID_REQUIRED
    assert broker.alive()
    assert_serving(broker.bootstrap, topic, before)


# --- fetch bounds ---------------------------------------------------------------------------------

def test_fetch_bounds_repeated_partitions_max_bytes_and_forged_replicas(broker):
    topic, before = seed(broker.bootstrap, 0)
    big = [(None, bytes([i]) * 100_000) for i in range(20)]
    produce(broker.bootstrap, topic, big, **{"linger.ms": 0, "batch.size": 120_000})
    rss_before = rss_bytes(broker.pid)
    with connect(broker.port) as sock:
        # One partition 400 times with max_bytes 2^31-1: answered once, within fetch.max.bytes.
        answer = call(sock, fetch_v4(topic, [0] * 400))
        parts = parse_fetch_v4(answer)
        assert [(t, p) for t, p, _, _ in parts] == [(topic, 0)], "a repeated partition was answered more than once"
        assert 0 < parts[0][3] <= 2_200_000  # the 2 MB written, once
        # The request's max_bytes holds whatever the partition limit says (KIP-74: the first
        # batch may pass it; no second one then).
        parts = parse_fetch_v4(call(sock, fetch_v4(topic, [0], max_bytes=250_000, partition_max_bytes=20 << 20)))
        assert 100_000 < parts[0][3] <= 250_000, f"{parts[0][3]} bytes for max_bytes 250,000"
        parts = parse_fetch_v4(call(sock, fetch_v4(topic, [0], max_bytes=1)))
        assert 100_000 < parts[0][3] < 200_000, "max_bytes 1 still gets exactly the first batch"
        # A replica id that is not a replica of the partition reads nothing and moves nothing.
        parts = parse_fetch_v4(call(sock, fetch_v4(topic, [0], replica_id=7)))
        assert parts == [(topic, 0, NOT_LEADER_OR_FOLLOWER, 0)]
    assert rss_bytes(broker.pid) - rss_before < 200 << 20
    values = [r.value for r in consume_all(broker.bootstrap, topic)[0]]
    assert values == [v for _, v in big]
    assert_serving(broker.bootstrap, topic, values)


# --- internal topics ------------------------------------------------------------------------------

def test_clients_cannot_write_internal_topics(broker):
    topic, before = seed(broker.bootstrap)
    # A group commit creates __consumer_offsets the way real clients do.
    consumer = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=unique_topic("grp"),
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=10_000)
    assert sum(1 for _ in consumer) == len(before)
    consumer.commit()
    consumer.close()
    from test_bad_input import parse_produce_v3_response, produce_v3_request, record_batch
    with connect(broker.port) as sock:
        for p in range(3):
            sock.sendall(frame(produce_v3_request(10 + p, "__consumer_offsets", p, record_batch([b"forged"]))))
            size = recv_exactly(sock, 4)
            _, results = parse_produce_v3_response(recv_exactly(sock, struct.unpack(">i", size)[0]))
            assert [r[2] for r in results] == [INVALID_TOPIC], results
    assert_serving(broker.bootstrap, topic, before)


# --- the log dirs belong to one process -----------------------------------------------------------

def test_a_second_process_on_the_same_log_dirs_exits_naming_the_holder(broker):
    topic, before = seed(broker.bootstrap)
    other = broker.workdir / "second.properties"
    text = broker.config_file.read_text()
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    free = port.getsockname()[1]
    port.close()
    other.write_text(text.replace(f"127.0.0.1:{broker.port}", f"127.0.0.1:{free}")
                     .replace(f"127.0.0.1:{broker.http_port}", "127.0.0.1:0"))
    started = time.monotonic()
    done = subprocess.run([str(TERN_BIN), "server-start", str(other)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert time.monotonic() - started < 20
    message = done.stderr + done.stdout
    assert str(broker.log_dir) in message and f"pid {broker.pid}" in message, message[-2000:]
    assert broker.alive()
    assert_serving(broker.bootstrap, topic, before)


# --- connections ----------------------------------------------------------------------------------

def test_connection_flood_oversized_frames_and_idle_connections_stay_bounded(broker_factory):
    """max.connections 200, connections.max.idle.ms 3 s. Bound stated: RSS grows by < 300 MiB."""
    broker = broker_factory(extra={"max.connections": "200", "connections.max.idle.ms": "3000"})
    topic, before = seed(broker.bootstrap)
    rss_before = rss_bytes(broker.pid)
    flood = []
    try:
        for _ in range(600):
            s = socket.socket()
            s.settimeout(5)
            s.connect(("127.0.0.1", broker.port))
            flood.append(s)
        time.sleep(1)
        open_now = 0
        for s in flood:
            s.setblocking(False)
            try:
                open_now += 1 if s.recv(1) else 0
            except BlockingIOError:
                open_now += 1  # still open, nothing to read
            except (ConnectionResetError, OSError):
                pass
        assert open_now <= 200, f"{open_now} connections stayed open past max.connections=200"
        assert rss_bytes(broker.pid) - rss_before < 300 << 20
    finally:
        for s in flood:
            s.close()
    # Oversized declared frames: 100 connections each declaring 100 MB and sending 64 KiB of it.
    senders = []
    try:
        for _ in range(100):
            s = connect(broker.port)
            s.sendall(struct.pack(">i", 100 * 1024 * 1024) + b"\x00" * 65536)
            senders.append(s)
        time.sleep(1)
        assert rss_bytes(broker.pid) - rss_before < 300 << 20, "declared frame sizes were allocated up front"
        # ... and idle ones are closed after connections.max.idle.ms.
        assert all(closed_by_broker(s, within_s=15) for s in senders[:5])
    finally:
        for s in senders:
            s.close()
    time.sleep(0.5)
    assert broker.alive()
    assert_serving(broker.bootstrap, topic, before)


def test_group_max_size_refuses_the_member_past_it(broker_factory):
    broker = broker_factory(extra={"group.max.size": "3"})
    topic, before = seed(broker.bootstrap)
    group = unique_topic("big")
    protocols = struct.pack(">i", 1) + s16("range") + struct.pack(">i", 0)
    body = s16(group) + struct.pack(">ii", 10_000, 30_000) + s16("") + s16("consumer") + protocols
    codes = []
    with connect(broker.port) as sock:
        wait_for_coordinator(sock, group)
        deadline = time.monotonic() + 30
        while len(codes) < 5 and time.monotonic() < deadline:
            answer = call(sock, header_v1(API_JOIN_GROUP, 4, len(codes)) + body)
            code = struct.unpack_from(">h", answer, 8)[0]
            if code in (MEMBER_ID_REQUIRED, GROUP_MAX_SIZE_REACHED):
                codes.append(code)
            else:
                time.sleep(0.25)  # the coordinator is loading
    assert codes == [MEMBER_ID_REQUIRED] * 3 + [GROUP_MAX_SIZE_REACHED] * 2
    assert_serving(broker.bootstrap, topic, before)


# --- the control plane ----------------------------------------------------------------------------

def controller_port(node) -> int:
    for entry in node.config_file.read_text().splitlines():
        if entry.startswith("listeners="):
            return int(entry.split("CONTROLLER://")[1].split(":")[1])
    raise AssertionError("no CONTROLLER listener")


def cluster_id(node) -> str:
    for line in (node.log_dir / "meta.properties").read_text().splitlines():
        if line.startswith("cluster.id="):
            return line.split("=", 1)[1]
    raise AssertionError("no cluster.id")


def begin_quorum_epoch_v0(cid: str | None, leader: int, epoch: int) -> bytes:
    body = s16(cid) + struct.pack(">i", 1) + s16("__cluster_metadata") + struct.pack(">iiii", 1, 0, leader, epoch)
    return header_v1(API_BEGIN_QUORUM_EPOCH, 0, 99) + body


def broker_registration_v0(cid: str, broker_id: int, port: int) -> bytes:
    listener = cstr("PLAINTEXT") + cstr("127.0.0.1") + struct.pack(">Hh", port, 0) + b"\x00"
    body = (struct.pack(">i", broker_id) + cstr(cid) + uuid.uuid4().bytes + uvarint(2) + listener
            + uvarint(1) + cstr(None) + b"\x00")
    return header_v2(API_BROKER_REGISTRATION, 0, 5) + body


def test_forged_quorum_and_controller_messages_are_refused_and_the_cluster_survives_restart(cluster_factory):
    nodes = cluster_factory(3)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    topic, before = seed(bootstrap)
    cid = cluster_id(nodes[0])
    for node in nodes:
        with connect(controller_port(node)) as sock:
            # No cluster id, then another cluster's, then this one's with an epoch at Int32.max, then
            # one from a node id that is not a voter: none may move the quorum.
            for forged, expected in [
                (begin_quorum_epoch_v0(None, (node.node_id + 1) % 3, INT32_MAX), INCONSISTENT_CLUSTER_ID),
                (begin_quorum_epoch_v0("x" * MAX_STRING, (node.node_id + 1) % 3, INT32_MAX), INCONSISTENT_CLUSTER_ID),
                (begin_quorum_epoch_v0(cid, 77, 5), INCONSISTENT_VOTER_SET),
            ]:
                answer = call(sock, forged)
                assert answer is not None and struct.unpack_from(">h", answer, 4)[0] == expected
            answer = call(sock, begin_quorum_epoch_v0(cid, (node.node_id + 1) % 3, INT32_MAX))
            assert answer is not None  # answered; Raft drops the epoch as out of range
    # CreateTopics v4: replication factor -1 with a manual assignment of 32,768 broker ids.
    with connect(nodes[1].port) as sock:
        assignment = struct.pack(">i", 1) + struct.pack(">ii", 0, 32_768) + struct.pack(">i", 0) * 32_768
        body = (struct.pack(">i", 1) + s16(unique_topic("huge")) + struct.pack(">ih", -1, -1) + assignment
                + struct.pack(">i", 0) + struct.pack(">ib", 10_000, 0))
        answer = call(sock, header_v1(API_CREATE_TOPICS, 4, 11) + body)
        assert answer is not None
        # throttle, count, name, error code
        (n,) = struct.unpack_from(">h", answer, 12)
        assert struct.unpack_from(">h", answer, 14 + n)[0] == INVALID_REPLICA_ASSIGNMENT
    # A registration for a live broker id with a new incarnation: only the active controller
    # answers it, with DUPLICATE_BROKER_REGISTRATION.
    codes = set()
    for node in nodes:
        with connect(controller_port(node)) as sock:
            answer = call(sock, broker_registration_v0(cid, 1, nodes[1].port))
            assert answer is not None
            codes.add(struct.unpack_from(">h", answer, 9)[0])  # correlation id, tags, throttle
    assert codes == {NOT_CONTROLLER, DUPLICATE_BROKER_REGISTRATION}, codes
    assert all(n.alive() for n in nodes)
    assert_serving(bootstrap, topic, before)
    # Every node killed and restarted: a leader is elected and metadata changes still commit.
    for node in nodes:
        node.kill9()
    for node in nodes:
        node.start(wait=False)
    for node in nodes:
        node.wait_ready()
    create_topic(bootstrap, unique_topic("after-restart"), 3)
    assert_serving(bootstrap, topic, before + [b"after"])


def describe_topic_partitions(port: int, topics: list[str], limit: int,
                              cursor: tuple[str, int] | None = None) -> tuple[list, tuple | None]:
    """DescribeTopicPartitions v0 (KIP-966) over a raw socket: [(error, name, [(index, leader,
    replicas)])] and the next cursor."""
    body = uvarint(len(topics) + 1) + b"".join(cstr(t) + b"\x00" for t in topics) + struct.pack(">i", limit)
    body += b"\xff" if cursor is None else b"\x01" + cstr(cursor[0]) + struct.pack(">i", cursor[1]) + b"\x00"
    body += b"\x00"
    with connect(port) as s:
        a = call(s, header_v2(75, 0, 11) + body)
    assert a is not None, "the broker closed the connection"

    def varint(pos: int) -> tuple[int, int]:
        return read_uvarint(a, pos)

    def ints(pos: int) -> tuple[list[int], int]:
        n, pos = varint(pos)
        n = max(n - 1, 0)
        return list(struct.unpack_from(f">{n}i", a, pos)), pos + 4 * n

    pos = 4 + 1 + 4  # correlation id, header tags, throttle
    count, pos = varint(pos)
    out = []
    for _ in range(count - 1):
        (error,) = struct.unpack_from(">h", a, pos)
        n, pos = varint(pos + 2)
        name = a[pos:pos + n - 1].decode()
        pos += n - 1 + 16 + 1  # name, topic id, is_internal
        parts, pos = varint(pos)
        partitions = []
        for _ in range(parts - 1):
            _perr, index, leader, _epoch = struct.unpack_from(">hiii", a, pos)
            replicas, pos = ints(pos + 14)
            _isr, pos = ints(pos)
            for _ in range(2):  # eligible leader replicas, last known ELR: null or a list
                _, pos = ints(pos)
            _offline, pos = ints(pos)
            pos += 1  # partition tags
            partitions.append((index, leader, replicas))
        pos += 4 + 1  # authorized operations, topic tags
        out.append((error, name, partitions))
    if a[pos] == 0xFF:
        return out, None
    n, pos = varint(pos + 1)
    return out, (a[pos:pos + n - 1].decode(), struct.unpack_from(">i", a, pos + n - 1)[0])


def test_describe_topic_partitions_pages_with_a_cursor_and_bounds_the_limit(broker):
    """KIP-966's paged describe, as Kafka 3.7+ admin clients ask it: a limit of 3 over two topics
    of 5 and 2 partitions walks them in name order with cursors and sees each partition once; an
    unknown topic is named with UNKNOWN_TOPIC_OR_PARTITION; limits at the extremes (0, -1,
    Int32.max) are answered within [1, 2000], and the same topic named 400 times is described once."""
    create_topic(broker.bootstrap, "dtp-a", 5)
    create_topic(broker.bootstrap, "dtp-b", 2)
    seen, cursor, pages = [], None, 0
    while True:
        topics, cursor = describe_topic_partitions(broker.port, ["dtp-b", "dtp-a", "dtp-none"], 3, cursor)
        pages += 1
        for error, name, partitions in topics:
            if name == "dtp-none":
                assert error == 3 and partitions == []
                continue
            assert error == 0
            seen += [(name, index) for index, leader, replicas in partitions]
            assert all(leader == 0 and replicas == [0] for _, leader, replicas in partitions)
        if cursor is None:
            break
        assert pages < 10, "the cursor must move forward"
    assert seen == [("dtp-a", i) for i in range(5)] + [("dtp-b", i) for i in range(2)]
    assert pages == 3
    for limit in (0, -1, INT32_MAX):
        topics, cursor = describe_topic_partitions(broker.port, ["dtp-a"], limit)
        assert len(topics[0][2]) == (1 if limit <= 0 else 5)
        assert cursor == (("dtp-a", 1) if limit <= 0 else None)
    topics, cursor = describe_topic_partitions(broker.port, ["dtp-a"] * 400, INT32_MAX)
    assert [t[1] for t in topics] == ["dtp-a"] and cursor is None
    # Every topic when none is named; a cursor past every name ends the walk.
    topics, _ = describe_topic_partitions(broker.port, [], 2000)
    assert {"dtp-a", "dtp-b"} <= {t[1] for t in topics}
    assert describe_topic_partitions(broker.port, [], 2000, ("zzzz", 0)) == ([], None)
