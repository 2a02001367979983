"""Replication under failure: acks=all writes survive repeated kill -9 of partition leaders.

Three nodes, a topic with 3 partitions, replication factor 3 and min.insync.replicas=2. A
confluent-kafka producer (acks=all, idempotent) sends numbered records without pause while the
test kills -9 a partition leader, waits for the new leader, restarts the old one, and repeats
against each broker. Afterwards every acknowledged record must be present exactly once, in
send order, in its partition."""

from __future__ import annotations

import os
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from support import wait_until

TOPIC = "lab"
KILLS = 6
FAILOVER_LIMIT_S = 9.0 + 5.0  # broker.session.timeout.ms + 5 s


def partition_leaders(admin) -> dict[int, tuple[int, list[int]]]:
    md = admin.list_topics(TOPIC, timeout=10)
    return {p.id: (p.leader, list(p.isrs)) for p in md.topics[TOPIC].partitions.values()}


def test_acknowledged_writes_survive_repeated_leader_kills(cluster_factory):
    nodes = cluster_factory(3)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(TOPIC, 3, 3, config={"min.insync.replicas": "2"})]).values():
        f.result(20)
    wait_until(lambda: all(len(isr) == 3 for _, isr in partition_leaders(admin).values()), 20, "full ISR")

    acked: dict[int, list[tuple[int, int]]] = {0: [], 1: [], 2: []}  # partition -> (offset, value)
    ack_times: list[float] = []
    errors: list[str] = []
    stop = threading.Event()

    def produce():
        p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5,
                      "message.timeout.ms": 60000, "retry.backoff.ms": 100})

        def on_delivery(err, msg):
            if err is None:
                acked[msg.partition()].append((msg.offset(), int(msg.value())))
                ack_times.append(time.monotonic())
            else:
                errors.append(str(err))

        i = 0
        while not stop.is_set():
            try:
                p.produce(TOPIC, value=str(i).encode(), partition=i % 3, on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            p.poll(0.0005 if i % 20 else 0.002)
        p.flush(90)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    time.sleep(2)

    failovers = []
    for round_ in range(KILLS):
        partition = round_ % 3
        leaders = partition_leaders(admin)
        victim_id = leaders[partition][0]
        victim = nodes[victim_id]
        led = [p for p, (leader, _) in leaders.items() if leader == victim_id]
        victim.kill9()
        killed = time.monotonic()
        others = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes if n is not victim)})
        wait_until(lambda: all(partition_leaders(others)[p][0] not in (victim_id, -1) for p in led), FAILOVER_LIMIT_S + 5,
                   f"new leaders for {led} after killing broker {victim_id}")
        failovers.append(time.monotonic() - killed)
        victim.start()
        wait_until(lambda: all(len(isr) == 3 for _, isr in partition_leaders(others).values()), 30,
                   f"broker {victim_id} back in every ISR")
        time.sleep(1)

    stop.set()
    producer.join(120)
    assert not producer.is_alive()
    gaps = [b - a for a, b in zip(ack_times, ack_times[1:])]
    total_acked = sum(len(v) for v in acked.values())
    print(f"kills: {KILLS}, kill-to-new-leader seconds: {[round(f, 1) for f in failovers]}, "
          f"records acknowledged: {total_acked}, longest producer stall: {max(gaps):.1f} s, "
          f"delivery errors: {len(errors)}")
    assert total_acked > 1000
    assert all(f < FAILOVER_LIMIT_S for f in failovers), failovers

    # Read every partition back from the beginning to its end.
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "checker", "enable.auto.commit": False})
    ends = {}
    for p in range(3):
        _, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
        ends[p] = high
    consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(3)])
    seen: dict[int, list[tuple[int, int]]] = {0: [], 1: [], 2: []}
    deadline = time.monotonic() + 60
    while any((seen[p][-1][0] + 1 if seen[p] else 0) < ends[p] for p in range(3)) and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and m.error() is None:
            seen[m.partition()].append((m.offset(), int(m.value())))
    consumer.close()

    for p in range(3):
        offsets = [o for o, _ in seen[p]]
        assert offsets == list(range(ends[p])), f"partition {p}: offsets not dense"
        values = [v for _, v in seen[p]]
        assert len(values) == len(set(values)), f"partition {p}: a record appears twice"
        assert values == sorted(values), f"partition {p}: records out of send order"
        stored = dict(seen[p])
        for offset, value in acked[p]:
            assert stored.get(offset) == value, f"partition {p}: acknowledged record {value} at offset {offset} lost"


