"""Racks: six nodes in three racks (three voters and three broker-only nodes, each with
broker.rack), where every new partition's replicas land in three racks, a reassignment proposal
keeps them so, and a consumer with client.rack reads from the follower in its own rack (KIP-392,
replica.selector.class=RackAwareReplicaSelector) instead of the leader."""

from __future__ import annotations

import json
import subprocess

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import REPO, Broker, _used_by
from support import wait_until
from test_cluster_ops import create
from test_console import metrics

RACKS = ["rack-a", "rack-b", "rack-c"]  # nodes 0-1, 2-3 and 4-5: a plain rotation would put two replicas in one
SELECTOR = "org.apache.kafka.common.replica.RackAwareReplicaSelector"


def bytes_out(node: Broker, topic: str) -> float:
    samples = metrics(node).get("tern_topic_bytes_out", [])
    return sum(s.value for s in samples if s.labels.get("topic") == topic)


def test_six_nodes_in_three_racks_place_replicas_across_racks_and_consumers_read_in_their_rack(
        cluster_factory, tmp_path, request):
    voters = cluster_factory(3, per_node=lambda i, c, k: {"broker.rack": RACKS[i // 2], "replica.selector.class": SELECTOR})
    quorum = next(l for l in voters[0].config_file.read_text().splitlines()
                  if l.startswith("controller.quorum.voters=")).split("=", 1)[1]
    nodes = list(voters)
    for i in range(3, 6):
        workdir = tmp_path / f"node-{i}"
        workdir.mkdir()
        extra = {"process.roles": "broker", "controller.quorum.voters": quorum, "broker.rack": RACKS[i // 2],
                 "replica.selector.class": SELECTOR}
        nodes.append(_used_by(request, Broker(workdir, node_id=i, extra=extra)))
    for n in nodes[3:]:
        n.start(wait=False)
    for n in nodes[3:]:
        n.wait_ready()
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    wait_until(lambda: len(admin.list_topics(timeout=10).brokers) == 6, 30, "six brokers registered")
    rack_of = {b.id: b.rack for b in admin.describe_cluster().result(10).nodes}
    assert rack_of == {i: RACKS[i // 2] for i in range(6)}, rack_of
    # DescribeConfigs on a broker names its rack too (librdkafka's 0101 counts racks that way).
    from confluent_kafka.admin import ConfigResource
    res = ConfigResource(ConfigResource.Type.BROKER, "4")
    described = admin.describe_configs([res])[res].result(20)
    assert described["broker.rack"].value == RACKS[2]

    create(admin, NewTopic("spread", 12, 3), NewTopic("near", 1, 3))
    spread = wait_until(lambda: admin.list_topics("spread", timeout=10).topics["spread"].partitions, 20,
                        "spread's metadata")
    for p in spread.values():
        assert sorted(rack_of[r] for r in p.replicas) == RACKS, (p.id, p.replicas)
    leaders = [p.leader for p in spread.values()]
    assert sorted(set(leaders)) == list(range(6)), leaders  # leadership over all six brokers

    # kafka-reassign-partitions.sh --generate spreads over racks too (and not with --disable-rack-aware).
    (tmp_path / "topics.json").write_text(json.dumps({"topics": [{"topic": "spread"}], "version": 1}))
    tool = [str(REPO / "bin" / "kafka-reassign-partitions.sh"), "--bootstrap-server", bootstrap, "--generate",
            "--topics-to-move-json-file", str(tmp_path / "topics.json"), "--broker-list", "0,1,2,3,4,5"]
    out = subprocess.run(tool, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out
    proposed = json.loads(out.stdout.splitlines()[4])["partitions"]
    assert len(proposed) == 12
    assert all(sorted(rack_of[r] for r in p["replicas"]) == RACKS for p in proposed), proposed
    plain = subprocess.run([*tool, "--disable-rack-aware"], capture_output=True, text=True, timeout=60)
    unaware = json.loads(plain.stdout.splitlines()[4])["partitions"]
    assert any(len({rack_of[r] for r in p["replicas"]}) < 3 for p in unaware), unaware

    # Records in "near", all replicas in sync; then a consumer in a follower's rack reads them there.
    near = admin.list_topics("near", timeout=10).topics["near"].partitions[0]
    leader = near.leader
    follower = next(r for r in near.replicas if r != leader)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(300):
        producer.produce("near", value=f"v{i}".encode())
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "near-readers", "client.rack": rack_of[follower],
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition("near", 0, 0)])
        got = []
        wait_until(lambda: got.extend(m.value() for m in consumer.consume(100, 1) if not m.error()) or len(got) >= 300,
                   60, "300 records consumed")
        assert got == [f"v{i}".encode() for i in range(300)]
    finally:
        consumer.close()
    assert bytes_out(nodes[follower], "near") > 0, f"follower {follower} in {rack_of[follower]} served nothing"
    assert bytes_out(nodes[leader], "near") == 0, f"leader {leader} served records to a consumer in another rack"

    # Without client.rack the leader serves, as before.
    plain_consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "near-plain",
                               "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        plain_consumer.assign([TopicPartition("near", 0, 0)])
        got = []
        wait_until(lambda: got.extend(m.value() for m in plain_consumer.consume(100, 1) if not m.error())
                   or len(got) >= 300, 60, "300 records consumed from the leader")
    finally:
        plain_consumer.close()
    assert bytes_out(nodes[leader], "near") > 0
