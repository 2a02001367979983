"""tern's own tools, through the Kafka-named wrappers in bin/ so Kafka tutorials' command lines work."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from conftest import REPO, TERN_BIN
from support import consume_all, partition_count, unique_topic, wait_for

BIN = REPO / "bin"


def run(tool: str, *args: str, stdin: bytes | None = None, timeout_s: float = 60,
        check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / f"kafka-{tool}.sh"), *args], input=stdin, capture_output=True,
                          timeout=timeout_s)
    if check:
        assert done.returncode == 0, (f"kafka-{tool}.sh {' '.join(args)} exited {done.returncode}\n"
                                      f"stdout: {done.stdout.decode()[-1500:]}\nstderr: {done.stderr.decode()[-1500:]}")
    return done


def topic_list(bootstrap: str) -> list[str]:
    return run("topics", "--bootstrap-server", bootstrap, "--list").stdout.decode().splitlines()


def test_kafka_topics_sh_creates_lists_describes_and_deletes_a_topic(shared_broker):
    bootstrap, topic = shared_broker.bootstrap, unique_topic("cli-topic")

    run("topics", "--bootstrap-server", bootstrap, "--create", "--topic", topic,
        "--partitions", "3", "--replication-factor", "1")
    assert topic in topic_list(bootstrap)
    assert partition_count(bootstrap, topic) == 3, "a Kafka client should see the 3 partitions too"

    described = run("topics", "--bootstrap-server", bootstrap, "--describe", "--topic", topic).stdout.decode()
    lines = described.splitlines()
    assert len(lines) == 4, described
    assert re.fullmatch(rf"Topic: {re.escape(topic)}\tTopicId: \S+\tPartitionCount: 3\tReplicationFactor: 1"
                        rf"\tConfigs:.*", lines[0]), lines[0]
    for partition, line in enumerate(lines[1:]):
        assert re.fullmatch(rf"\tTopic: {re.escape(topic)}\tPartition: {partition}\tLeader: 0\tReplicas: 0"
                            rf"\tIsr: 0(\t.*)?", line), line
    everything = run("topics", "--bootstrap-server", bootstrap, "--describe").stdout.decode()
    assert f"Topic: {topic}\tTopicId: " in everything, "--describe without --topic should include every topic"

    run("topics", "--bootstrap-server", bootstrap, "--delete", "--topic", topic)
    wait_for(lambda: topic not in topic_list(bootstrap), what=f"{topic} gone from --list")
    assert partition_count(bootstrap, topic) == 0


def test_single_dash_long_options_work_as_in_old_tutorials(shared_broker):
    """Kafka's tools accept `-topic`, `-list`, `-describe` (older tutorials write them so);
    `-2` stays a value and a one-letter option stays a short option."""
    bootstrap, topic = shared_broker.bootstrap, unique_topic("cli-dash")
    run("topics", "-bootstrap-server", bootstrap, "-create", "-topic", topic, "-partitions", "2",
        "-replication-factor", "1")
    assert topic in run("topics", "-bootstrap-server", bootstrap, "-list").stdout.decode().split()
    described = run("topics", "-bootstrap-server", bootstrap, "-describe", "-topic", topic).stdout.decode()
    assert f"Topic: {topic}\t" in described and "PartitionCount: 2" in described
    run("console-producer", "-bootstrap-server", bootstrap, "-topic", topic, stdin=b"one\ntwo\n")
    out = run("console-consumer", "-bootstrap-server", bootstrap, "-topic", topic, "-from-beginning",
              "-max-messages", "2", "-timeout-ms", "10000").stdout.decode().split()
    assert sorted(out) == ["one", "two"]


def test_rf1_topics_on_a_min_isr_2_cluster_are_writable_and_say_why(broker_factory):
    """The shipped cluster sets min.insync.replicas=2; an RF 1 topic (most first tutorials)
    gets min.insync.replicas=1 of its own, shown in --describe, with a warning at creation, so
    the console producer (acks=all) writes to it. Set back to 2, the error says what to do."""
    node = broker_factory(extra={"min.insync.replicas": "2"})
    created = run("topics", "--bootstrap-server", node.bootstrap, "--create", "--topic", "first",
                  "--partitions", "1", "--replication-factor", "1").stdout.decode()
    assert "WARNING: replication factor 1 is below the cluster's min.insync.replicas" in created, created
    assert "Created topic first." in created
    described = run("topics", "--bootstrap-server", node.bootstrap, "--describe", "--topic", "first").stdout.decode()
    assert "min.insync.replicas=1" in described, described
    run("console-producer", "--bootstrap-server", node.bootstrap, "--topic", "first", stdin=b"hello\n")
    out = run("console-consumer", "--bootstrap-server", node.bootstrap, "--topic", "first", "--from-beginning",
              "--max-messages", "1", "--timeout-ms", "10000").stdout.decode()
    assert out.split() == ["hello"]

    run("configs", "--bootstrap-server", node.bootstrap, "--alter", "--entity-type", "topics", "--entity-name",
        "first", "--add-config", "min.insync.replicas=2")
    refused = run("console-producer", "--bootstrap-server", node.bootstrap, "--topic", "first",
                  stdin=b"again\n", check=False)
    text = (refused.stdout + refused.stderr).decode()
    assert "NOT_ENOUGH_REPLICAS" in text and "the topic has only 1 replica(s)" in text, text
    assert "--add-config min.insync.replicas=1" in text


def test_kafka_topics_sh_refuses_to_create_an_existing_topic_and_says_so(shared_broker):
    bootstrap, topic = shared_broker.bootstrap, unique_topic("cli-dup")
    create = ["--bootstrap-server", bootstrap, "--create", "--topic", topic, "--partitions", "1",
              "--replication-factor", "1"]
    run("topics", *create)

    again = run("topics", *create, check=False)

    assert again.returncode != 0
    assert "already exists" in (again.stdout + again.stderr).decode().lower()


def test_console_producer_lines_come_back_from_console_consumer_in_order(shared_broker):
    bootstrap, topic = shared_broker.bootstrap, unique_topic("cli-lines")
    run("topics", "--bootstrap-server", bootstrap, "--create", "--topic", topic, "--partitions", "1",
        "--replication-factor", "1")
    lines = [f"line {i} with spaces, punctuation: and unicode \u00e9\u2713" for i in range(1_000)]

    run("console-producer", "--bootstrap-server", bootstrap, "--topic", topic,
        stdin="".join(f"{line}\n" for line in lines).encode())
    out = run("console-consumer", "--bootstrap-server", bootstrap, "--topic", topic, "--from-beginning",
              "--max-messages", str(len(lines)), "--timeout-ms", "20000").stdout.decode()

    assert out.splitlines() == lines
    stored = consume_all(bootstrap, topic)[0]
    assert [(r.key, r.value) for r in stored] == [(None, line.encode()) for line in lines]


def test_console_tools_parse_and_print_keys(shared_broker):
    bootstrap, topic = shared_broker.bootstrap, unique_topic("cli-keys")
    run("topics", "--bootstrap-server", bootstrap, "--create", "--topic", topic, "--partitions", "1",
        "--replication-factor", "1")
    pairs = [(f"user{i % 5}", f"event {i}: a:b") for i in range(50)]  # only the first ':' separates

    run("console-producer", "--bootstrap-server", bootstrap, "--topic", topic,
        "--property", "parse.key=true", "--property", "key.separator=:",
        stdin="".join(f"{k}:{v}\n" for k, v in pairs).encode())
    out = run("console-consumer", "--bootstrap-server", bootstrap, "--topic", topic, "--from-beginning",
              "--max-messages", str(len(pairs)), "--timeout-ms", "20000",
              "--property", "print.key=true").stdout.decode()

    assert out.splitlines() == [f"{k}\t{v}" for k, v in pairs]
    stored = consume_all(bootstrap, topic)[0]
    assert [(r.key, r.value) for r in stored] == [(k.encode(), v.encode()) for k, v in pairs]


def test_console_consumer_timeout_ms_ends_it_after_the_last_message(shared_broker):
    bootstrap, topic = shared_broker.bootstrap, unique_topic("cli-timeout")
    run("console-producer", "--bootstrap-server", bootstrap, "--topic", topic,
        stdin=b"".join(f"m{i}\n".encode() for i in range(10)))

    done = run("console-consumer", "--bootstrap-server", bootstrap, "--topic", topic, "--from-beginning",
               "--timeout-ms", "3000", timeout_s=30, check=False)

    assert sorted(done.stdout.decode().splitlines()) == sorted(f"m{i}" for i in range(10))


def test_kafka_server_start_sh_execs_tern_which_serves_and_exits_0_on_sigterm(broker_factory):
    broker = broker_factory(command=[str(BIN / "kafka-server-start.sh")])

    assert os.readlink(f"/proc/{broker.pid}/exe") == str(TERN_BIN.resolve()), \
        "the wrapper should exec tern, so signals reach the broker itself"
    topic = unique_topic("via-wrapper")
    run("topics", "--bootstrap-server", broker.bootstrap, "--create", "--topic", topic, "--partitions", "2",
        "--replication-factor", "1")
    assert topic in topic_list(broker.bootstrap)
    assert broker.stop() == 0


def test_a_tool_pointed_at_the_web_console_port_says_so(shared_broker):
    """`--bootstrap-server localhost:8080` (the console's port) used to end in "connection
    closed"; the answer is HTTP, and the error says which port is which."""
    out = run("topics", "--bootstrap-server", f"127.0.0.1:{shared_broker.http_port}", "--list", check=False)
    assert out.returncode != 0
    assert "answered in HTTP, not Kafka's protocol" in out.stderr.decode(), out.stderr.decode()


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_console_consumer_into_a_file_keeps_its_records_when_stopped(shared_broker, tmp_path, sig):
    """`kafka-console-consumer.sh … > file` then Ctrl-C (or SIGTERM): every record read is in the
    file, Kafka's "Processed a total of N messages" is printed, and the group has committed
    what was printed, so the next run starts after it."""
    import signal as signals
    import time

    bootstrap, topic = shared_broker.bootstrap, unique_topic("cli-stop")
    run("console-producer", "--bootstrap-server", bootstrap, "--topic", topic,
        stdin="".join(f"line-{i}\n" for i in range(20)).encode())
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen([str(BIN / "kafka-console-consumer.sh"), "--bootstrap-server", bootstrap, "--topic",
                                 topic, "--group", f"g-{topic}", "--from-beginning"], stdout=o, stderr=e)
        try:
            deadline = time.monotonic() + 30
            while out.read_text().count("\n") < 20 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert out.read_text().splitlines() == [f"line-{i}" for i in range(20)], "records reach the file as read"
            time.sleep(1.5)  # past a commit interval
            proc.send_signal(getattr(signals, sig))
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "Processed a total of 20 messages" in err.read_text()
    again = run("console-consumer", "--bootstrap-server", bootstrap, "--topic", topic, "--group", f"g-{topic}",
                "--timeout-ms", "3000").stdout.decode()
    assert again.split() == [], "the group had committed all 20"


def test_older_tutorials_first_lines_work(tmp_path):
    """`bin/zookeeper-server-start.sh config/zookeeper.properties` says in one line what to do
    instead; `bin/kafka-server-start.sh config/server.properties` starts one node that a
    producer and consumer can use at once (its ports moved off 9092 for the test)."""
    import socket
    import time

    from conftest import free_port

    zk = subprocess.run([str(BIN / "zookeeper-server-start.sh"), "config/zookeeper.properties"], capture_output=True,
                        text=True, timeout=10)
    assert zk.returncode == 0 and "needs no ZooKeeper" in zk.stdout and "config/server.properties" in zk.stdout

    client, controller, http = free_port(), free_port(), free_port()
    overrides = [f"listeners=PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}",
                 f"advertised.listeners=PLAINTEXT://127.0.0.1:{client}",
                 f"controller.quorum.voters=0@127.0.0.1:{controller}", f"log.dirs={tmp_path / 'data'}",
                 f"http.listeners=HTTP://127.0.0.1:{http}"]
    log = (tmp_path / "node.log").open("wb")
    proc = subprocess.Popen([str(BIN / "kafka-server-start.sh"), str(REPO / "config" / "server.properties"),
                             *[a for o in overrides for a in ("--override", o)]], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", client), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "node.log").read_text()
                time.sleep(0.1)
        bootstrap = f"127.0.0.1:{client}"
        run("topics", "--bootstrap-server", bootstrap, "--create", "--topic", "quickstart-events")
        run("console-producer", "--bootstrap-server", bootstrap, "--topic", "quickstart-events",
            stdin=b"This is my first event\nThis is my second event\n")
        out = run("console-consumer", "--bootstrap-server", bootstrap, "--topic", "quickstart-events",
                  "--from-beginning", "--max-messages", "2", "--timeout-ms", "10000").stdout.decode()
        assert out.splitlines() == ["This is my first event", "This is my second event"]
    finally:
        proc.kill()
        proc.wait()