def test_paused_leader_is_fenced_and_never_acknowledges_as_leader_after(cluster_factory):
    """SIGSTOP a partition leader for longer than the session timeout: its partitions move, and
    after SIGCONT it follows the new leader (truncating if needed) without acknowledging any
    acks=all write as leader; every acknowledged record is still there exactly once."""
    import signal as sig

    nodes = cluster_factory(3)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(TOPIC, 3, 3, config={"min.insync.replicas": "2"})]).values():
        f.result(20)
    wait_until(lambda: all(len(isr) == 3 for _, isr in partition_leaders(admin).values()), 20, "full ISR")
    victim_id = partition_leaders(admin)[0][0]
    victim = nodes[victim_id]

    acked: list[tuple[int, int, int]] = []
    failed: list[str] = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5,
                  "message.timeout.ms": 20000})

    def on_delivery(err, msg):
        if err is None:
            acked.append((msg.partition(), msg.offset(), int(msg.value())))
        else:
            failed.append(f"{msg.partition()}:{err.str()}")

    def send(n0, n):
        for i in range(n0, n0 + n):
            p.produce(TOPIC, value=str(i).encode(), partition=i % 3, on_delivery=on_delivery)
            p.poll(0)

    send(0, 3000)
    p.flush(30)
    os.kill(victim.pid, sig.SIGSTOP)
    try:
        paused_at = time.monotonic()
        others = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes if n is not victim)})
        wait_until(lambda: partition_leaders(others)[0][0] not in (victim_id, -1), FAILOVER_LIMIT_S + 5,
                   "a new leader for partition 0 while the old one is paused")
        print(f"paused leader {victim_id} replaced after {time.monotonic() - paused_at:.1f} s")
        send(3000, 3000)
        p.flush(60)
    finally:
        os.kill(victim.pid, sig.SIGCONT)
    send(6000, 3000)
    p.flush(60)
    wait_until(lambda: all(len(isr) == 3 for _, isr in partition_leaders(admin).values()), 30,
               f"broker {victim_id} back in every ISR after SIGCONT")

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "checker", "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, q, OFFSET_BEGINNING) for q in range(3)])
    stored: dict[tuple[int, int], int] = {}
    # Read until every acknowledged offset is seen (or 60 s). Stopping at the watermarks read at
    # the start was a race: right after SIGCONT the resumed node can still answer them from its
    # stale image as the old leader, below what the new leader acknowledged.
    want = {(part, offset) for part, offset, _ in acked}
    deadline = time.monotonic() + 60
    while not want <= stored.keys() and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and m.error() is None:
            stored[(m.partition(), m.offset())] = int(m.value())
    consumer.close()
    values = list(stored.values())
    assert len(values) == len(set(values)), "a record is stored twice"
    for part, offset, value in acked:
        assert stored.get((part, offset)) == value, f"acknowledged {value} at {part}/{offset} lost"
    print(f"acknowledged {len(acked)} of 9000; failed deliveries: {sorted(set(failed))[:5]}")
    # Records sent to the paused leader may time out in the client (it holds their connection
    # open); everything sent before the pause and after SIGCONT must have been acknowledged.
    acked_values = {v for _, _, v in acked}
    assert set(range(0, 3000)) <= acked_values
    assert set(range(6000, 9000)) <= acked_values


