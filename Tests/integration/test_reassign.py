"""Moving partitions between brokers: kafka-reassign-partitions.sh --generate / --execute / --verify
/ --list / --cancel with Kafka's JSON files and output, and kafka-python's
alter_partition_reassignments / list_partition_reassignments. New replicas copy the log before old
ones leave; records acknowledged with acks=all before and during the move are all there after it,
and a replica moved off a broker is deleted from its disk."""

from __future__ import annotations

import json
import subprocess
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import REPO
from support import wait_until
from test_cluster_ops import create

TOPIC = "moves"
REASSIGN = str(REPO / "bin" / "kafka-reassign-partitions.sh")


def tool(bootstrap: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([REASSIGN, "--bootstrap-server", bootstrap, *args], capture_output=True, text=True,
                         timeout=60)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def replicas(admin) -> dict[int, tuple[int, list[int], list[int]]]:
    md = admin.list_topics(TOPIC, timeout=10)
    return {p.id: (p.leader, list(p.replicas), list(p.isrs)) for p in md.topics[TOPIC].partitions.values()}


def produce(bootstrap: str, values, errors: list) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                  "message.timeout.ms": 60000})
    for i in values:
        p.produce(TOPIC, value=str(i).encode(), partition=i % 2,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
        p.poll(0)
    assert p.flush(60) == 0


def consumed(bootstrap: str, want: int) -> set[int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.time()}", "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(2)])
    got: set[int] = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(got) < want:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.add(int(m.value()))
    c.close()
    return got


def test_reassign_partitions_moves_replicas_without_losing_a_record(cluster_factory, tmp_path):
    nodes = cluster_factory(4)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    create(admin, NewTopic(TOPIC, 2, 2))
    errors: list = []
    produce(bootstrap, range(0, 400), errors)
    before = replicas(admin)

    # --generate proposes moving both partitions onto brokers 2 and 3, keeping RF 2.
    (tmp_path / "topics.json").write_text(json.dumps({"topics": [{"topic": TOPIC}], "version": 1}))
    out = tool(bootstrap, "--generate", "--topics-to-move-json-file", str(tmp_path / "topics.json"),
               "--broker-list", "2,3").stdout
    lines = out.splitlines()
    assert lines[0] == "Current partition replica assignment" and lines[3] == "Proposed partition reassignment configuration"
    current, proposed = json.loads(lines[1]), json.loads(lines[4])
    assert {p["partition"]: p["replicas"] for p in current["partitions"]} == {p: r for p, (_, r, _) in before.items()}
    assert all(sorted(p["replicas"]) == [2, 3] and p["log_dirs"] == ["any", "any"] for p in proposed["partitions"])
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(proposed))

    # --execute while a producer keeps writing with acks=all.
    writer = threading.Thread(target=produce, args=(bootstrap, range(400, 2400), errors))
    writer.start()
    out = tool(bootstrap, "--execute", "--reassignment-json-file", str(plan)).stdout
    assert "Save this to use as the --reassignment-json-file option during rollback" in out
    assert f"Successfully started partition reassignments for {TOPIC}-0,{TOPIC}-1" in out
    rollback = json.loads(out.split("Current partition replica assignment\n\n")[1].splitlines()[0])
    assert rollback == current

    def completed():
        v = tool(bootstrap, "--verify", "--reassignment-json-file", str(plan)).stdout
        return v if v.count("is completed.") == 2 else None
    verified = wait_until(completed, 60, "both reassignments completed")
    assert verified.startswith("Status of partition reassignment:\n")
    assert "Clearing broker-level throttles on brokers 0,1,2,3" in verified
    writer.join(90)
    assert not writer.is_alive() and not errors, errors

    after = replicas(admin)
    for p, (leader, reps, isr) in after.items():
        target = next(e["replicas"] for e in proposed["partitions"] if e["partition"] == p)
        assert reps == target and sorted(isr) == sorted(target) and leader in target
    assert tool(bootstrap, "--list").stdout.strip() == "No partition reassignments found."
    assert consumed(bootstrap, 2400) == set(range(2400)), "no acknowledged record lost in the move"

    # Brokers that no longer hold a replica deleted it from disk.
    def deleted():
        for node in nodes[:2]:
            for p in range(2):
                if (node.log_dir / f"{TOPIC}-{p}").exists():
                    return False
        return True
    wait_until(deleted, 15, "moved-away replicas deleted on brokers 0 and 1")


