"""Consumer groups with real clients: partitions split between members and rebalanced on join,
leave and kill -9; two groups each read everything; a restarted consumer resumes at its committed
offset; lag as `kafka-consumer-groups.sh` and the clients' admin APIs report it; offset resets;
and committed offsets surviving the kill -9 of the broker that coordinates the group."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer
from kafka import TopicPartition as KPTopicPartition
from kafka.admin import KafkaAdminClient

from support import create_topic, unique_topic, wait_for
from test_cli import run

SESSION_MS = 6000


def fill(bootstrap: str, topic: str, n: int, start: int = 0) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(start, start + n):
        p.produce(topic, key=str(i).encode(), value=str(i).encode())
    assert p.flush(30) == 0


class Member(threading.Thread):
    """A confluent-kafka consumer in a thread: records what it is assigned and what it reads."""

    def __init__(self, bootstrap: str, group: str, topic: str, **extra):
        super().__init__(daemon=True)
        self.conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": 500, **extra}
        self.topic = topic
        self.assigned: set[int] = set()
        self.seen: list[tuple[int, int]] = []
        self.stop = threading.Event()
        self.error: str | None = None

    def run(self):
        c = Consumer(self.conf)

        cooperative = self.conf.get("partition.assignment.strategy") == "cooperative-sticky"

        def on_assign(_c, parts):
            got = {p.partition for p in parts}
            self.assigned = self.assigned | got if cooperative else got

        def on_revoke(_c, parts):
            self.assigned = self.assigned - {p.partition for p in parts} if cooperative else set()

        c.subscribe([self.topic], on_assign=on_assign, on_revoke=on_revoke)
        try:
            while not self.stop.is_set():
                m = c.poll(0.2)
                if m is None:
                    continue
                if m.error():
                    self.error = str(m.error())
                    continue
                self.seen.append((m.partition(), m.offset()))
        finally:
            c.close()


def test_members_split_partitions_and_rebalance_on_join_and_leave(broker):
    b, topic, group = broker.bootstrap, unique_topic("split"), unique_topic("g")
    create_topic(b, topic, 6)
    fill(b, topic, 600)
    a, c = Member(b, group, topic), Member(b, group, topic)
    a.start()
    c.start()
    wait_for(lambda: len(a.assigned) == 3 and len(c.assigned) == 3, 30, what="two members with 3 partitions each")
    assert a.assigned.isdisjoint(c.assigned)
    wait_for(lambda: len(set(a.seen) | set(c.seen)) == 600, 30, what="all 600 records read by the group")
    assert len(a.seen) + len(c.seen) == 600, "no record read twice while the group is stable"

    third = Member(b, group, topic)
    third.start()
    wait_for(lambda: [len(m.assigned) for m in (a, c, third)] == [2, 2, 2], 30, what="three members with 2 each")
    assert a.assigned | c.assigned | third.assigned == set(range(6))

    third.stop.set()  # a clean close leaves the group at once
    third.join(10)
    wait_for(lambda: len(a.assigned) == 3 and len(c.assigned) == 3, 30, what="back to 3 and 3 after a leave")
    fill(b, topic, 60, start=600)
    wait_for(lambda: len(set(a.seen) | set(c.seen) | set(third.seen)) == 660, 30, what="the new records read")
    for m in (a, c):
        m.stop.set()
        m.join(10)


CHILD = """
import sys, time
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "auto.offset.reset": "earliest",
              "session.timeout.ms": %d, "heartbeat.interval.ms": 500})
c.subscribe([sys.argv[3]], on_assign=lambda _c, ps: print("ASSIGNED", len(ps), flush=True))
while True:
    c.poll(0.2)
