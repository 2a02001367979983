"""Cluster operations. Leaders back home: after a broker restarts, `kafka-leader-election.sh --election-type preferred`
(and confluent-kafka's AdminClient.elect_leaders) move leadership back to the preferred replicas,
and with auto.leader.rebalance.enable the active controller does it by itself within
leader.imbalance.check.interval.seconds. No acknowledged record is lost across the moves."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import REPO
from support import known_everywhere, topic_errors_on, wait_until

TOPIC = "homes"
ELECT = str(REPO / "bin" / "kafka-leader-election.sh")


def create(admin, *topics: NewTopic) -> None:
    """Creates the topics, retrying while the brokers of a just-started cluster are still registering."""
    def attempt() -> bool:
        for name, f in admin.create_topics(list(topics)).items():
            try:
                f.result(30)
            except KafkaException as e:
                code = e.args[0].code()
                if code == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                if code == KafkaError.INVALID_REPLICATION_FACTOR:
                    return False
                raise
        return True
    wait_until(attempt, 30, "every broker registered, topics created")
    known_everywhere(admin, [t.topic for t in topics])


def layout(admin) -> dict[int, tuple[int, list[int], list[int]]]:
    """partition -> (leader, replicas, isr)"""
    md = admin.list_topics(TOPIC, timeout=10)
    return {p.id: (p.leader, list(p.replicas), list(p.isrs)) for p in md.topics[TOPIC].partitions.values()}


def preferred_lead(admin) -> bool:
    return all(leader == replicas[0] for leader, replicas, _ in layout(admin).values())


def produce(bootstrap: str, values: range) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                  "message.timeout.ms": 30000})
    errors: list = []
    for i in values:
        p.produce(TOPIC, value=str(i).encode(), partition=i % 3,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
    assert p.flush(30) == 0 and not errors, errors


def consumed(bootstrap: str) -> set[int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.time()}", "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(3)])
    got: set[int] = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.add(int(m.value()))
        elif m is None and len(got) >= 200:
            break
    c.close()
    return got


def restart_node_1(nodes, admin) -> list[int]:
    """Stops node 1 until it leads nothing, starts it again, waits for full ISRs; returns the
    partitions that prefer node 1 (now led elsewhere)."""
    wait_until(lambda: all(len(isr) == 3 for _, _, isr in layout(admin).values()), 30, "full ISRs")
    assert preferred_lead(admin), layout(admin)
    nodes[1].stop()
    wait_until(lambda: all(leader != 1 for leader, _, _ in layout(admin).values()), 30, "node 1 leads nothing")
    nodes[1].start()
    wait_until(lambda: all(len(isr) == 3 for _, _, isr in layout(admin).values()), 30, "node 1 back in every ISR")
    return sorted(p for p, (_, replicas, _) in layout(admin).items() if replicas[0] == 1)


def elect(bootstrap: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ELECT, "--bootstrap-server", bootstrap, *args], capture_output=True, text=True, timeout=60)


def test_the_command_moves_leaders_back_to_their_preferred_replicas(cluster_factory, tmp_path):
    nodes = cluster_factory(3, props={"auto.leader.rebalance.enable": "false"})
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    create(admin, NewTopic(TOPIC, 3, 3))
    produce(bootstrap, range(0, 100))
    moved = restart_node_1(nodes, admin)
    assert moved, f"node 1 is some partition's preferred leader: {layout(admin)}"
    time.sleep(3)
    assert not preferred_lead(admin), "with auto.leader.rebalance.enable=false nothing moves by itself"

    # Bad arguments: Kafka's messages, a failing exit status, nothing elected.
    bad = elect(bootstrap, "--all-topic-partitions")
    assert bad.returncode != 0 and "Missing required option(s): election-type" in bad.stderr, bad
    bad = elect(bootstrap, "--election-type", "preferred", "--all-topic-partitions", "--topic", TOPIC)
    assert bad.returncode != 0 and "One and only one of the following options is required" in bad.stderr, bad
    assert not preferred_lead(admin)

    done = elect(bootstrap, "--election-type", "preferred", "--all-topic-partitions")
    assert done.returncode == 0, done
    names = ", ".join(f"{TOPIC}-{p}" for p in moved)
    assert done.stdout.strip() == f"Successfully completed leader election (PREFERRED) for partitions {names}", done
    wait_until(lambda: preferred_lead(admin), 15, "every partition led by its preferred replica")

    again = elect(bootstrap, "--election-type", "PREFERRED", "--topic", TOPIC, "--partition", str(moved[0]))
    assert again.returncode == 0 and again.stdout.strip() == \
        f"Valid replica already elected for partitions {TOPIC}-{moved[0]}", again
    listed = tmp_path / "elect.json"
    listed.write_text(f'{{"partitions": [{{"topic": "{TOPIC}", "partition": 0}}, {{"topic": "{TOPIC}", "partition": 2}}]}}')
    from_file = elect(bootstrap, "--election-type", "preferred", "--path-to-json-file", str(listed))
    assert from_file.returncode == 0 and from_file.stdout.strip() == \
        f"Valid replica already elected for partitions {TOPIC}-0, {TOPIC}-2", from_file
    listed.write_text(f'{{"partitions": [{{"topic": "{TOPIC}", "partition": 1}}, {{"topic": "{TOPIC}", "partition": 1}}]}}')
    twice = elect(bootstrap, "--election-type", "preferred", "--path-to-json-file", str(listed))
    assert twice.returncode != 0 and "Replica election data contains duplicate partitions" in twice.stderr, twice
    missing = elect(bootstrap, "--election-type", "preferred", "--topic", "no-such-topic", "--partition", "0")
    assert missing.returncode != 0 and "no-such-topic-0: UNKNOWN_TOPIC_OR_PARTITION" in missing.stdout, missing

    # confluent-kafka's admin API against the same controller decision.
    from confluent_kafka import ElectionType
    moved = restart_node_1(nodes, admin)
    result = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(TOPIC, p) for p in moved]).result(30)
    assert all(err is None for err in result.values()), result
    wait_until(lambda: preferred_lead(admin), 15, "preferred leaders again")
    with_unclean = admin.elect_leaders(ElectionType.UNCLEAN, [TopicPartition(TOPIC, 0)]).result(30)
    errs = list(with_unclean.values())
    assert len(errs) == 1 and errs[0] is not None and errs[0].code() == KafkaError.ELECTION_NOT_NEEDED, with_unclean

    produce(bootstrap, range(100, 200))
    assert consumed(bootstrap) == set(range(200)), "every acknowledged record, across three leader moves"


def test_the_active_controller_balances_leaders_by_itself(cluster_factory):
    nodes = cluster_factory(3, props={"leader.imbalance.check.interval.seconds": "2"})
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    create(admin, NewTopic(TOPIC, 3, 3))
    produce(bootstrap, range(0, 100))
    started = time.monotonic()
    moved = restart_node_1(nodes, admin)
    assert moved
    wait_until(lambda: preferred_lead(admin), 20, "the balance check moves node 1's partitions back")
    produce(bootstrap, range(100, 200))
    assert consumed(bootstrap) == set(range(200))
    assert time.monotonic() - started < 60


def test_kafka_log_dirs_describes_every_replica_with_its_size_on_disk(cluster_factory):
    nodes = cluster_factory(3)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    create(admin, NewTopic("sized", 2, 3))
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(500):
        p.produce("sized", value=b"x" * 200, partition=i % 2)
    assert p.flush(30) == 0

    def on_disk(node, partition: int) -> int:
        return sum(f.stat().st_size for f in (node.log_dir / f"sized-{partition}").glob("*.log"))

    def described() -> dict:
        out = subprocess.run([str(REPO / "bin" / "kafka-log-dirs.sh"), "--describe", "--bootstrap-server", bootstrap,
                              "--topic-list", "sized"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out
        lines = out.stdout.strip().splitlines()
        assert lines[0] == "Querying brokers for log directories information", out.stdout
        assert lines[1] == "Received log directory information from brokers 0,1,2", out.stdout
        return json.loads(lines[2])

    # Followers catch up a moment after the acks: wait until every replica has the whole log.
    wait_until(lambda: all(on_disk(n, q) == on_disk(nodes[0], q) for n in nodes for q in (0, 1)), 20, "replicas equal")
    doc = described()
    assert doc["version"] == 1 and [b["broker"] for b in doc["brokers"]] == [0, 1, 2]
    for b in doc["brokers"]:
        (d,) = b["logDirs"]
        assert d["error"] is None and d["logDir"] == str(nodes[b["broker"]].log_dir.resolve())
        sizes = {x["partition"]: x["size"] for x in d["partitions"]}
        assert sizes == {f"sized-{q}": on_disk(nodes[b["broker"]], q) for q in (0, 1)}, (b, sizes)
        assert all(x["offsetLag"] == 0 and x["isFuture"] is False for x in d["partitions"])
        assert min(sizes.values()) > 200 * 200
    bad = subprocess.run([str(REPO / "bin" / "kafka-log-dirs.sh"), "--describe", "--bootstrap-server", bootstrap,
                          "--broker-list", "0,7"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "The given brokers do not exist from --broker-list: 7" in bad.stderr, bad


def test_replicas_chosen_by_hand_with_the_admin_api_and_kafka_topics(cluster_factory):
    """CreateTopics and CreatePartitions with replica assignments (librdkafka's 0081 test;
    `kafka-topics.sh --replica-assignment`): the lists are the replicas, their first broker
    leads, records go there; lists Kafka refuses (a broker that is not registered, a broker
    twice, a partition of another width, counts given too) are refused with its errors."""
    from confluent_kafka.admin import NewPartitions

    nodes = cluster_factory(3)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    wait_until(lambda: len(admin.list_topics(timeout=10).brokers) == 3, 20, "three brokers")
    admin.create_topics([NewTopic("by-hand", 3, replica_assignment=[[2, 0], [1, 2], [0, 1]])])["by-hand"].result(20)

    def layout(topic: str) -> dict[int, tuple[int, list[int]]]:
        parts = admin.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: (parts[p].leader, list(parts[p].replicas)) for p in parts}
    wait_until(lambda: layout("by-hand") == {0: (2, [2, 0]), 1: (1, [1, 2]), 2: (0, [0, 1])}, 20,
               "the partitions as assigned")
    admin.create_partitions([NewPartitions("by-hand", 4, replica_assignment=[[1, 0]])])["by-hand"].result(20)
    wait_until(lambda: layout("by-hand").get(3) == (1, [1, 0]), 20, "partition 3 on brokers 1 and 0")
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for part in range(4):
        p.produce("by-hand", f"p{part}".encode(), partition=part)
    assert p.flush(20) == 0

    for bad, code in [([[0, 7]], KafkaError.INVALID_REPLICA_ASSIGNMENT), ([[0, 0]], KafkaError.INVALID_REPLICA_ASSIGNMENT),
                      ([[0, 1], [2]], KafkaError.INVALID_REPLICA_ASSIGNMENT)]:
        f = admin.create_topics([NewTopic(f"bad-{len(str(bad))}", len(bad), replica_assignment=bad)])
        with pytest.raises(KafkaException) as e:
            list(f.values())[0].result(20)
        assert e.value.args[0].code() == code, (bad, e.value.args[0])
    f = admin.create_partitions([NewPartitions("by-hand", 6, replica_assignment=[[0, 1]])])["by-hand"]
    with pytest.raises(KafkaException) as e:
        f.result(20)
    assert e.value.args[0].code() == KafkaError.INVALID_REPLICA_ASSIGNMENT
    assert "2 additional partition(s), but only 1" in e.value.args[0].str()

    # The tool: --replica-assignment for --create, and for --alter the whole list.
    topics = str(REPO / "bin" / "kafka-topics.sh")
    out = subprocess.run([topics, "--bootstrap-server", bootstrap, "--create", "--topic", "tool-hand",
                          "--replica-assignment", "1:2,2:0"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "Created topic tool-hand." in out.stdout, out.stderr
    wait_until(lambda: layout("tool-hand") == {0: (1, [1, 2]), 1: (2, [2, 0])}, 20, "the tool's assignment")
    out = subprocess.run([topics, "--bootstrap-server", bootstrap, "--alter", "--topic", "tool-hand", "--partitions",
                          "3", "--replica-assignment", "1:2,2:0,0:1"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    wait_until(lambda: layout("tool-hand").get(2) == (0, [0, 1]), 20, "partition 2 from the tool's list")
    out = subprocess.run([topics, "--bootstrap-server", bootstrap, "--create", "--topic", "x", "--partitions", "2",
                          "--replica-assignment", "0:1"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "leave out --partitions" in out.stderr
    out = subprocess.run([topics, "--bootstrap-server", bootstrap, "--create", "--topic", "x",
                          "--replica-assignment", "0:one"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "broker ids joined by" in out.stderr


def test_every_node_names_a_new_topic_moments_after_create_answers(cluster_factory):
    """CreateTopics answers once the controller has committed the topic; each node's own
    Metadata answer names it once that node applied the record. Asked of each node alone,
    right after each of 20 creates, no node may lag by a second (a stalled image), and most
    learn it within milliseconds (followers fetch the next metadata entry at once)."""
    nodes = cluster_factory(3)
    admin = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes)})
    create(admin, NewTopic("first", 1, 1))  # every broker registered
    worst_ms = []
    for i in range(20):
        name = f"new-{i}"
        for _, f in admin.create_topics([NewTopic(name, 1, 1)]).items():
            f.result(30)
        answered = time.monotonic()
        lags = []
        for n in nodes:
            while topic_errors_on("127.0.0.1", n.port, [name])[name] != 0:
                assert time.monotonic() - answered < 1.0, f"node {n.node_id} still does not name {name}"
                time.sleep(0.001)
            lags.append((time.monotonic() - answered) * 1000)
        worst_ms.append(max(lags))
    print(f"\nslowest node per create, ms: {sorted(round(w, 1) for w in worst_ms)}")


def test_the_first_acks_all_write_to_a_new_topic_does_not_wait_out_a_held_fetch(cluster_factory):
    """Each follower holds one fetch per leader for up to 500 ms, naming the partitions it knew
    when it sent it; an append to a partition a follower has not fetched yet ends that hold, so
    an acks=all write to a topic just created is acknowledged in milliseconds, not after 500."""
    import statistics

    nodes = cluster_factory(3)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    create(admin, NewTopic("warm", 3, 3))
    p.produce("warm", b"x")
    assert p.flush(30) == 0
    took_ms = []
    for i in range(10):
        name = f"fresh-{i}"
        create(admin, NewTopic(name, 3, 3))  # returns once every node names it
        started = time.monotonic()
        acked: list = []
        for part in range(3):
            p.produce(name, b"x", partition=part, on_delivery=lambda err, m: acked.append(err or m.offset()))
        assert p.flush(30) == 0
        assert acked == [0, 0, 0], acked
        took_ms.append((time.monotonic() - started) * 1000)
    print(f"\nfirst acks=all writes to a new topic, ms: {sorted(round(t) for t in took_ms)}")
    assert statistics.median(took_ms) < 250, took_ms
