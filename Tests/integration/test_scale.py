"""Many partitions on real processes: a node that runs out of file descriptors refuses the
partitions it cannot hold and stays up, the open-files limit is raised at start-up, and a large
CreateTopics keeps the metadata quorum's leader and every broker unfenced."""

from __future__ import annotations

import os
import re
import threading
import time

from confluent_kafka.admin import AdminClient, NewTopic

from conftest import TERN_BIN
from support import consume_all, create_topic, produce, unique_topic, wait_until
from test_quorum import status, wait_for_leader


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def limits(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/limits") as f:
        line = next(x for x in f if x.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    return int(soft), int(hard)


def test_the_soft_open_files_limit_is_raised_to_the_hard_one(broker_factory):
    b = broker_factory(command=["prlimit", "--nofile=1024:4096", "--", str(TERN_BIN), "server-start"])
    assert limits(b.pid) == (4096, 4096)
    assert "open files limit raised from 1024 to 4096" in b.log_file.read_text()
    # Low enough to be named, with what it means.
    assert re.search(r"may open only 4096 files \(ulimit -n\).*about \d+ partition replicas", b.log_file.read_text())


def test_a_node_out_of_file_descriptors_refuses_partitions_and_stays_up(broker_factory):
    """600 descriptors, 256 of them kept back: a 1,000-partition topic cannot be held whole.
    Before, each partition held three files and the next metadata write failed with EMFILE,
    which stopped the node."""
    b = broker_factory(command=["prlimit", "--nofile=600:600", "--", str(TERN_BIN), "server-start"])
    small = unique_topic("small")
    create_topic(b.bootstrap, small, 1)
    big = unique_topic("big")
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(big, 1000, 1)], operation_timeout=30)[big].result(60)
    refusals = re.compile(r"cannot host (\d+) partition replica\(s\) \(([^)]*)\): this process may open 600 files")

    def accounted():
        # The topic is applied in steps; the refusal line is written again while the count grows.
        found = refusals.findall(b.log_file.read_text())
        held = sum(1 for d in (b.log_dir).iterdir() if d.name.startswith(big + "-"))
        return found and held + int(found[-1][0]) == 1000 and (held, int(found[-1][0]))

    held, refused = wait_until(accounted, 30, "every partition held or named as refused")
    print(f"held {held} partitions of {big}, refused {refused}, {open_fds(b.pid)} descriptors open")
    log = b.log_file.read_text()
    # One descriptor per partition (its segment's .log), not three: about 600 - 256 - sockets.
    assert held >= 250
    assert open_fds(b.pid) <= 600 - 128
    # Still up: the metadata log takes new records and the earlier topic serves as before.
    assert b.alive()
    assert "stopping the node" not in log and "Too many open files" not in log
    later = unique_topic("later")
    create_topic(b.bootstrap, later, 1)
    produce(b.bootstrap, small, [(b"k", b"v%d" % i) for i in range(20)])
    assert len(consume_all(b.bootstrap, small)[0]) == 20
    assert b.alive()
    # The topic goes again, its descriptors with it, and the partition that found the node full
    # is opened with the next metadata change.
    admin.delete_topics([big], operation_timeout=30)[big].result(60)
    wait_until(lambda: not any(d.name.startswith(big + "-") for d in b.log_dir.iterdir()), 30, "the big topic gone")
    wait_until(lambda: open_fds(b.pid) < 200, 30, "descriptors released")
    produce(b.bootstrap, later, [(None, b"x")])
    assert len(consume_all(b.bootstrap, later)[0]) == 1


def test_a_large_create_topics_does_not_stall_the_metadata_quorum(cluster_factory):
    """2,000 partitions with RF 3: every node opens 2,000 logs (on its Raft loop, at most 512 a turn),
    and the quorum keeps its leader and epoch throughout, no broker fenced."""
    nodes = cluster_factory(3, props={"default.replication.factor": "3"})
    leader, epoch, _ = wait_for_leader(nodes[0])
    topic = unique_topic("wide")
    admin = AdminClient({"bootstrap.servers": nodes[0].bootstrap})
    # While the logs open, the quorum is asked who leads, again and again, through each node:
    # each answer comes from the node's Raft loop, so a blocked loop shows as a slow answer.
    answers: list[float] = []
    done = threading.Event()

    def ask():
        while not done.is_set():
            for n in nodes:
                t0 = time.monotonic()
                status(n)
                answers.append(time.monotonic() - t0)

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    started = time.monotonic()
    admin.create_topics([NewTopic(topic, 2000, 3)], operation_timeout=60)[topic].result(90)

    def all_open():
        return all(sum(1 for d in n.log_dir.iterdir() if d.name.startswith(topic + "-")) == 2000 for n in nodes)

    try:
        wait_until(all_open, 120, "2,000 partition directories on every node")
    finally:
        done.set()
        asker.join(30)
    opened = time.monotonic() - started
    print(f"{len(answers)} DescribeQuorum answers while the logs opened, slowest {max(answers):.2f} s")
    assert len(answers) >= 10 and max(answers) < 2.0, sorted(answers)[-5:]

    def all_led():
        md = admin.list_topics(topic, timeout=10).topics[topic]
        return len(md.partitions) == 2000 and all(p.leader >= 0 and len(p.isrs) == 3 for p in md.partitions.values())

    wait_until(all_led, 60, "every partition led with a full ISR")
    print(f"2,000 partitions x 3 replicas created and opened in {opened:.1f} s")
    s = status(nodes[0])
    assert (int(s["LeaderId"]), int(s["LeaderEpoch"])) == (leader, epoch), s
    for n in nodes:
        text = n.log_file.read_text()
        assert "metadata quorum has no leader" not in text, n.log_file
        assert "missed heartbeats" not in text, n.log_file
        assert "was fenced by the controller" not in text, n.log_file
    # The new partitions take records on every leader.
    produce(nodes[1].bootstrap, topic, [(b"k%d" % i, b"v") for i in range(300)])