""" % SESSION_MS


def test_a_killed_member_loses_its_partitions_after_the_session_timeout(broker):
    b, topic, group = broker.bootstrap, unique_topic("kill"), unique_topic("g")
    create_topic(b, topic, 4)
    stay = Member(b, group, topic)
    stay.start()
    wait_for(lambda: len(stay.assigned) == 4, 30, what="the first member owning every partition")
    child = subprocess.Popen([sys.executable, "-c", CHILD, b, group, topic], stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(stay.assigned) == 2, 30, what="a rebalance giving the child half")
        os.kill(child.pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: len(stay.assigned) == 4, SESSION_MS / 1000 + 10, what="partitions back after the kill")
        took = time.monotonic() - killed
        print(f"partitions moved {took:.1f} s after kill -9 (session timeout {SESSION_MS / 1000:.0f} s)")
        assert took >= SESSION_MS / 1000 - 1, "not before the session timeout"
    finally:
        child.kill()
        child.wait()
        stay.stop.set()
        stay.join(10)


def test_two_groups_each_read_everything_and_a_restart_resumes_at_the_commit(broker):
    b, topic = broker.bootstrap, unique_topic("twogroups")
    create_topic(b, topic, 3)
    fill(b, topic, 90)

    def read(group, expect):
        c = KafkaConsumer(topic, bootstrap_servers=b, group_id=group, auto_offset_reset="earliest",
                          enable_auto_commit=False, consumer_timeout_ms=4000)
        got = [int(m.value) for m in c]
        c.commit()
        c.close()
        assert sorted(got) == expect, (group, len(got))
        return got

    read("first", list(range(90)))
    read("second", list(range(90)))
    fill(b, topic, 30, start=90)
    read("first", list(range(90, 120)))  # resumes after its commit, nothing twice
    # The committed offsets are what a fresh client reads back, with kafka-python's admin too.
    admin = KafkaAdminClient(bootstrap_servers=b)
    try:
        offsets = admin.list_group_offsets({"first": None})["first"]
    finally:
        admin.close()
    assert sum(o.offset for tp, o in offsets.items() if tp.topic == topic) == 120
    # ListGroups v5 (KIP-848) names each group's type: both are classic groups, and a filter for
    # the new protocol's type lists none of them.
    from confluent_kafka import ConsumerGroupType
    ck = AdminClient({"bootstrap.servers": b})
    listed = ck.list_consumer_groups(types={ConsumerGroupType.CLASSIC}).result(20).valid
    assert {g.group_id: g.type for g in listed} == {"first": ConsumerGroupType.CLASSIC,
                                                    "second": ConsumerGroupType.CLASSIC}
    assert ck.list_consumer_groups(types={ConsumerGroupType.CONSUMER}).result(20).valid == []


def lag_rows(bootstrap: str, group: str) -> dict[int, tuple[str, str, str, str]]:
    out = run("consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group", group).stdout.decode()
    lines = [line for line in out.splitlines() if line.strip()]
    header = lines[0] if not lines[0].startswith("Consumer group") else lines[1]
    assert header.split() == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
                              "CONSUMER-ID", "HOST", "CLIENT-ID"], header
    rows = {}
    for line in lines[lines.index(header) + 1:]:
        f = line.split()
        rows[int(f[2])] = (f[3], f[4], f[5], f[6])
    return rows


def test_lag_members_state_reset_and_delete_with_the_tool(broker):
    b, topic, group = broker.bootstrap, unique_topic("lag"), unique_topic("app")
    create_topic(b, topic, 2)
    fill(b, topic, 40)
    c = Consumer({"bootstrap.servers": b, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": SESSION_MS})
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 20
    while got < 40 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got += 1
    c.commit(asynchronous=False)
    assert got == 40

    # While the member is there: --members and --state show it, and the group cannot be reset.
    members = run("consumer-groups", "--bootstrap-server", b, "--describe", "--group", group, "--members")
    assert re.search(rf"^{re.escape(group)}\s+rdkafka-\S+\s+/\S+\s+rdkafka\s+2$", members.stdout.decode(), re.M), \
        members.stdout.decode()
    state = run("consumer-groups", "--bootstrap-server", b, "--describe", "--group", group, "--state").stdout.decode()
    assert re.search(rf"^{re.escape(group)}\s+127\.0\.0\.1:{broker.port} \(0\)\s+range\s+Stable\s+1$", state, re.M), state
    refused = run("consumer-groups", "--bootstrap-server", b, "--reset-offsets", "--group", group, "--topic", topic,
                  "--to-earliest", "--execute", check=False)
    assert refused.returncode == 1 and "can only be reset if the group" in refused.stderr.decode()
    busy = run("consumer-groups", "--bootstrap-server", b, "--delete", "--group", group, check=False)
    assert busy.returncode == 1 and "The group is not empty" in busy.stderr.decode()
    rows = lag_rows(b, group)
    assert {p: r[2] for p, r in rows.items()} == {0: "0", 1: "0"} and all(r[3].startswith("rdkafka") for r in rows.values())
    kpa = KafkaAdminClient(bootstrap_servers=b)
    try:
        busy_delete = kpa.delete_group_offsets(group, [KPTopicPartition(topic, 0)])
    finally:
        kpa.close()
    assert [getattr(e, "__name__", type(e).__name__) for e in busy_delete.values()] == ["GroupSubscribedToTopicError"]
    c.close()

    # Away from the group, lag grows with every record produced; the admin APIs agree.
    fill(b, topic, 25, start=40)
    rows = lag_rows(b, group)
    assert sum(int(r[2]) for r in rows.values()) == 25 and all(r[3] == "-" for r in rows.values())
    admin = AdminClient({"bootstrap.servers": b})
    from confluent_kafka import ConsumerGroupTopicPartitions
    listed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(10)
    committed = {tp.partition: tp.offset for tp in listed.topic_partitions}
    assert committed == {p: int(r[0]) for p, r in rows.items()}
    groups = run("consumer-groups", "--bootstrap-server", b, "--list").stdout.decode().split()
    assert group in groups

    # Reset to the earliest: a dry run changes nothing, --execute does.
    dry = run("consumer-groups", "--bootstrap-server", b, "--reset-offsets", "--group", group, "--topic", topic,
              "--to-earliest").stdout.decode()
    assert re.search(rf"^{re.escape(group)}\s+{re.escape(topic)}\s+0\s+0$", dry, re.M), dry
    assert sum(int(r[2]) for r in lag_rows(b, group).values()) == 25
    run("consumer-groups", "--bootstrap-server", b, "--reset-offsets", "--group", group, "--topic", topic,
        "--to-earliest", "--execute")
    assert sum(int(r[2]) for r in lag_rows(b, group).values()) == 65
    run("consumer-groups", "--bootstrap-server", b, "--reset-offsets", "--group", group, "--topic", f"{topic}:1",
        "--to-offset", "3", "--execute")
    assert lag_rows(b, group)[1][0] == "3"
    kp = KafkaConsumer(bootstrap_servers=b, group_id=group, enable_auto_commit=False)
    assert kp.committed(KPTopicPartition(topic, 1)) == 3
    kp.close()

    # OffsetDelete through kafka-python's admin API: partition 1's commit goes, 0's stays.
    kpa = KafkaAdminClient(bootstrap_servers=b)
    try:
        result = kpa.delete_group_offsets(group, [KPTopicPartition(topic, 1)])
    finally:
        kpa.close()
    assert all(getattr(e, "errno", 0) in (0, None) for e in result.values()), result
    rows = lag_rows(b, group)
    assert 1 not in rows and rows[0][0] != "-", rows  # only partitions with a commit are listed

    deleted = run("consumer-groups", "--bootstrap-server", b, "--delete", "--group", group).stdout.decode()
    assert deleted.strip() == f"Deletion of requested consumer groups ('{group}') was successful."
    gone = run("consumer-groups", "--bootstrap-server", b, "--describe", "--group", group, check=False)
    assert gone.returncode == 1 and f"Consumer group '{group}' does not exist." in gone.stderr.decode()
    bad = run("consumer-groups", "--bootstrap-server", b, "--describe", check=False)
    assert bad.returncode != 0 and "--group" in bad.stderr.decode()


def test_committed_offsets_survive_the_coordinators_kill(cluster_factory):
    """Consumers commit while the broker coordinating their group is killed -9: they find the
    new coordinator, no committed offset is lost or goes backwards, and they carry on."""
    nodes = cluster_factory(3, props={"offsets.topic.num.partitions": "6", "min.insync.replicas": "2"})
    bootstrap = ",".join(n.bootstrap for n in nodes)
    topic, group = "orders", "billing"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, 3, 3)]).values():
        f.result(60)  # once took over 20 s in CI (see the session note); the broker logs slow forwards
    total = 3000
    fill(bootstrap, topic, total)

    seen: dict[tuple[int, int], int] = {}
    commits: list[dict[int, int]] = []
    errors: list[str] = []
    stop = threading.Event()

    def consume():
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, "session.timeout.ms": SESSION_MS})
        c.subscribe([topic])
        n = 0
        while not stop.is_set() and len(seen) < total:
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            seen[(m.partition(), m.offset())] = seen.get((m.partition(), m.offset()), 0) + 1
            n += 1
            if n % 50 == 0:
                time.sleep(0.05)  # slow enough that the kill lands mid-way
                try:
                    done = c.commit(asynchronous=False)
                    commits.append({tp.partition: tp.offset for tp in done if tp.error is None and tp.offset >= 0})
                except KafkaException as e:
                    errors.append(str(e))
        try:
            done = c.commit(asynchronous=False)
            commits.append({tp.partition: tp.offset for tp in done if tp.error is None and tp.offset >= 0})
        except KafkaException as e:
            errors.append(str(e))
        c.close()

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    wait_for(lambda: len(seen) > 600, 30, what="the consumer under way")
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept: a collected client never answers
    coord = admin.describe_consumer_groups([group])[group].result(10).coordinator
    victim = next(n for n in nodes if n.node_id == coord.id)
    before = len(seen)
    victim.kill9()
    killed = time.monotonic()
    worker.join(90)
    stop.set()
    assert not worker.is_alive(), "the consumer stalled after the coordinator died"
    print(f"coordinator {coord.id} killed at {before} records; finished {time.monotonic() - killed:.1f} s later, "
          f"{sum(v - 1 for v in seen.values())} records read twice, commit errors: {len(errors)}")
    assert len(seen) == total, "every record read at least once"

    # The last commit of each partition is what the group has now, and it never went backwards.
    survivors = ",".join(n.bootstrap for n in nodes if n is not victim)
    kp = KafkaConsumer(bootstrap_servers=survivors, group_id=group, enable_auto_commit=False)
    try:
        now = {p: kp.committed(KPTopicPartition(topic, p)) for p in range(3)}
    finally:
        kp.close()
    last: dict[int, int] = {}
    for c in commits:
        for p, o in c.items():
            assert o >= last.get(p, 0), f"partition {p} commit went back from {last[p]} to {o}"
            last[p] = o
    assert now == {p: last[p] for p in range(3)}, (now, last)
    assert sum(now.values()) == total


def test_console_consumer_group_resumes_where_the_group_left_off(broker):
    b, topic, group = broker.bootstrap, unique_topic("cc"), unique_topic("cli")
    create_topic(b, topic, 2)
    run("console-producer", "--bootstrap-server", b, "--topic", topic, stdin="".join(f"{i}\n" for i in range(10)).encode())
    first = run("console-consumer", "--bootstrap-server", b, "--topic", topic, "--group", group, "--from-beginning",
                "--max-messages", "6").stdout.decode().split()
    assert len(first) == 6
    rows = lag_rows(b, group)
    assert sum(int(r[0]) for r in rows.values() if r[0] != "-") == 6, rows
    run("console-producer", "--bootstrap-server", b, "--topic", topic, stdin=b"10\n11\n")
    second = run("console-consumer", "--bootstrap-server", b, "--topic", topic, "--group", group,
                 "--timeout-ms", "3000").stdout.decode().split()
    assert sorted(int(x) for x in first + second) == list(range(12)), (first, second)
    both = run("console-consumer", "--bootstrap-server", b, "--topic", topic, "--group", group, "--partition", "0",
               check=False)
    assert both.returncode != 0 and "leave out --partition" in both.stderr.decode()


def test_cooperative_sticky_moves_only_what_it_must_and_a_static_member_comes_back(broker):
    b, topic = broker.bootstrap, unique_topic("coop")
    create_topic(b, topic, 4)
    coop = {"partition.assignment.strategy": "cooperative-sticky"}
    group = unique_topic("coop")
    a, c = Member(b, group, topic, **coop), Member(b, group, topic, **coop)
    a.start()
    c.start()
    wait_for(lambda: len(a.assigned) + len(c.assigned) == 4 and a.assigned and c.assigned, 30, what="two members")
    before = {"a": set(a.assigned), "c": set(c.assigned)}
    third = Member(b, group, topic, **coop)
    third.start()
    wait_for(lambda: len(third.assigned) == 1 and len(a.assigned) + len(c.assigned) == 3, 30, what="third member")
    assert a.assigned <= before["a"] and c.assigned <= before["c"], "sticky: nobody got another's partition"
    for m in (a, c, third):
        m.stop.set()
        m.join(10)

    static_group = unique_topic("static")
    first = Member(b, static_group, topic, **{"group.instance.id": "worker-1"})
    first.start()
    wait_for(lambda: len(first.assigned) == 4, 30, what="the static member's partitions")
    first.stop.set()
    first.join(10)
    again = Member(b, static_group, topic, **{"group.instance.id": "worker-1"})
    started = time.monotonic()
    again.start()
    wait_for(lambda: len(again.assigned) == 4, SESSION_MS / 1000, what="the static member back")
    print(f"static member back with its partitions in {time.monotonic() - started:.1f} s")
    again.stop.set()
    again.join(10)


def test_a_static_member_that_restarts_in_time_causes_no_rebalance(broker):
    """KIP-345 with librdkafka (its suite's 0102): two consumers with `group.instance.id`; one
    closes (a static member does not leave) and a new process with the same instance id joins
    within the session timeout. It gets its partitions back and the other member is never
    asked to give up its own (no revoke)."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("static", 4, 1)])["static"].result(15)
    revoked: dict[str, int] = {"a": 0, "b": 0}
    assigned: dict[str, list] = {"a": [], "b": []}

    def consumer(name: str) -> Consumer:
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "static-group", "group.instance.id": name,
                      "session.timeout.ms": 30000, "auto.offset.reset": "earliest"})

        def on_assign(_c, parts, name=name):
            assigned[name] = sorted(p.partition for p in parts)

        def on_revoke(_c, parts, name=name):
            if parts:
                revoked[name] += 1
        c.subscribe(["static"], on_assign=on_assign, on_revoke=on_revoke)
        return c

    a, b = consumer("a"), consumer("b")
    deadline = time.monotonic() + 60
    while not (assigned["a"] and assigned["b"] and len(assigned["a"]) + len(assigned["b"]) == 4):
        a.poll(0.2)
        b.poll(0.2)
        assert time.monotonic() < deadline, assigned
    before = dict(assigned)
    revoked_before = revoked["b"]
    a.close()  # static: no LeaveGroup
    assigned["a"] = []
    a2 = consumer("a")
    deadline = time.monotonic() + 30
    while not assigned["a"]:
        a2.poll(0.2)
        b.poll(0.2)
        assert time.monotonic() < deadline, "the restarted member gets its partitions"
    for _ in range(10):
        a2.poll(0.2)
        b.poll(0.2)
    assert assigned["a"] == before["a"], "the same partitions as before the restart"
    assert revoked["b"] == revoked_before, "the other member was not asked to rebalance"
    a2.close()
    b.close()
