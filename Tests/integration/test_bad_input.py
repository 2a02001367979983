"""Bad input on raw sockets: the broker answers with an error or closes that connection, never dies,
and keeps serving everyone else with earlier data intact.

Requests are built by hand from Kafka's message specs (ProduceRequest.json, ApiVersionsRequest.json).
"""

from __future__ import annotations

import random
import socket
import struct
import time
from pathlib import Path

import pytest
from crc32c import crc32c

from support import consume_all, create_topic, produce, unique_topic

API_PRODUCE, API_API_VERSIONS = 0, 18
UNSUPPORTED_VERSION, CORRUPT_MESSAGE = 35, 2
SEEDED_RECORDS = [(None, f"before-{i}".encode()) for i in range(100)]


# --- wire helpers -------------------------------------------------------------------------------

def header_v1(api_key: int, version: int, correlation_id: int, client_id: bytes = b"tern-it") -> bytes:
    return struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id


def header_v2(api_key: int, version: int, correlation_id: int) -> bytes:
    return header_v1(api_key, version, correlation_id) + b"\x00"  # no tagged fields


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def varint(n: int) -> bytes:
    return uvarint((n << 1) ^ (n >> 63))  # zigzag


def read_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def record_batch(values: list[bytes], corrupt_crc: bool = False, base_timestamp: int | None = None,
                 timestamp_delta: int = 0) -> bytes:
    """RecordBatch v2, uncompressed, no keys or headers; CRC-32C covers attributes..end. Each
    record's timestamp is `base_timestamp` (now by default) plus `timestamp_delta`."""
    records = b""
    for delta, value in enumerate(values):
        body = (b"\x00" + varint(timestamp_delta) + varint(delta) + varint(-1) + varint(len(value)) + value
                + varint(0))
        records += varint(len(body)) + body
    now_ms = int(time.time() * 1000) if base_timestamp is None else base_timestamp
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, now_ms, now_ms, -1, -1, -1, len(values)) + records
    crc = crc32c(after_crc) ^ (0xDEADBEEF if corrupt_crc else 0)
    after_length = struct.pack(">ibI", -1, 2, crc) + after_crc
    return struct.pack(">qi", 0, len(after_length)) + after_length


def produce_v3_request(correlation_id: int, topic: str, partition: int, batch: bytes) -> bytes:
    name = topic.encode()
    body = (struct.pack(">hhi", -1, 1, 10_000)  # transactional_id null, acks=1, timeout_ms
            + struct.pack(">ih", 1, len(name)) + name
            + struct.pack(">iii", 1, partition, len(batch)) + batch)
    return header_v1(API_PRODUCE, 3, correlation_id) + body


def parse_produce_v3_response(payload: bytes) -> tuple[int, list[tuple[str, int, int, int]]]:
    """-> (correlation_id, [(topic, partition, error_code, base_offset)]), checking nothing is left over."""
    pos = 0

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from(fmt, payload, pos)
        pos += struct.calcsize(fmt)
        return values

    (correlation_id,) = take(">i")
    out = []
    for _ in range(take(">i")[0]):
        (name_len,) = take(">h")
        name = payload[pos:pos + name_len].decode()
        pos += name_len
        for _ in range(take(">i")[0]):
            partition, error, base_offset, _append_time = take(">ihqq")
            out.append((name, partition, error, base_offset))
    take(">i")  # throttle_time_ms
    assert pos == len(payload), f"{len(payload) - pos} unexpected bytes after a Produce v3 response"
    return correlation_id, out


def connect(broker) -> socket.socket:
    return socket.create_connection(("127.0.0.1", broker.port), timeout=10)


def recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def recv_frame(sock: socket.socket) -> bytes:
    size = recv_exactly(sock, 4)
    assert size is not None, "broker closed the connection instead of answering"
    payload = recv_exactly(sock, struct.unpack(">i", size)[0])
    assert payload is not None, "broker closed the connection in the middle of a response"
    return payload


