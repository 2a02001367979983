"""Metadata snapshots: the controller snapshots its image every so many bytes of records and
drops the log before it; a node that was down while that happened catches up by FetchSnapshot;
a node restarted with a snapshot comes back from it. Real processes, kill -9."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient, NewTopic

from support import wait_until

SNAPSHOT_EVERY = "2000"  # bytes of records: a snapshot every few dozen records


def metadata_dir(node):
    return node.log_dir / "__cluster_metadata-0"


def described(bootstrap: str) -> dict:
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return {name: sorted((p.id, tuple(p.replicas)) for p in t.partitions.values())
            for name, t in md.topics.items() if name.startswith("snap-")}


def test_lagging_node_catches_up_from_a_snapshot_and_restarts_from_its_own(cluster_factory):
    nodes = cluster_factory(3, props={"metadata.log.max.record.bytes.between.snapshots": SNAPSHOT_EVERY})
    admin = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes[:2])})
    nodes[2].kill9()
    # Metadata names the active controller; wait until the survivors name one of themselves,
    # since a client holding the dead controller's id would wait for it (see the session note).
    wait_until(lambda: admin.list_topics(timeout=5).controller_id in (0, 1), 20, "a controller among the survivors")
    admin = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes[:2])})
    for first in range(0, 60, 20):
        futures = admin.create_topics([NewTopic(f"snap-{i:02d}", 2, 2) for i in range(first, first + 20)])
        for f in futures.values():
            f.result(30)

    # The survivors took snapshots and their logs no longer start at offset 0.
    for n in nodes[:2]:
        names = sorted(p.name for p in metadata_dir(n).iterdir())
        assert any(x.endswith(".checkpoint") for x in names), names
        entries = [x for x in names if x.endswith(".entries")]
        assert len(entries) == 1 and int(entries[0].split(".")[0]) > 0, names
    # The topics were created through either survivor; node 0 applies them a moment later.
    def all_sixty():
        d = described(nodes[0].bootstrap)
        return d if len(d) == 60 else None

    expected = wait_until(all_sixty, 10, "node 0 describing all 60 topics")
    assert len(expected) == 60

    # Node 2's log ends before the leader's log starts: only FetchSnapshot can bring it back.
    nodes[2].start()
    wait_until(lambda: "installed the leader's metadata snapshot" in nodes[2].log_file.read_text(), 30,
               "node 2 installing the leader's snapshot")
    wait_until(lambda: described(nodes[2].bootstrap) == expected, 30, "node 2 describing every topic")
    assert any(p.name.endswith(".checkpoint") for p in metadata_dir(nodes[2]).iterdir())

    # A node restarted after kill -9 loads its own snapshot, then the log after it.
    nodes[0].kill9()
    nodes[0].start()
    wait_until(lambda: "snapshot at offset" in nodes[0].log_file.read_text().split("==== test harness")[-1], 10,
               "node 0 loading its snapshot")
    wait_until(lambda: described(nodes[0].bootstrap) == expected, 30, "node 0 describing every topic")
    # And the cluster still makes metadata changes.
    for f in admin.create_topics([NewTopic("snap-after", 1, 3)]).values():
        f.result(30)
    wait_until(lambda: "snap-after" in described(nodes[2].bootstrap), 20, "a topic created after the restarts")
