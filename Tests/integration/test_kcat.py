"""kcat (Debian's, librdkafka 2.0.2: old enough to choke on default-valued tagged fields)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from support import Rec, assert_dense, assert_keys_stick_to_one_partition, assert_stored_compressed, unique_topic

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed (make deps)")


def kcat(*args: str, stdin: bytes | None = None, timeout_s: float = 120) -> bytes:
    done = subprocess.run(["kcat", *args], input=stdin, capture_output=True, timeout=timeout_s)
    assert done.returncode == 0, f"kcat {' '.join(args)} exited {done.returncode}: {done.stderr.decode()[-2000:]}"
    return done.stdout


def produce_lines(bootstrap: str, topic: str, lines: list[str], *extra: str) -> None:
    kcat("-b", bootstrap, "-P", "-t", topic, "-K:", *extra, stdin="".join(f"{line}\n" for line in lines).encode())


def consume_everything(bootstrap: str, topic: str) -> dict[int, list[Rec]]:
    out = kcat("-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", r"%p %o %k:%s\n")
    got: dict[int, list[Rec]] = {}
    for line in out.decode().splitlines():
        partition, offset, record = line.split(" ", 2)
        key, value = record.split(":", 1)
        got.setdefault(int(partition), []).append(Rec(int(partition), int(offset), key.encode(), value.encode()))
    return got


def sequence_numbers(recs: list[Rec]) -> list[int]:
    return [int(r.value.decode().removeprefix("v").split("-")[0]) for r in recs]


def test_kcat_10000_keyed_lines_read_back_in_order_per_partition(shared_broker):
    topic = unique_topic("kcat-keyed")
    produce_lines(shared_broker.bootstrap, topic, [f"k{i % 50}:v{i}" for i in range(10_000)])

    got = consume_everything(shared_broker.bootstrap, topic)

    assert sorted(got) == [0, 1, 2], "auto-created topic should have num.partitions=3, all used by 50 keys"
    assert sum(len(recs) for recs in got.values()) == 10_000
    for partition, recs in got.items():
        numbers = sequence_numbers(recs)
        assert numbers == sorted(numbers), f"partition {partition} not in send order"
        assert all(r.key == f"k{n % 50}".encode() for r, n in zip(recs, numbers)), f"partition {partition} keys"
    assert sorted(n for recs in got.values() for n in sequence_numbers(recs)) == list(range(10_000))
    assert_dense(got)
    assert_keys_stick_to_one_partition(got)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_kcat_compressed_lines_round_trip_and_are_stored_compressed(shared_broker, codec):
    topic = unique_topic(f"kcat-{codec}")
    lines = [f"k{i % 7}:v{i}-{'x' * 500}" for i in range(2_000)]
    produce_lines(shared_broker.bootstrap, topic, lines, "-z", codec, "-X", "linger.ms=50")

    got = consume_everything(shared_broker.bootstrap, topic)

    assert sorted(f"{r.key.decode()}:{r.value.decode()}" for recs in got.values() for r in recs) == sorted(lines)
    for partition, recs in got.items():
        assert sequence_numbers(recs) == sorted(sequence_numbers(recs)), f"partition {partition} not in send order"
    assert_stored_compressed(shared_broker.log_dir, topic, sum(len(line) for line in lines), codec)


def test_kcat_metadata_listing_shows_broker_and_topic_partitions(shared_broker):
    topic = unique_topic("kcat-meta")
    produce_lines(shared_broker.bootstrap, topic, ["k:v"])

    listing = json.loads(kcat("-b", shared_broker.bootstrap, "-L", "-J", "-t", topic))
    text = kcat("-b", shared_broker.bootstrap, "-L").decode()

    assert [(b["id"], b["name"]) for b in listing["brokers"]] == [(0, shared_broker.bootstrap)]
    [meta] = listing["topics"]
    assert meta["topic"] == topic and "error" not in meta, meta
    assert sorted((p["partition"], p["leader"], p["replicas"], p["isrs"]) for p in meta["partitions"]) == [
        (p, 0, [{"id": 0}], [{"id": 0}]) for p in range(3)]
    assert f' topic "{topic}" with 3 partitions:' in text
