#!/usr/bin/env python3
"""Captures the request frames real Kafka clients send, as test data for the codec's unit tests.

Starts a tern broker and a TCP proxy in front of it, drives each client through create topic,
produce, consume and delete, and writes the first request seen for each (client, API, version),
without its 4-byte length prefix, to <out>/<client>-<ApiName>-v<version>.bin.

The proxy rewrites the broker's own address in responses (Metadata, FindCoordinator, ...) to its
own, so clients keep talking through it after bootstrap.

    .venv/bin/python Tests/integration/capture_frames.py [--out DIR] [--force] [--clients a,b]
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from conftest import REPO, Broker, free_port

API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
    10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
    15: "DescribeGroups", 16: "ListGroups", 17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics",
    20: "DeleteTopics", 21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 28: "TxnOffsetCommit",
    32: "DescribeConfigs", 33: "AlterConfigs", 36: "SaslAuthenticate", 37: "CreatePartitions",
    42: "DeleteGroups", 44: "IncrementalAlterConfigs", 47: "OffsetDelete", 55: "DescribeQuorum",
    60: "DescribeCluster", 61: "DescribeProducers", 68: "ConsumerGroupHeartbeat", 69: "ConsumerGroupDescribe",
    71: "GetTelemetrySubscriptions", 72: "PushTelemetry", 75: "DescribeTopicPartitions",
}


class CapturingProxy:
    """Forwards whole frames both ways; records client requests under the label current at connect time."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.port = free_port()
        self.label = "unlabelled"
        self.requests: dict[tuple[str, int, int], bytes] = {}
        self._broker_address = b"127.0.0.1" + struct.pack(">i", upstream_port)
        self._own_address = b"127.0.0.1" + struct.pack(">i", self.port)
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(asyncio.start_server(self._accept, "127.0.0.1", self.port),
                                         self._loop).result(10)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _accept(self, client_reader, client_writer) -> None:
        label = self.label
        broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        await asyncio.gather(
            self._pump(client_reader, broker_writer, lambda frame: self._record(label, frame)),
            self._pump(broker_reader, client_writer, self._rewrite_address))

    @staticmethod
    async def _pump(reader, writer, on_frame) -> None:
        try:
            while True:
                size = await reader.readexactly(4)
                frame = on_frame(await reader.readexactly(struct.unpack(">i", size)[0]))
                writer.write(struct.pack(">i", len(frame)) + frame)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _record(self, label: str, frame: bytes) -> bytes:
        if len(frame) >= 4:
            api_key, version = struct.unpack_from(">hh", frame)
            self.requests.setdefault((label, api_key, version), frame)
        return frame

    def _rewrite_address(self, frame: bytes) -> bytes:
        # Host and port sit side by side in every broker entry, so same-length bytes swap in place.
        return frame.replace(self._broker_address, self._own_address)


def drive_kafka_python(bootstrap: str, topic: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics({topic: {"num_partitions": 2, "replication_factor": 1}}, wait_for_metadata=True)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    for i in range(20):
        producer.send(topic, key=f"k{i % 3}".encode(), value=f"v{i}".encode(), headers=[("h", b"x")])
    producer.flush(30)
    producer.close(10)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                             consumer_timeout_ms=5000)
    consumer.assign([TopicPartition(topic, p) for p in range(2)])
    assert sum(1 for _ in consumer) == 20
    consumer.close()
    admin.delete_topics([topic])
    admin.close()


def drive_confluent_kafka(bootstrap: str, topic: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    from support import consume_all, produce

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)
    time.sleep(1)
    produce(bootstrap, topic, [(f"k{i % 3}".encode(), f"v{i}".encode()) for i in range(20)],
            **{"enable.idempotence": True})
    assert sum(len(r) for r in consume_all(bootstrap, topic).values()) == 20
    admin.delete_topics([topic])[topic].result(30)


def drive_aiokafka(bootstrap: str, topic: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        for i in range(20):
            await producer.send_and_wait(topic, key=f"k{i % 3}".encode(), value=f"v{i}".encode())
        partitions = await producer.partitions_for(topic)
        await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
        await consumer.start()
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        got = 0
        deadline = time.monotonic() + 30
        while got < 20 and time.monotonic() < deadline:
            got += sum(len(r) for r in (await consumer.getmany(timeout_ms=500)).values())
        await consumer.stop()
        assert got == 20, f"aiokafka read {got} of 20"

    asyncio.run(run())


def drive_kcat(bootstrap: str, topic: str) -> None:
    def kcat(*args: str, stdin: bytes | None = None) -> bytes:
        done = subprocess.run(["kcat", "-b", bootstrap, *args], input=stdin, capture_output=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"kcat {' '.join(args)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
        return done.stdout

    kcat("-P", "-t", topic, "-K:", stdin=b"".join(f"k{i % 3}:v{i}\n".encode() for i in range(20)))
    assert len(kcat("-C", "-t", topic, "-o", "beginning", "-e", "-q").splitlines()) == 20
    kcat("-L")


CLIENTS = {
    "kafka-python": drive_kafka_python,
    "confluent-kafka": drive_confluent_kafka,
    "aiokafka": drive_aiokafka,
    "kcat": drive_kcat,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "Tests" / "KafkaProtocolTests" / "Captured")
    parser.add_argument("--force", action="store_true", help="overwrite files that already exist")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated subset of: " + ", ".join(CLIENTS))
    args = parser.parse_args()
    clients = args.clients.split(",")
    unknown = set(clients) - set(CLIENTS)
    if unknown:
        parser.error(f"unknown clients {sorted(unknown)}; known: {', '.join(CLIENTS)}")

    failed = []
    with tempfile.TemporaryDirectory(prefix="tern-capture-") as tmp:
        broker = Broker(Path(tmp)).start()
        try:
            proxy = CapturingProxy(broker.port)
            for client in clients:
                proxy.label = client
                try:
                    CLIENTS[client](proxy.bootstrap, f"capture-{client}")
                except Exception as error:  # keep what was captured; report the client at the end
                    failed.append(f"{client}: {type(error).__name__}: {error}")
                time.sleep(1)  # late reconnects of this client keep its label
        finally:
            broker.close()

    args.out.mkdir(parents=True, exist_ok=True)
    for (client, api_key, version), frame in sorted(proxy.requests.items()):
        path = args.out / f"{client}-{API_NAMES.get(api_key, f'Api{api_key}')}-v{version}.bin"
        if path.exists() and not args.force:
            print(f"kept     {path.name} (exists; --force overwrites)")
            continue
        path.write_bytes(frame)
        print(f"wrote    {path.name} ({len(frame)} bytes)")
    for client in clients:
        seen = {api for label, api, _ in proxy.requests if label == client}
        if not {0, 1} <= seen:
            print(f"warning: no Produce or Fetch captured from {client}; did it bypass the proxy?", file=sys.stderr)
    for failure in failed:
        print(f"client failed: {failure}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
