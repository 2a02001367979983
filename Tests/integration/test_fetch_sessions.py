"""Incremental fetch sessions (KIP-227): raw Fetch v11 requests on real sockets, kafka-python's
consumer (which opens a session on every broker it fetches from), and three nodes whose followers
fetch through sessions.
"""

from __future__ import annotations

import socket
import struct
import time
import urllib.request

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer

from support import create_topic, unique_topic, wait_until
from test_bad_input import frame, header_v1, recv_exactly

API_FETCH = 1
FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH = 70, 71


def s16(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def fetch_v11(session_id: int, epoch: int, topics: dict[str, list[tuple[int, int]]],
              forget: dict[str, list[int]] | None = None, max_wait_ms: int = 100, replica_id: int = -1) -> bytes:
    """A Fetch v11 body: `topics` maps a topic to (partition, fetch offset) pairs."""
    body = struct.pack(">iiiibii", replica_id, max_wait_ms, 1, 1 << 20, 0, session_id, epoch)
    body += struct.pack(">i", len(topics))
    for name, parts in topics.items():
        body += s16(name) + struct.pack(">i", len(parts))
        for p, offset in parts:
            body += struct.pack(">iiqqi", p, -1, offset, -1, 1 << 20)
    forget = forget or {}
    body += struct.pack(">i", len(forget))
    for name, parts in forget.items():
        body += s16(name) + struct.pack(">i", len(parts)) + b"".join(struct.pack(">i", p) for p in parts)
    return body + s16("")


class Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return values if len(values) > 1 else values[0]

    def string(self) -> str:
        n = self.take(">h")
        text = self.data[self.at:self.at + n].decode()
        self.at += n
        return text


def parse_fetch_v11(payload: bytes) -> dict:
    """{error, session, partitions: {(topic, partition): (error, hw, record bytes)}}."""
    r = Reader(payload)
    r.take(">i")  # correlation id
    _throttle, error, session = r.take(">ihi")
    partitions = {}
    for _ in range(r.take(">i")):
        topic = r.string()
        for _ in range(r.take(">i")):
            index, perror, hw, _lso, _start = r.take(">ihqqq")
            aborted = r.take(">i")
            for _ in range(max(aborted, 0)):
                r.take(">qq")
            r.take(">i")  # preferred read replica
            size = r.take(">i")
            r.at += max(size, 0)
            partitions[(topic, index)] = (perror, hw, max(size, 0))
    return {"error": error, "session": session, "partitions": partitions}


class Conn:
    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.correlation = 0

    def fetch(self, *args, **kwargs) -> dict:
        self.correlation += 1
        self.sock.sendall(frame(header_v1(API_FETCH, 11, self.correlation) + fetch_v11(*args, **kwargs)))
        size = struct.unpack(">i", recv_exactly(self.sock, 4))[0]
        payload = recv_exactly(self.sock, size)
        assert struct.unpack_from(">i", payload)[0] == self.correlation
        return parse_fetch_v11(payload)

    def close(self):
        self.sock.close()


def produce_to(bootstrap: str, topic: str, records: list[tuple[int, bytes]], acks: str = "1") -> None:
    """Sends each (partition, value) and waits until every one is acknowledged."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": acks})
    failed = []
    for partition, value in records:
        producer.produce(topic, value=value, partition=partition,
                         on_delivery=lambda err, _msg: err is not None and failed.append(err))
        producer.poll(0)
    assert producer.flush(60) == 0 and not failed, failed[:1]


def metric(node, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_a_session_answers_only_what_changed_and_belongs_to_its_connection(broker):
    topic = unique_topic("sessions")
    create_topic(broker.bootstrap, topic, 3)
    produce_to(broker.bootstrap, topic, [(0, b"v0"), (1, b"v1"), (2, b"v2")])
    a = Conn(broker.port)
    # Full fetch, epoch 0: a new session, every partition answered.
    full = a.fetch(0, 0, {topic: [(0, 0), (1, 0), (2, 0)]})
    assert full["error"] == 0 and full["session"] > 0, full
    sid = full["session"]
    assert sorted(full["partitions"]) == [(topic, 0), (topic, 1), (topic, 2)]
    assert all(size > 0 and hw == 1 for _, hw, size in full["partitions"].values())
    assert metric(broker, "tern_fetch_sessions") == 1 and metric(broker, "tern_fetch_session_partitions") == 3

    # Incremental, the new positions named: nothing new anywhere, nothing answered (after the wait).
    quiet = a.fetch(sid, 1, {topic: [(0, 1), (1, 1), (2, 1)]})
    assert quiet == {"error": 0, "session": sid, "partitions": {}}, quiet
    # A record to partition 1 only, while a fetch that names no partition waits: only 1 answers.
    produce_to(broker.bootstrap, topic, [(1, b"v3")])
    one = a.fetch(sid, 2, {}, max_wait_ms=5_000)
    assert one["session"] == sid and list(one["partitions"]) == [(topic, 1)], one
    assert one["partitions"][(topic, 1)][1] == 2 and one["partitions"][(topic, 1)][2] > 0
    # Forgetting partition 0 and moving 1 on: quiet again.
    assert a.fetch(sid, 3, {topic: [(1, 2)]}, forget={topic: [0]})["partitions"] == {}
    assert metric(broker, "tern_fetch_session_partitions") == 2

    # A wrong epoch (a replay of the last one), and Int32 extremes: refused, the session kept.
    for epoch in (3, 2**31 - 1, -2**31):
        assert a.fetch(sid, epoch, {}) == {"error": INVALID_FETCH_SESSION_EPOCH, "session": 0, "partitions": {}}
    # Another connection naming the session: it does not exist there, and cannot close it.
    b = Conn(broker.port)
    assert b.fetch(sid, 4, {})["error"] == FETCH_SESSION_ID_NOT_FOUND
    closing = b.fetch(sid, -1, {topic: [(2, 0)]})
    assert closing["error"] == 0 and closing["session"] == 0 and list(closing["partitions"]) == [(topic, 2)]
    assert a.fetch(sid, 4, {})["session"] == sid
    for bad in (0, -1, 2**31 - 1, -2**31):
        if bad != sid:
            assert b.fetch(bad, 1, {})["error"] == FETCH_SESSION_ID_NOT_FOUND
    # The same partition 400 times in a new session: held once.
    dup = b.fetch(0, 0, {topic: [(0, 0)] * 400})
    assert dup["session"] > 0 and list(dup["partitions"]) == [(topic, 0)]
    wait_until(lambda: metric(broker, "tern_fetch_session_partitions") == 3, 5, "three partitions held in all")

    # Epoch -1 closes a session; a connection's close ends its own.
    assert a.fetch(sid, -1, {topic: [(0, 0)]})["session"] == 0
    assert a.fetch(sid, 5, {})["error"] == FETCH_SESSION_ID_NOT_FOUND
    assert metric(broker, "tern_fetch_sessions") == 1
    b.close()
    wait_until(lambda: metric(broker, "tern_fetch_sessions") == 0, 5, "the closed connection's session ended")
    a.close()
    assert broker.alive()


def test_kafka_python_consumes_everything_through_sessions(broker):
    """kafka-python opens a session on the broker and fetches incrementally: every record of six
    partitions, produced in rounds while it reads, arrives once and in order."""
    topic = unique_topic("sessions-kp")
    create_topic(broker.bootstrap, topic, 6)
    consumer = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None, fetch_max_wait_ms=100)
    try:
        seen: dict[int, list[bytes]] = {p: [] for p in range(6)}
        sessions_seen = 0
        for round_ in range(10):
            produce_to(broker.bootstrap, topic,
                       [(p, f"{round_}-{p}-{i}".encode()) for p in (round_ % 6, (round_ * 5 + 1) % 6)
                        for i in range(50)])
            deadline = time.time() + 20
            while sum(map(len, seen.values())) < (round_ + 1) * 100 and time.time() < deadline:
                for records in consumer.poll(timeout_ms=200).values():
                    for r in records:
                        seen[r.partition].append(r.value)
            sessions_seen = max(sessions_seen, int(metric(broker, "tern_fetch_sessions")))
        assert sum(map(len, seen.values())) == 1000
        for p, values in seen.items():
            expected = [f"{r}-{p}-{i}".encode() for r in range(10) for q in (r % 6, (r * 5 + 1) % 6) if q == p
                        for i in range(50)]
            assert values == expected, f"partition {p}"
        assert sessions_seen == 1, "kafka-python fetched through one session"
    finally:
        consumer.close()
    wait_until(lambda: metric(broker, "tern_fetch_sessions") == 0, 10, "the consumer's session ended with it")


def test_followers_replicate_through_sessions(cluster_factory):
    """Three nodes, RF 3: each follower keeps one session on each leader it fetches from, the
    records of 30 partitions reach every replica, and a quiet cluster stays in sync."""
    nodes = cluster_factory(3)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    topic = unique_topic("sessions-rf3")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=30, replication_factor=3)])[topic].result(timeout=30)
    produce_to(bootstrap, topic, [(i % 30, f"v{i}".encode()) for i in range(3000)], acks="all")
    # Every node leads some partitions and follows the others' leaders: two sessions on each.
    wait_until(lambda: all(metric(n, "tern_fetch_sessions") == 2 for n in nodes), 30,
               "each node holds its two followers' sessions")
    held = sum(metric(n, "tern_fetch_session_partitions") for n in nodes)
    assert held == 60, f"30 partitions x 2 followers held in sessions, not {held}"

    # Followers copy the leader's batches as they are: each partition's log is the same size on
    # all three nodes once every record is there.
    def log_sizes(p: int) -> list[int]:
        return [sum(f.stat().st_size for f in (n.log_dir / f"{topic}-{p}").glob("*.log")) for n in nodes]

    wait_until(lambda: all(len(set(log_sizes(p))) == 1 and log_sizes(p)[0] > 0 for p in range(30)), 30,
               "every replica holds every record")
    time.sleep(2)  # quiet rounds: incremental answers with nothing in them
    more = [(p, b"late") for p in range(0, 30, 7)]
    produce_to(bootstrap, topic, more, acks="all")
    wait_until(lambda: all(len(set(log_sizes(p))) == 1 for p in range(30)), 30, "the late records everywhere")
    assert all(n.alive() for n in nodes)
