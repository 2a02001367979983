"""The metadata quorum across real processes: election, kill -9 of the active controller,
rejoin after restart, and an honest answer when a majority is gone."""

from __future__ import annotations

import re
import subprocess
import time

from conftest import TERN_BIN

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
    victim.start()
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
