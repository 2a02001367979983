"""Apache Kafka's quick starts, their command lines run as written in a scratch folder laid out
like a Kafka download (bin/, config/): the KRaft quick start of Kafka 3.0-3.8
(config/kraft/server.properties), 3.9 (config/kraft/reconfig-server.properties with
--standalone) and 4.x (config/server.properties with --standalone), and the 2.x one that starts
ZooKeeper first and, in its oldest form, creates topics through --zookeeper. Only the port
changes (9092 belongs to a person's `make run`)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, free_port


def kafka_folder(tmp_path: Path) -> tuple[Path, int]:
    """bin/ as shipped, config/ with the single-node file's ports moved to free ones."""
    client, controller, http = free_port(), free_port(), free_port()
    (tmp_path / "bin").symlink_to(REPO / "bin")
    props = (REPO / "config" / "server.properties").read_text()
    props = (props.replace("localhost:9092", f"127.0.0.1:{client}")
             .replace("localhost:19092", f"127.0.0.1:{controller}")
             .replace("localhost:8080", f"127.0.0.1:{http}"))
    assert "localhost:" not in re.sub(r"#.*", "", props), "every listener moved"
    (tmp_path / "config" / "kraft").mkdir(parents=True)
    (tmp_path / "config" / "server.properties").write_text(props)
    for name in ("server.properties", "reconfig-server.properties"):
        assert (REPO / "config" / "kraft" / name).resolve() == (REPO / "config" / "server.properties").resolve()
        (tmp_path / "config" / "kraft" / name).write_text(props)
    return tmp_path, client


def sh(folder: Path, line: str, port: int, stdin: str | None = None, timeout_s: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", line.replace("localhost:9092", f"127.0.0.1:{port}")], cwd=folder,
                          input=stdin, capture_output=True, text=True, timeout=timeout_s)


def start(folder: Path, line: str, port: int) -> subprocess.Popen:
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(["bash", "-c", "exec " + line], cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, (folder / "server.log").read_text()[-3000:]
            time.sleep(0.1)


def ctrl_c(proc: subprocess.Popen, timeout_s: float = 15) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("Ctrl-C did not stop it")


def produce_and_consume(folder: Path, port: int) -> None:
    """The quick start's steps 3-5, the same in every version since 2.8."""
    created = sh(folder, "bin/kafka-topics.sh --create --topic quickstart-events --bootstrap-server localhost:9092",
                 port)
    assert created.returncode == 0 and created.stdout.strip() == "Created topic quickstart-events.", created
    described = sh(folder, "bin/kafka-topics.sh --describe --topic quickstart-events --bootstrap-server localhost:9092",
                   port)
    assert described.returncode == 0, described
    head, row = described.stdout.splitlines()
    assert re.fullmatch(r"Topic: quickstart-events\tTopicId: \S{22}\tPartitionCount: 1\tReplicationFactor: 1\t"
                        r"Configs: .*", head), head
    assert re.fullmatch(r"\tTopic: quickstart-events\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0.*", row), row

    produced = sh(folder, "bin/kafka-console-producer.sh --topic quickstart-events --bootstrap-server localhost:9092",
                  port, stdin="This is my first event\nThis is my second event\n")
    assert produced.returncode == 0, produced

    line = "bin/kafka-console-consumer.sh --topic quickstart-events --from-beginning --bootstrap-server localhost:9092"
    consumer = subprocess.Popen(["bash", "-c", "exec " + line.replace("localhost:9092", f"127.0.0.1:{port}")],
                                cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        got = [consumer.stdout.readline().rstrip("\n") for _ in range(2)]
        assert got == ["This is my first event", "This is my second event"]
    finally:
        code = ctrl_c(consumer)
    assert code == 0 and "Processed a total of 2 messages" in consumer.stderr.read()


@pytest.mark.parametrize("config, standalone", [
    ("config/kraft/server.properties", ""),                # Kafka 3.0-3.8
    ("config/kraft/reconfig-server.properties", " --standalone"),  # Kafka 3.9
    ("config/server.properties", " --standalone"),         # Kafka 4.x
], ids=["3.0-3.8", "3.9", "4.x"])
def test_kraft_quickstart_as_written(tmp_path, config, standalone):
    folder, port = kafka_folder(tmp_path)
    uuid = sh(folder, "bin/kafka-storage.sh random-uuid", port)
    assert uuid.returncode == 0 and re.fullmatch(r"[A-Za-z0-9_-]{22}\n", uuid.stdout), uuid
    formatted = sh(folder, f'KAFKA_CLUSTER_ID="$(bin/kafka-storage.sh random-uuid)"\n'
                           f"bin/kafka-storage.sh format{standalone} -t $KAFKA_CLUSTER_ID -c {config}", port)
    assert formatted.returncode == 0, formatted
    assert "Formatting" in formatted.stdout, formatted.stdout
    server = start(folder, f"bin/kafka-server-start.sh {config}", port)
    try:
        produce_and_consume(folder, port)
    finally:
        code = ctrl_c(server)
    assert code == 0, (folder / "server.log").read_text()[-2000:]
    again = sh(folder, f"bin/kafka-storage.sh format -t $(bin/kafka-storage.sh random-uuid) -c {config}", port)
    assert again.returncode != 0 and "already formatted" in again.stdout + again.stderr, again


def test_kafka_2x_quickstart_as_written(tmp_path):
    """Kafka 2.x: ZooKeeper first (Tern says in one line what to do instead), then the broker; the
    2.0-2.1 tutorial's --zookeeper lines are refused with the replacement named, its --broker-list
    producer works, and the 2.2-2.8 lines work as in 3.x."""
    folder, port = kafka_folder(tmp_path)
    zk = sh(folder, "bin/zookeeper-server-start.sh config/zookeeper.properties", port)
    assert zk.returncode == 0 and "needs no ZooKeeper" in zk.stdout, zk
    server = start(folder, "bin/kafka-server-start.sh config/server.properties", port)
    try:
        old = sh(folder, "bin/kafka-topics.sh --create --zookeeper localhost:2181 --replication-factor 1 "
                         "--partitions 1 --topic test", port)
        assert old.returncode != 0 and "Use --bootstrap-server localhost:9092 instead of --zookeeper" in old.stderr, old
        created = sh(folder, "bin/kafka-topics.sh --create --bootstrap-server localhost:9092 --replication-factor 1 "
                             "--partitions 1 --topic test", port)
        assert created.returncode == 0, created
        listed = sh(folder, "bin/kafka-topics.sh --list --bootstrap-server localhost:9092", port)
        assert "test" in listed.stdout.split(), listed
        sent = sh(folder, "bin/kafka-console-producer.sh --broker-list localhost:9092 --topic test", port,
                  stdin="This is a message\nThis is another message\n")
        assert sent.returncode == 0, sent
        read = sh(folder, "bin/kafka-console-consumer.sh --bootstrap-server localhost:9092 --topic test "
                          "--from-beginning --max-messages 2", port)
        assert read.stdout.splitlines() == ["This is a message", "This is another message"], read
        produce_and_consume(folder, port)
    finally:
        code = ctrl_c(server)
    assert code == 0, (folder / "server.log").read_text()[-2000:]