def closed_by_broker(sock: socket.socket, within_s: float = 10) -> bool:
    """True if the broker closes (EOF or reset) within the time, reading and dropping anything it sends."""
    deadline = time.monotonic() + within_s
    try:
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return False


def rss_bytes(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


# --- fixtures and the health check every test ends with ---------------------------------------

@pytest.fixture
def seeded(broker):
    """A broker with a 1-partition topic holding 100 records written by a real client."""
    topic = unique_topic("survivor")
    create_topic(broker.bootstrap, topic, 1)
    produce(broker.bootstrap, topic, SEEDED_RECORDS)
    return broker, topic


def assert_still_serving(broker, topic: str, also_stored: list[bytes] = ()) -> None:
    assert broker.alive(), f"broker died with status {broker.proc.returncode}"
    produce(broker.bootstrap, topic, [(None, b"after")])
    values = [r.value for r in consume_all(broker.bootstrap, topic)[0]]
    assert values == [v for _, v in SEEDED_RECORDS] + list(also_stored) + [b"after"]


# --- tests --------------------------------------------------------------------------------------

def test_random_bytes_and_random_frames_get_connection_closed_and_broker_keeps_serving(seeded):
    broker, topic = seeded
    rng = random.Random(20240601)
    for i in range(100):
        if i % 2:
            junk = rng.randbytes(rng.randrange(1, 2048))  # first 4 bytes are a random length prefix
        else:  # a well-framed request for a real API key and version with a random body
            body = rng.randbytes(rng.randrange(0, 512))
            junk = frame(struct.pack(">hhi", rng.randrange(0, 70), rng.randrange(0, 16), i) + body)
        with connect(broker) as sock:
            sock.sendall(junk)
            sock.shutdown(socket.SHUT_WR)
            assert closed_by_broker(sock), f"case {i}: connection still open 10 s after junk and EOF"
    assert_still_serving(broker, topic)


def test_soak_of_mutated_real_client_frames_keeps_the_broker_serving(seeded):
    """Frames captured from real clients with a few bytes changed reach deep into each decoder
    (the fuzzers' territory) and, unlike noise, often decode: the broker must answer or close,
    and keep serving. Admin APIs that would create or delete topics are left out."""
    broker, topic = seeded
    captured = Path(__file__).resolve().parents[1] / "KafkaProtocolTests" / "Captured"
    frames = [p.read_bytes() for p in sorted(captured.glob("*.bin"))
              if not any(api in p.name for api in ("CreateTopics", "DeleteTopics", "CreatePartitions"))]
    assert len(frames) >= 10
    rng = random.Random(7)
    sock = connect(broker)
    sent = closed = 0
    try:
        for i in range(3000):
            data = bytearray(rng.choice(frames))
            for _ in range(rng.randrange(1, 9)):
                data[rng.randrange(4 if len(data) > 8 else 0, len(data))] = rng.randrange(256)
            try:
                sock.settimeout(10)
                sock.sendall(frame(bytes(data)))
                sent += 1
                sock.settimeout(0.002)
                while sock.recv(65536):
                    pass
            except (socket.timeout, BlockingIOError):
                pass
            except OSError:
                closed += 1
                sock.close()
                sock = connect(broker)
            else:
                closed += 1  # recv returned b"": the broker closed the connection
                sock.close()
                sock = connect(broker)
    finally:
        sock.close()
    assert sent >= 2500, (sent, closed)
    assert_still_serving(broker, topic)


def test_truncated_frame_then_close_leaves_broker_serving(seeded):
    broker, topic = seeded
    for partial in [b"\x00\x00", frame(b"\x00\x12\x00\x00\x00\x00\x00\x01" + b"x" * 100)[:30]]:
        with connect(broker) as sock:
            sock.sendall(partial)
    with connect(broker) as sock:  # a frame too short to hold a request header
        sock.sendall(frame(b"\x00\x12"))
        assert closed_by_broker(sock)
    assert_still_serving(broker, topic)


@pytest.mark.parametrize("length_prefix", [0x7FFFFFFF, 200 * 1024 * 1024, 0xFFFFFFFF, 0x80000000],
                         ids=["2GiB", "200MiB", "minus-1", "int32-min"])
def test_oversized_or_negative_length_prefix_closes_connection_without_allocating(seeded, length_prefix):
    broker, topic = seeded
    with connect(broker) as sock:
        sock.sendall(struct.pack(">I", length_prefix) + b"\x00" * 64)
        assert closed_by_broker(sock), "broker should close a connection whose frame length is out of range"
    assert rss_bytes(broker.pid) < 512 * 1024 * 1024, "broker memory grew as if it allocated the frame"
    assert_still_serving(broker, topic)


def test_unknown_api_key_gets_connection_closed_or_an_answer_for_that_request(seeded):
    broker, topic = seeded
    with connect(broker) as sock:
        sock.sendall(frame(header_v1(9999, 0, 4242) + b"\x00" * 8))
        sock.settimeout(10)
        try:
            size = recv_exactly(sock, 4)
        except ConnectionResetError:
            size = None
        if size is not None:  # answered: it must be this request's answer
            payload = recv_exactly(sock, struct.unpack(">i", size)[0])
            assert payload is not None and payload[:4] == struct.pack(">i", 4242)
    assert_still_serving(broker, topic)


def parse_api_versions_v0(payload: bytes) -> tuple[int, int, dict[int, tuple[int, int]]]:
    correlation_id, error, count = struct.unpack_from(">ihi", payload)
    assert len(payload) == 10 + 6 * count, "not a v0-format ApiVersions response (extra or missing bytes)"
    ranges = {}
    for i in range(count):
        key, lo, hi = struct.unpack_from(">hhh", payload, 10 + 6 * i)
        assert key not in ranges, f"api key {key} listed twice"
        ranges[key] = (lo, hi)
    return correlation_id, error, ranges


def parse_api_versions_v3(payload: bytes) -> tuple[int, int, dict[int, tuple[int, int]]]:
    """Response header v0 (ApiVersions never uses v1), then the flexible v3 body."""
    correlation_id, error = struct.unpack_from(">ih", payload)
    count, pos = read_uvarint(payload, 6)
    ranges = {}
    for _ in range(count - 1):
        key, lo, hi = struct.unpack_from(">hhh", payload, pos)
        tagged, pos = read_uvarint(payload, pos + 6)
        assert tagged == 0, "unexpected tagged fields in an ApiVersions entry"
        ranges[key] = (lo, hi)
    tag_count, pos = read_uvarint(payload, pos + 4)  # after throttle_time_ms; e.g. SupportedFeatures
    for _ in range(tag_count):
        _tag, pos = read_uvarint(payload, pos)
        size, pos = read_uvarint(payload, pos)
        pos += size
    assert pos == len(payload), f"{len(payload) - pos} unexpected bytes after an ApiVersions v3 response"
    return correlation_id, error, ranges


def api_versions_v3_request(version: int, correlation_id: int) -> bytes:
    name, software_version = b"tern-it", b"1.0"
    body = uvarint(len(name) + 1) + name + uvarint(len(software_version) + 1) + software_version + b"\x00"
    return header_v2(API_API_VERSIONS, version, correlation_id) + body


def test_api_versions_v99_gets_v0_format_error_35_with_supported_ranges_then_v3_works(seeded):
    broker, topic = seeded
    with connect(broker) as sock:
        sock.sendall(frame(api_versions_v3_request(99, 7)))
        correlation_id, error, ranges = parse_api_versions_v0(recv_frame(sock))
        assert (correlation_id, error) == (7, UNSUPPORTED_VERSION)
        assert ranges, "the error response must still list supported ranges (librdkafka retries from them)"
        assert ranges[API_API_VERSIONS][0] == 0 and ranges[API_API_VERSIONS][1] >= 3
        assert ranges[API_PRODUCE][0] == 0, "librdkafka turns compression off unless Produce starts at v0"

        # librdkafka's retry, on the same connection: the highest version both sides support.
        sock.sendall(frame(api_versions_v3_request(3, 8)))
        correlation_id, error, ranges_v3 = parse_api_versions_v3(recv_frame(sock))
        assert (correlation_id, error) == (8, 0)
        assert ranges_v3 == ranges
    assert_still_serving(broker, topic)


def test_api_versions_v0_lists_ranges_for_the_apis_clients_need(seeded):
    broker, topic = seeded
    with connect(broker) as sock:
        sock.sendall(frame(header_v1(API_API_VERSIONS, 0, 1)))
        correlation_id, error, ranges = parse_api_versions_v0(recv_frame(sock))
    assert (correlation_id, error) == (1, 0)
    for api, name in [(0, "Produce"), (1, "Fetch"), (2, "ListOffsets"), (3, "Metadata"), (18, "ApiVersions")]:
        assert api in ranges, f"{name} missing from ApiVersions"
        lo, hi = ranges[api]
        assert 0 <= lo <= hi, f"{name}: bad range {lo}..{hi}"
    assert ranges[API_PRODUCE][1] >= 3 and ranges[1][1] >= 4, "record batch v2 needs Produce >= 3 and Fetch >= 4"
    assert_still_serving(broker, topic)


def test_produce_with_wrong_crc_gets_corrupt_message_and_stores_nothing(seeded):
    broker, topic = seeded
    with connect(broker) as sock:
        # Control: the same hand-built request with a correct CRC is accepted at the next offset.
        sock.sendall(frame(produce_v3_request(1, topic, 0, record_batch([b"raw-good"]))))
        assert parse_produce_v3_response(recv_frame(sock)) == (1, [(topic, 0, 0, len(SEEDED_RECORDS))])

        sock.sendall(frame(produce_v3_request(2, topic, 0, record_batch([b"raw-bad"], corrupt_crc=True))))
        correlation_id, [(name, partition, error, _)] = parse_produce_v3_response(recv_frame(sock))
        assert (correlation_id, name, partition, error) == (2, topic, 0, CORRUPT_MESSAGE)
    assert_still_serving(broker, topic, also_stored=[b"raw-good"])


def test_record_timestamps_at_int64_max_plus_a_delta_are_stored_and_read_without_harm(seeded):
    """A batch's base timestamp and each record's delta are the producer's: Int64.max plus 1
    is a valid batch on the wire. Reading it back (a consumer, ListOffsets by time, the
    console's browser, the cleaner's timestamp index) must not trap on the sum."""
    import json
    import urllib.request
    from confluent_kafka import Consumer, TopicPartition
    broker, topic = seeded
    int64_max = (1 << 63) - 1
    with connect(broker) as sock:
        sock.sendall(frame(produce_v3_request(1, topic, 0, record_batch(
            [b"edge-of-time"], base_timestamp=int64_max, timestamp_delta=1))))
        _, [(_, _, error, offset)] = parse_produce_v3_response(recv_frame(sock))
    if error == 0:
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": unique_topic("t")})
        try:
            found = c.offsets_for_times([TopicPartition(topic, 0, 1 << 62)], timeout=10)
            assert found[0].error is None
        finally:
            c.close()
        req = urllib.request.Request(
            f"http://127.0.0.1:{broker.http_port}/api/messages?topic={topic}&from=offset&offset={offset}",
            headers={"X-Tern-Console": "1"})
        with urllib.request.urlopen(req, timeout=10) as r:
            records = json.loads(r.read())["records"]
        assert records[0]["offset"] == offset and records[0]["value"]["text"] == "edge-of-time"
    else:
        assert error in (32, 87), f"refused with INVALID_TIMESTAMP or INVALID_RECORD if at all, got {error}"
    assert broker.alive()
    assert_still_serving(broker, topic, also_stored=[b"edge-of-time"] if error == 0 else [])