def test_throttle_paces_the_copy_and_verify_clears_it(cluster_factory, tmp_path):
    """--throttle sets Kafka's rates on the brokers and the throttled-replica lists on the topic;
    the new replica copies no faster than the rate, an unthrottled move of the same data is
    quicker, and --verify removes every throttle once the move is done."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    nodes = cluster_factory(3)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    create(admin, NewTopic("slow", 1, 1), NewTopic("fast", 1, 1))
    payload = bytes(range(256)) * 4  # 1 KiB
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20})
    for topic in ("slow", "fast"):
        for _ in range(1500):
            p.produce(topic, value=payload)
    assert p.flush(60) == 0
    rate = 250_000

    def move(topic: str, throttle: int | None) -> tuple[float, int]:
        part = admin.list_topics(topic, timeout=10).topics[topic].partitions[0]
        target = sorted(set(part.replicas) | {next(n.node_id for n in nodes if n.node_id not in part.replicas)})
        plan = tmp_path / f"{topic}.json"
        plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "replicas": target}]}))
        started = time.monotonic()
        out = tool(bootstrap, "--execute", "--reassignment-json-file", str(plan),
                   *(["--throttle", str(throttle)] if throttle else [])).stdout
        if throttle:
            assert "Warning: You must run --verify periodically, until the reassignment completes, to ensure the " \
                   "throttle is removed." in out and f"The inter-broker throttle limit was set to {throttle} B/s" in out
            new = next(r for r in target if r not in part.replicas)
            res = admin.describe_configs([ConfigResource(ResourceType.BROKER, str(new))])
            configs = list(res.values())[0].result(10)
            assert configs["follower.replication.throttled.rate"].value == str(throttle)
            assert configs["leader.replication.throttled.rate"].value == str(throttle)
            topic_configs = list(admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values())[0].result(10)
            assert topic_configs["follower.replication.throttled.replicas"].value == f"0:{new}"
            assert topic_configs["leader.replication.throttled.replicas"].value == f"0:{part.replicas[0]}"
        wait_until(lambda: "is completed." in tool(bootstrap, "--verify", "--reassignment-json-file", str(plan)).stdout,
                   60, f"{topic} moved", interval_s=0.25)
        return time.monotonic() - started, sum(f.stat().st_size for f in (nodes[target[-1]].log_dir).glob(f"{topic}-0/*.log"))

    fast_s, fast_bytes = move("fast", None)
    slow_s, slow_bytes = move("slow", rate)
    print(f"\nunthrottled move {fast_s:.1f} s; throttled at {rate} B/s {slow_s:.1f} s for {slow_bytes} bytes")
    assert slow_bytes > 1_400_000
    assert slow_s >= 0.6 * slow_bytes / rate, f"{slow_bytes} bytes copied in {slow_s:.1f} s at {rate} B/s"
    assert slow_s > fast_s
    # --verify cleared the throttles everywhere.
    for n in nodes:
        configs = list(admin.describe_configs([ConfigResource(ResourceType.BROKER, str(n.node_id))]).values())[0].result(10)
        assert "follower.replication.throttled.rate" not in configs and "leader.replication.throttled.rate" not in configs
    topic_configs = list(admin.describe_configs([ConfigResource(ResourceType.TOPIC, "slow")]).values())[0].result(10)
    assert topic_configs["follower.replication.throttled.replicas"].value in ("", None)


def test_kafka_python_reassignment_in_progress_lists_and_cancels(cluster_factory, tmp_path):
    from kafka import TopicPartition as KTP
    from kafka.admin import KafkaAdminClient

    nodes = cluster_factory(4)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    create(admin, NewTopic(TOPIC, 2, 2))
    errors: list = []
    produce(bootstrap, range(0, 100), errors)
    before = replicas(admin)
    # A move onto a broker that is down stays in progress: nothing leaves until it is in sync. The
    # broker killed is not the active controller, which kafka-python sends these requests to.
    controller = admin.describe_cluster().result(10).controller.id
    victim = next(n for n in reversed(nodes) if n.node_id != controller)
    victim.kill9()
    _, reps0, _ = before[0]
    target = [victim.node_id] + [r for r in reps0 if r != victim.node_id][:1]
    live = ",".join(n.bootstrap for n in nodes if n is not victim)
    # kafka-python's admin client connects to any broker Metadata lists and fails at once on a
    # refused connection, so it starts after the controller has fenced the dead broker.
    wait_until(lambda: victim.node_id not in admin.list_topics(timeout=10).brokers, 30, "the killed broker fenced")
    kp = KafkaAdminClient(bootstrap_servers=live, request_timeout_ms=30000)
    try:
        result = kp.alter_partition_reassignments({KTP(TOPIC, 0): target, KTP(TOPIC, 1): [0, 0],
                                                   KTP(TOPIC, 7): [0]})
        assert result[KTP(TOPIC, 0)] is None
        assert result[KTP(TOPIC, 1)].__name__ == "InvalidReplicationAssignmentError"  # kafka-python's name for code 39
        assert result[KTP(TOPIC, 7)].__name__ == "UnknownTopicOrPartitionError"
        listed = wait_until(lambda: kp.list_partition_reassignments() or None, 10, "the move listed")
        entry = listed[KTP(TOPIC, 0)]
        assert entry["adding_replicas"] == [r for r in target if r not in reps0]
        assert entry["removing_replicas"] == [r for r in reps0 if r not in target]
        assert sorted(entry["replicas"]) == sorted(set(target) | set(reps0))
        out = tool(bootstrap, "--list").stdout
        assert out.startswith("Current partition reassignments:\n") and f"{TOPIC}-0: replicas: " in out

        # --cancel returns the partition to its original replicas; a second cancel finds nothing.
        plan = tmp_path / "plan.json"
        plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": TOPIC, "partition": 0, "replicas": target}]}))
        out = tool(bootstrap, "--cancel", "--reassignment-json-file", str(plan)).stdout
        assert f"Successfully cancelled partition reassignments for: {TOPIC}-0" in out
        assert tool(bootstrap, "--cancel", "--reassignment-json-file", str(plan)).stdout.strip() == \
            "None of the specified partition reassignments are active."
        wait_until(lambda: sorted(replicas(admin)[0][1]) == sorted(reps0), 10, "original replicas back")
        assert kp.list_partition_reassignments() == {}
        verify = tool(bootstrap, "--verify", "--reassignment-json-file", str(plan)).stdout
        assert f"There is no active reassignment of partition {TOPIC}-0, but replica set is" in verify
    finally:
        kp.close()
    assert consumed(bootstrap, 100) == set(range(100))


def test_bad_reassignment_files_and_arguments_are_refused(cluster_factory, tmp_path):
    nodes = cluster_factory(3)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    create(AdminClient({"bootstrap.servers": bootstrap}), NewTopic(TOPIC, 1, 1))
    cases = {
        "not json": "{",
        "duplicate partition": json.dumps({"partitions": [{"topic": TOPIC, "partition": 0, "replicas": [1]}] * 2}),
        "duplicate replica": json.dumps({"partitions": [{"topic": TOPIC, "partition": 0, "replicas": [1, 1]}]}),
        "negative broker": json.dumps({"partitions": [{"topic": TOPIC, "partition": 0, "replicas": [-1]}]}),
        "huge partition": json.dumps({"partitions": [{"topic": TOPIC, "partition": 2 ** 40, "replicas": [1]}]}),
    }
    for what, text in cases.items():
        f = tmp_path / "bad.json"
        f.write_text(text)
        out = tool(bootstrap, "--execute", "--reassignment-json-file", str(f), check=False)
        assert out.returncode != 0 and "Traceback" not in out.stderr, what
        assert out.stderr.strip() or out.stdout.strip(), what
    f = tmp_path / "unknown.json"
    f.write_text(json.dumps({"partitions": [{"topic": TOPIC, "partition": 0, "replicas": [9]}]}))
    out = tool(bootstrap, "--execute", "--reassignment-json-file", str(f), check=False)
    assert out.returncode == 1 and "INVALID_REPLICA_ASSIGNMENT" in out.stdout and "broker 9" in out.stdout
    out = tool(bootstrap, "--execute", check=False)
    assert out.returncode != 0 and "reassignment-json-file" in out.stderr
    out = tool(bootstrap, "--execute", "--verify", "--reassignment-json-file", str(f), check=False)
    assert out.returncode != 0 and "exactly one action" in out.stderr