def test_survivor_of_two_broker_losses_keeps_every_acknowledged_record(cluster_factory):
    """Two of three brokers down: the survivor keeps all acknowledged data (acks=all refuses new
    writes below min.insync.replicas); when they return the ISR refills and nothing is missing."""
    nodes = cluster_factory(3)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(TOPIC, 1, 3, config={"min.insync.replicas": "2"})]).values():
        f.result(20)
    wait_until(lambda: len(partition_leaders(admin)[0][1]) == 3, 20, "full ISR")
    acked = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(5000):
        p.produce(TOPIC, value=str(i).encode(), on_delivery=lambda e, m: acked.append(int(m.value())) if e is None else None)
        p.poll(0)
    p.flush(30)
    assert len(acked) == 5000

    # Stop two brokers that are not the active controller's majority partner... any two will do:
    # with one node left there is no metadata quorum, so leadership freezes where it is.
    leader = partition_leaders(admin)[0][0]
    survivors = [n for n in nodes if n.node_id == leader]
    for n in nodes:
        if n.node_id != leader:
            n.kill9()
    survivor = survivors[0]
    c = Consumer({"bootstrap.servers": survivor.bootstrap, "group.id": "x", "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, 0, OFFSET_BEGINNING)])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 5000 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append(int(m.value()))
    c.close()
    assert got == acked, "the survivor serves every acknowledged record"

    for n in nodes:
        if n.node_id != leader:
            n.start(wait=False)
    for n in nodes:
        if n.node_id != leader:
            n.wait_ready()
    wait_until(lambda: len(partition_leaders(admin)[0][1]) == 3, 40, "the ISR refilled")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "y", "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, 0, OFFSET_BEGINNING)])
    again = []
    deadline = time.monotonic() + 30
    while len(again) < 5000 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            again.append(int(m.value()))
    c.close()
    assert again == acked


def test_unclean_leader_election_only_where_the_topic_allows_it(cluster_factory):
    """Both replicas of a partition go down, the one outside the ISR comes back first. A topic
    with unclean.leader.election.enable=true gets it as leader at once (losing what only the ISR
    had); a default topic stays leaderless until its ISR member returns, and loses nothing. Five
    nodes, so that the metadata quorum keeps a majority with two down."""
    nodes = cluster_factory(5)
    admin = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes)})
    topics = {"clean": {}, "dirty": {"unclean.leader.election.enable": "true"}}
    for name, config in topics.items():  # 5 partitions each: partition 0 of both is on 0 and 1
        for f in admin.create_topics([NewTopic(name, 5, 2, config=config)]).values():
            f.result(20)

    def p0(name, client=admin):
        md = client.list_topics(name, timeout=10).topics[name].partitions[0]
        return md.leader, sorted(md.isrs), list(md.replicas)

    wait_until(lambda: all(len(p0(t)[1]) == 2 for t in topics), 20, "full ISR")
    assert all(p0(t)[2] == [0, 1] for t in topics)

    def send(values):
        p = Producer({"bootstrap.servers": nodes[2].bootstrap, "acks": "all", "linger.ms": 0})
        done = []
        for t in topics:
            for v in values:
                p.produce(t, value=str(v).encode(), partition=0, on_delivery=lambda e, m: done.append(e))
        p.flush(30)
        assert len(done) == 2 * len(values) and all(e is None for e in done), done

    def read(name, bootstrap):
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "r", "enable.auto.commit": False})
        c.assign([TopicPartition(name, 0, OFFSET_BEGINNING)])
        got, idle = [], time.monotonic() + 8
        while time.monotonic() < idle:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append(int(m.value()))
                idle = time.monotonic() + 3
        c.close()
        return got

    send(range(10))
    nodes[1].kill9()
    wait_until(lambda: all(p0(t)[1] == [0] for t in topics), 20, "broker 1 out of the ISR")
    send(range(10, 20))  # only broker 0 has these
    nodes[0].kill9()
    survivors = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes[2:])})
    wait_until(lambda: all(p0(t, survivors)[0] == -1 for t in topics), 20, "both partitions leaderless")

    nodes[1].start()
    wait_until(lambda: p0("dirty", survivors)[:2] == (1, [1]), 20, "unclean election of broker 1")
    time.sleep(3)
    assert p0("clean", survivors)[0] == -1, "a default topic must wait for its ISR"
    assert read("dirty", nodes[2].bootstrap) == list(range(10)), "the unclean leader has what it had"
    p = Producer({"bootstrap.servers": nodes[2].bootstrap, "acks": "all"})
    p.produce("dirty", value=b"100", partition=0)
    assert p.flush(30) == 0

    nodes[0].start()
    wait_until(lambda: p0("clean", survivors)[0] == 0, 20, "broker 0 leads the clean topic again")
    assert read("clean", nodes[2].bootstrap) == list(range(20)), "the clean topic lost nothing"
    # Broker 0 truncates what the unclean leader never had, then follows it back into the ISR.
    wait_until(lambda: p0("dirty", survivors)[1] == [0, 1], 40, "broker 0 back in the dirty ISR")
    assert read("dirty", nodes[0].bootstrap) == list(range(10)) + [100]


