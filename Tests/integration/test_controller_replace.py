"""Replacing a lost controller voter (KIP-853) while the cluster serves: voter 2 is killed, a new
node 3 started as a controller outside the voters follows the quorum, `kafka-metadata-quorum.sh
add-controller` makes it a voter and `remove-controller --controller-id 2` drops the lost one.
The new voter set then carries an election (the active controller is killed and nodes 1 and 3
elect a leader), survives restarts, and no acknowledged write is lost."""

from __future__ import annotations

import subprocess
import threading

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import REPO, Broker, _used_by, free_port
from support import wait_until
from test_cluster_ops import create

QUORUM = str(REPO / "bin" / "kafka-metadata-quorum.sh")
TOPIC = "votes"


def quorum(bootstrap: str, *args: str, config: str | None = None) -> subprocess.CompletedProcess:
    extra = ["--command-config", config] if config else []
    return subprocess.run([QUORUM, "--bootstrap-server", bootstrap, *extra, *args], capture_output=True, text=True,
                          timeout=90)


def status(bootstrap: str) -> dict[str, str]:
    out = quorum(bootstrap, "describe", "--status")
    return dict(line.split(":", 1) for line in out.stdout.splitlines() if ":" in line) if out.returncode == 0 else {}


def voters(bootstrap: str) -> str:
    return status(bootstrap).get("CurrentVoters", "").strip()


def test_a_lost_voter_is_replaced_with_add_and_remove_controller_while_the_cluster_serves(cluster_factory, tmp_path,
                                                                                           request):
    nodes = cluster_factory(3)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    create(admin, NewTopic(TOPIC, 1, 3))
    acked: list[int] = []
    errors: list = []
    stop = threading.Event()

    def writer() -> None:
        p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                      "message.timeout.ms": 60000})
        i = 0
        while not stop.is_set():
            p.produce(TOPIC, value=str(i).encode(),
                      on_delivery=lambda err, msg: (errors.append(err) if err else acked.append(int(msg.value()))))
            p.poll(0.01)
            i += 1
        assert p.flush(60) == 0

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        # Node 3: a controller outside the voters, with a CONTROLLER listener of its own.
        line = next(l for l in nodes[0].config_file.read_text().splitlines() if l.startswith("controller.quorum.voters="))
        client_port, controller_port = free_port(), free_port()
        workdir = tmp_path / "node-3"
        workdir.mkdir()
        new = _used_by(request, Broker(workdir, node_id=3, port=client_port, extra={
            "process.roles": "broker,controller", "controller.quorum.voters": line.split("=", 1)[1],
            "listeners": f"PLAINTEXT://127.0.0.1:{client_port},CONTROLLER://127.0.0.1:{controller_port}"}))
        check = subprocess.run([*new.command, "--check", str(new.config_file)], capture_output=True, text=True,
                               timeout=30)
        assert "it follows the quorum as an observer until kafka-metadata-quorum.sh add-controller" in check.stdout, check
        new.start()
        wait_until(lambda: "3" in status(bootstrap).get("CurrentObservers", ""), 30, "node 3 following as an observer")

        # Voter 2 is lost (not the active controller, so the quorum keeps its leader meanwhile).
        controller = int(status(bootstrap)["LeaderId"])
        lost = nodes[2] if controller != 2 else nodes[1]
        lost.kill9()
        live = [n for n in nodes if n is not lost] + [new]
        live_bootstrap = ",".join(n.bootstrap for n in live)

        added = quorum(live_bootstrap, "add-controller", config=str(new.config_file))
        assert added.returncode == 0, added
        assert added.stdout.strip().startswith(f"Added controller 3 with directory id ") and \
            f"endpoints: CONTROLLER://127.0.0.1:{controller_port}" in added.stdout, added
        assert voters(live_bootstrap) == "[0,1,2,3]"
        again = quorum(live_bootstrap, "add-controller", config=str(new.config_file))
        assert again.returncode == 1 and "DUPLICATE_VOTER" in again.stderr, again

        removed = quorum(live_bootstrap, "remove-controller", "--controller-id", str(lost.node_id))
        assert removed.returncode == 0 and removed.stdout.startswith(f"Removed KRaft controller {lost.node_id}"), removed
        expected = "[" + ",".join(str(i) for i in sorted({0, 1, 2, 3} - {lost.node_id})) + "]"
        assert voters(live_bootstrap) == expected
        missing = quorum(live_bootstrap, "remove-controller", "--controller-id", str(lost.node_id))
        assert missing.returncode == 1 and "VOTER_NOT_FOUND" in missing.stderr, missing

        # The new set carries an election: the active controller is killed, the other two elect.
        leader = int(status(live_bootstrap)["LeaderId"])
        victim = next(n for n in live if n.node_id == leader)
        victim.kill9()
        rest = ",".join(n.bootstrap for n in live if n is not victim)
        elected = wait_until(lambda: (lambda s: s if s.get("LeaderId", "").strip() not in ("", str(leader)) else None)(
            status(rest)), 30, "a new active controller among the remaining voters")
        assert int(elected["LeaderId"]) in {0, 1, 3} - {leader}
        assert elected["CurrentVoters"].strip() == expected

        # Restarted, the killed controller keeps the new set (it comes from the log, not the config).
        victim.start()
        wait_until(lambda: voters(victim.bootstrap) == expected, 30, "the restarted node agreeing on the voters")
    finally:
        stop.set()
        thread.join(90)
    assert not errors, errors[:3]
    c = Consumer({"bootstrap.servers": live_bootstrap, "group.id": "votes-check", "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, 0, OFFSET_BEGINNING)])
    got: set[int] = set()
    wait_until(lambda: got.update(int(m.value()) for m in c.consume(500, 1) if not m.error()) or
               set(acked) <= got, 60, "every acknowledged record read back")
    c.close()
    assert len(acked) > 100, f"only {len(acked)} records acknowledged during the replacement"
