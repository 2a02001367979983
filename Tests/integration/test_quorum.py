"""The metadata quorum across real processes: election, kill -9 of the active controller,
rejoin after restart, and an honest answer when a majority is gone."""

from __future__ import annotations

import re
import subprocess
import time

from conftest import TERN_BIN
from support import wait_until

ELECTION_LIMIT_S = 5.0


def describe(node, flag: str = "--status") -> subprocess.CompletedProcess:
    return subprocess.run([str(TERN_BIN), "metadata-quorum", "--bootstrap-server", node.bootstrap, "describe", flag],
                          capture_output=True, text=True, timeout=20)


def status(node) -> dict[str, str]:
    out = describe(node)
    if out.returncode != 0:
        return {}
    return dict(re.findall(r"^(\w+):\s+(.*)$", out.stdout, re.M))


def wait_for_leader(node, *, not_in: set[int] = frozenset(), timeout: float = 15.0) -> tuple[int, int, float]:
    """Polls DescribeQuorum through `node` until a leader outside `not_in` is reported.
    Returns (leader id, epoch, seconds waited)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        s = status(node)
        if s.get("LeaderId", "-1") not in ("-1", "") and int(s["LeaderId"]) not in not_in:
            return int(s["LeaderId"]), int(s["LeaderEpoch"]), time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"no leader outside {set(not_in)} within {timeout} s; last answer: {describe(node).stdout}"
                         f"{describe(node).stderr}")


def test_three_nodes_elect_a_controller_and_fail_over_after_kill9(cluster_factory):
    nodes = cluster_factory(3)
    leader, epoch, took = wait_for_leader(nodes[0])
    print(f"first election: node {leader} in epoch {epoch} after {took:.2f} s")
    assert took < ELECTION_LIMIT_S
    s = status(nodes[1])
    assert s["CurrentVoters"] == "[0,1,2]"
    assert s["LeaderId"] == str(leader)  # every node reports the same leader
    assert len(s["ClusterId"]) == 22

    victim = nodes[leader]
    survivor = nodes[(leader + 1) % 3]
    victim.kill9()
    killed_at = time.monotonic()
    new_leader, new_epoch, _ = wait_for_leader(survivor, not_in={leader})
    failover = time.monotonic() - killed_at
    print(f"fail-over: node {new_leader} leads epoch {new_epoch} {failover:.2f} s after kill -9 of node {leader}")
    assert failover < ELECTION_LIMIT_S
    assert new_epoch > epoch

    # The killed node restarts and rejoins as a follower that has caught up.
    victim.start()  # serves once the quorum (which has a leader) has unfenced it
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        out = describe(victim, "--replication")
        rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()[1:] if line.strip()}
        if out.returncode == 0 and str(leader) in rows and rows[str(leader)][5] == "Follower" \
                and rows[str(leader)][2] == "0":
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"node {leader} did not rejoin as a caught-up follower:\n{out.stdout}{out.stderr}")
    assert rows[str(new_leader)][5] == "Leader"


def test_quorum_without_majority_says_so_instead_of_hanging(cluster_factory):
    nodes = cluster_factory(3)
    leader, _, _ = wait_for_leader(nodes[0])
    others = [n for n in nodes if n.node_id != leader]
    nodes[leader].kill9()
    others[0].kill9()
    time.sleep(4)  # past the fetch timeout: the survivor knows it has no leader
    started = time.monotonic()
    out = describe(others[1])
    assert time.monotonic() - started < 15
    assert out.returncode == 1
    assert "no leader" in out.stderr and "majority" in out.stderr
    deadline = time.monotonic() + 10
    while "cannot reach a majority" not in others[1].log_file.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "cannot reach a majority" in others[1].log_file.read_text()


SESSION_TIMEOUT_S = 9.0


def leaders(admin, topic: str) -> dict[int, tuple[int, list[int], list[int]]]:
    md = admin.list_topics(topic, timeout=10)
    return {p.id: (p.leader, list(p.replicas), list(p.isrs)) for p in md.topics[topic].partitions.values()}


def test_killed_brokers_partitions_get_new_leaders_from_their_isr(cluster_factory):
    from confluent_kafka.admin import AdminClient, NewTopic

    nodes = cluster_factory(3)
    controller, _, _ = wait_for_leader(nodes[0])
    admin = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes)})
    # DescribeCluster. A node lists the brokers its own metadata image holds as registered, which
    # can trail the controller by a moment right after start-up.
    cluster = wait_until(lambda: (c := admin.describe_cluster().result(10)) and len(c.nodes) == 3 and c, 10,
                         "every broker listed by DescribeCluster")
    assert sorted(n.id for n in cluster.nodes) == [0, 1, 2]
    assert cluster.controller.id == controller
    assert len(cluster.cluster_id) == 22
    for f in admin.create_topics([NewTopic("purchases", 3, 3)]).values():
        f.result(20)
    before = leaders(admin, "purchases")
    assert sorted(tuple(r) for _, r, _ in before.values()) == [(0, 1, 2), (1, 2, 0), (2, 0, 1)]
    assert all(leader == replicas[0] for leader, replicas, _ in before.values())

    # Kill a broker that is not the active controller, so the timing is the session timeout alone.
    victim = next(n for n in nodes if n.node_id != controller)
    led = [p for p, (leader, _, _) in before.items() if leader == victim.node_id]
    assert led
    victim.kill9()
    killed_at = time.monotonic()
    survivor_admin = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes if n is not victim)})
    while True:
        now = leaders(survivor_admin, "purchases")
        if all(now[p][0] not in (victim.node_id, -1) for p in led):
            break
        assert time.monotonic() - killed_at < SESSION_TIMEOUT_S + 5, f"leaders not moved: {now}"
        time.sleep(0.2)
    print(f"partitions {led} re-led {time.monotonic() - killed_at:.1f} s after kill -9 of broker {victim.node_id}")
    for p, (leader, replicas, isr) in now.items():
        assert leader in before[p][2], "new leader comes from the old ISR"
        assert victim.node_id not in isr
        assert leader in isr
        assert replicas == before[p][1]  # replicas never change by themselves


def test_topics_survive_a_controller_kill_unchanged(cluster_factory):
    from confluent_kafka.admin import AdminClient, NewTopic

    nodes = cluster_factory(3)
    controller, _, _ = wait_for_leader(nodes[0])
    admin = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes)})
    for f in admin.create_topics([NewTopic(f"t{i}", 2, 1) for i in range(5)]).values():
        f.result(20)
    # Metadata reaches each node when it has fetched the records: wait until node 0 has all five.
    deadline = time.monotonic() + 10
    while True:
        describe_before = subprocess.run([str(TERN_BIN), "topics", "--bootstrap-server", nodes[0].bootstrap, "--describe"],
                                         capture_output=True, text=True, timeout=20).stdout
        if describe_before.count("PartitionCount") == 5 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    nodes[controller].kill9()
    other = nodes[(controller + 1) % 3]
    wait_for_leader(other, not_in={controller})
    ids_before = {line.split("\t")[0]: line.split("\t")[1] for line in describe_before.splitlines() if line.startswith("Topic:")}
    describe_after = subprocess.run([str(TERN_BIN), "topics", "--bootstrap-server", other.bootstrap, "--describe"],
                                    capture_output=True, text=True, timeout=20).stdout
    ids_after = {line.split("\t")[0]: line.split("\t")[1] for line in describe_after.splitlines() if line.startswith("Topic:")}
    assert ids_after == ids_before and len(ids_after) == 5  # same topics, same ids