def test_list_offsets_latest_is_the_high_watermark_not_the_log_end(cluster_factory):
    """A follower in the ISR is paused (SIGSTOP, for less than the session timeout) while acks=1
    records reach the leader: they are in the leader's log but not replicated, so ListOffsets
    "latest" (librdkafka's watermarks, kafka-python's end_offsets) and a timestamp lookup must
    not point past the high watermark. After SIGCONT the follower catches up and both move."""
    import signal as sig

    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTopicPartition

    nodes = cluster_factory(3, props={"replica.lag.time.max.ms": "60000"})
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("hwm", 1, 3)])["hwm"].result(20)

    def leader_and_isr():
        part = admin.list_topics("hwm", timeout=10).topics["hwm"].partitions[0]
        return part.leader, list(part.isrs)
    wait_until(lambda: len(leader_and_isr()[1]) == 3, 20, "full ISR")
    leader, _ = leader_and_isr()
    follower = next(n for n in nodes if n.node_id != leader)

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    for i in range(10):
        p.produce("hwm", value=f"r{i}".encode(), partition=0)
    assert p.flush(20) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "hwm-check"})
    assert c.get_watermark_offsets(TopicPartition("hwm", 0), timeout=10, cached=False) == (0, 10)

    # Clients connected before the pause, through the nodes that stay up: the checks must end
    # well inside the session timeout, after which the paused node leaves the ISR.
    awake = ",".join(n.bootstrap for n in nodes if n is not follower)
    kc = KafkaConsumer(bootstrap_servers=awake)
    assert kc.end_offsets([KTopicPartition("hwm", 0)])[KTopicPartition("hwm", 0)] == 10
    future_ts = int(time.time() * 1000) + 3_600_000
    quick = Producer({"bootstrap.servers": awake, "acks": 1, "linger.ms": 0})
    quick.list_topics("hwm", timeout=10)
    os.kill(follower.pid, sig.SIGSTOP)
    try:
        for i in range(5):
            quick.produce("hwm", value=f"unreplicated{i}".encode(), partition=0, timestamp=future_ts)
        assert quick.flush(5) == 0, "acks=1 needs only the leader"
        assert c.get_watermark_offsets(TopicPartition("hwm", 0), timeout=5, cached=False) == (0, 10)
        assert kc.end_offsets([KTopicPartition("hwm", 0)])[KTopicPartition("hwm", 0)] == 10
        found = c.offsets_for_times([TopicPartition("hwm", 0, future_ts)], timeout=5)[0]
        assert found.offset == -1, f"a timestamp lookup found unreplicated offset {found.offset}"
    finally:
        os.kill(follower.pid, sig.SIGCONT)
    wait_until(lambda: c.get_watermark_offsets(TopicPartition("hwm", 0), timeout=5, cached=False) == (0, 15),
               20, "the high watermark past the 5 records once the follower has them")
    assert kc.end_offsets([KTopicPartition("hwm", 0)])[KTopicPartition("hwm", 0)] == 15
    assert c.offsets_for_times([TopicPartition("hwm", 0, future_ts)], timeout=5)[0].offset == 10
    kc.close()
    c.close()


def test_list_offsets_checks_the_clients_leader_epoch(cluster_factory):
    """KIP-320: ListOffsets v4+ carries the leader epoch the client knows; a leader at another
    epoch says FENCED_LEADER_EPOCH (the client's is older) or UNKNOWN_LEADER_EPOCH (newer)
    instead of answering for a leadership the client does not mean."""
    import socket
    import struct

    from test_hostile import call, header_v1, s16

    nodes = cluster_factory(3)
    admin = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes)})
    admin.create_topics([NewTopic("epochs", 1, 3)])["epochs"].result(20)
    wait_until(lambda: admin.list_topics("epochs", timeout=10).topics["epochs"].partitions[0].leader >= 0, 20,
               "a leader")
    leader = nodes[admin.list_topics("epochs", timeout=10).topics["epochs"].partitions[0].leader]

    def list_offsets(current_epoch: int) -> tuple[int, int, int]:
        body = struct.pack(">ib", -1, 0) + struct.pack(">i", 1) + s16("epochs")
        body += struct.pack(">i", 1) + struct.pack(">iiq", 0, current_epoch, -1)
        with socket.create_connection(("127.0.0.1", leader.port), timeout=10) as s:
            answer = call(s, header_v1(2, 4, 9) + body)
        pos = 4 + 4 + 4  # correlation id, throttle, topic count
        (n,) = struct.unpack_from(">h", answer, pos)
        pos += 2 + n + 4
        _, error, _ts, offset, epoch = struct.unpack_from(">ihqqi", answer, pos)
        return error, offset, epoch

    # The leader's own image may name it leader a moment after the cluster's metadata does.
    wait_until(lambda: list_offsets(-1)[0] == 0, 20, "the leader answers as leader")
    error, offset, epoch = list_offsets(-1)
    assert (error, offset) == (0, 0) and epoch >= 0
    assert list_offsets(epoch) == (0, 0, epoch)
    assert list_offsets(epoch + 1)[0] == 75, "UNKNOWN_LEADER_EPOCH for an epoch the leader has not reached"
    if epoch > 0:
        assert list_offsets(epoch - 1)[0] == 74, "FENCED_LEADER_EPOCH for an older epoch"


def test_produce_v10_to_a_follower_names_the_leader_and_its_address(cluster_factory):
    """KIP-951: a Produce v10 that reaches a broker which does not lead the partition is answered
    NOT_LEADER_OR_FOLLOWER with the current leader and epoch (a partition tagged field) and the
    leader's address on the listener the request came in on (a top-level tagged field), so the
    client can send there without waiting for a metadata refresh. librdkafka 2.5+ uses it."""
    import socket
    import struct

    from test_bad_input import read_uvarint as uvarint
    from test_hostile import call, cstr, header_v2

    nodes = cluster_factory(3)
    admin = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes)})
    admin.create_topics([NewTopic("kip951", 1, 3)])["kip951"].result(20)
    wait_until(lambda: admin.list_topics("kip951", timeout=10).topics["kip951"].partitions[0].leader >= 0, 20,
               "a leader")
    leader = admin.list_topics("kip951", timeout=10).topics["kip951"].partitions[0].leader
    follower = next(n for n in nodes if n.node_id != leader)

    def produce_v10() -> tuple[int, tuple[int, int] | None, list[tuple[int, str, int]]]:
        # transactional_id null, acks 1, timeout, topics [kip951 [0, records null]], tags.
        body = b"\x00" + struct.pack(">hi", 1, 5000) + b"\x02" + cstr("kip951") + b"\x02"
        body += struct.pack(">i", 0) + b"\x00\x00\x00\x00"
        with socket.create_connection(("127.0.0.1", follower.port), timeout=10) as s:
            a = call(s, header_v2(0, 10, 5) + body)
        pos = 4 + 1  # correlation id, header tags
        assert a[pos] == 2, "one topic"
        pos += 1
        n, pos = uvarint(a, pos)
        assert a[pos:pos + n - 1] == b"kip951"
        pos += n - 1 + 1  # name, partition count
        _index, error = struct.unpack_from(">ih", a, pos)
        pos += 4 + 2 + 8 * 3 + 1 + 1  # offsets, empty record_errors, null error_message
        current = None
        tags, pos = uvarint(a, pos)
        for _ in range(tags):
            tag, pos = uvarint(a, pos)
            size, pos = uvarint(a, pos)
            if tag == 0:
                current = struct.unpack_from(">ii", a, pos)
            pos += size
        pos += 1 + 4  # topic tags, throttle
        endpoints = []
        tags, pos = uvarint(a, pos)
        for _ in range(tags):
            tag, pos = uvarint(a, pos)
            size, end = uvarint(a, pos)
            if tag == 0:
                count, p2 = uvarint(a, end)
                for _ in range(count - 1):
                    (node,) = struct.unpack_from(">i", a, p2)
                    hl, p2 = uvarint(a, p2 + 4)
                    host = a[p2:p2 + hl - 1].decode()
                    (port,) = struct.unpack_from(">i", a, p2 + hl - 1)
                    rl, p2 = uvarint(a, p2 + hl - 1 + 4)
                    p2 += max(0, rl - 1)
                    _, p2 = uvarint(a, p2)  # the endpoint's own tags (none)
                    endpoints.append((node, host, port))
            pos = end + size
        return error, current, endpoints

    # The follower's own image may name the leader a moment after the cluster's metadata does.
    wait_until(lambda: produce_v10()[1] is not None, 20, "the follower knows the leader")
    error, current, endpoints = produce_v10()
    assert error == 6, "NOT_LEADER_OR_FOLLOWER"
    assert current[0] == leader and current[1] >= 0
    leader_node = next(n for n in nodes if n.node_id == leader)
    assert endpoints == [(leader, "127.0.0.1", leader_node.port)]
    # A real client of the same version writes through the follower's bootstrap.
    p = Producer({"bootstrap.servers": follower.bootstrap, "acks": "all"})
    p.produce("kip951", b"through", partition=0)
    assert p.flush(20) == 0


def test_offset_for_leader_epoch_tells_where_an_old_epoch_ends(cluster_factory):
    """KIP-320: after the leader of a partition is killed and the next one takes writes, the new
    leader answers OffsetForLeaderEpoch for the old epoch with the offset its own epoch began
    at, and for its own epoch with its log end; librdkafka consumers use it to find truncation.
    A consumer reading across the change gets every record once."""
    import socket
    import struct

    from test_hostile import call, header_v1, s16

    nodes = cluster_factory(3)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("epochs", 1, 3)])["epochs"].result(20)

    def state():
        part = admin.list_topics("epochs", timeout=10).topics["epochs"].partitions[0]
        return part.leader, list(part.isrs)
    wait_until(lambda: len(state()[1]) == 3, 20, "full ISR")
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(5):
        p.produce("epochs", value=f"a{i}".encode(), partition=0)
    assert p.flush(20) == 0

    def ask(node, epoch: int) -> tuple[int, int, int]:
        body = struct.pack(">i", -1) + struct.pack(">i", 1) + s16("epochs") + struct.pack(">i", 1)
        body += struct.pack(">iii", 0, -1, epoch)
        with socket.create_connection(("127.0.0.1", node.port), timeout=10) as s:
            answer = call(s, header_v1(23, 3, 5) + body)
        pos = 4 + 4 + 4
        (n,) = struct.unpack_from(">h", answer, pos)
        pos += 2 + n + 4
        error, _, leader_epoch, end = struct.unpack_from(">hiiq", answer, pos)
        return error, leader_epoch, end

    first_leader = nodes[state()[0]]
    error, old_epoch, end = ask(first_leader, 0)
    assert error == 0 and end == 5, (error, old_epoch, end)
    first_leader.kill9()
    survivors = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes if n is not first_leader)})
    wait_until(lambda: survivors.list_topics("epochs", timeout=10).topics["epochs"].partitions[0].leader
               not in (first_leader.node_id, -1), 20, "a new leader")
    new_leader = nodes[survivors.list_topics("epochs", timeout=10).topics["epochs"].partitions[0].leader]
    q = Producer({"bootstrap.servers": ",".join(n.bootstrap for n in nodes if n is not first_leader), "acks": 1})
    for i in range(3):
        q.produce("epochs", value=f"b{i}".encode(), partition=0)
    assert q.flush(20) == 0
    assert ask(new_leader, old_epoch) == (0, old_epoch, 5), "the old epoch ends where the new one began"
    error, epoch_now, end_now = ask(new_leader, old_epoch + 1000)
    assert (error, epoch_now, end_now) == (0, -1, -1), "an epoch newer than any here"
    c = Consumer({"bootstrap.servers": ",".join(n.bootstrap for n in nodes if n is not first_leader),
                  "group.id": "epochs", "auto.offset.reset": "earliest"})
    c.subscribe(["epochs"])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 8 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m.value())
    c.close()
    assert sorted(got) == sorted([f"a{i}".encode() for i in range(5)] + [f"b{i}".encode() for i in range(3)])
