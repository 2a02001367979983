"""Growing and shrinking a running cluster: a broker-only node (process.roles=broker) joins three
voters as a metadata observer, registers, is given partitions with kafka-reassign-partitions.sh,
follows the quorum through the loss of the active controller; then broker 0 is drained onto the
others under load, stopped and removed with kafka-cluster.sh unregister."""

from __future__ import annotations

import json
import subprocess
import threading

from confluent_kafka.admin import AdminClient, NewTopic

from conftest import REPO, Broker, _used_by
from support import wait_until
from test_cluster_ops import create
from test_reassign import TOPIC, consumed, produce, replicas, tool

CLUSTER = str(REPO / "bin" / "kafka-cluster.sh")
QUORUM = str(REPO / "bin" / "kafka-metadata-quorum.sh")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60)


def voters_of(node: Broker) -> str:
    line = next(l for l in node.config_file.read_text().splitlines() if l.startswith("controller.quorum.voters="))
    return line.split("=", 1)[1]


def brokers(admin) -> list[int]:
    # Metadata, not DescribeCluster: librdkafka sends DescribeCluster to the controller it knows,
    # which after a kill is the dead one until its metadata is refreshed.
    return sorted(admin.list_topics(timeout=10).brokers)


def test_a_broker_only_node_joins_and_takes_partitions_then_broker_0_is_drained_and_unregistered(
        cluster_factory, tmp_path, request):
    nodes = cluster_factory(3)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    create(admin, NewTopic(TOPIC, 2, 2))
    errors: list = []
    produce(bootstrap, range(0, 300), errors)

    # Node 3 names the three voters and has no CONTROLLER listener of its own.
    workdir = tmp_path / "node-3"
    workdir.mkdir()
    extra = {"process.roles": "broker", "controller.quorum.voters": voters_of(nodes[0])}
    fourth = _used_by(request, Broker(workdir, node_id=3, extra=extra))
    try:
        fourth.start()
        wait_until(lambda: brokers(admin) == [0, 1, 2, 3], 30, "broker 3 registered and unfenced")
        rows = wait_until(
            lambda: (lambda o: o if "Observer" in o else None)(
                run(QUORUM, "--bootstrap-server", bootstrap, "describe", "--replication").stdout),
            15, "broker 3 listed as an observer")
        observer = next(l.split() for l in rows.splitlines() if l.endswith("Observer"))
        assert observer[0] == "3"
        status = run(QUORUM, "--bootstrap-server", bootstrap, "describe", "--status").stdout
        assert "CurrentVoters:          [0,1,2]" in status and "CurrentObservers:       [3]" in status

        # --generate spreads the topic over all four brokers; after --execute broker 3 holds replicas.
        (tmp_path / "topics.json").write_text(json.dumps({"topics": [{"topic": TOPIC}], "version": 1}))
        out = tool(bootstrap, "--generate", "--topics-to-move-json-file", str(tmp_path / "topics.json"),
                   "--broker-list", "0,1,2,3").stdout
        proposed = json.loads(out.splitlines()[4])
        for p in proposed["partitions"]:  # make sure the new broker is in every proposal
            if 3 not in p["replicas"]:
                p["replicas"][-1] = 3
                p["log_dirs"] = ["any"] * len(p["replicas"])
        plan = tmp_path / "plan.json"
        plan.write_text(json.dumps(proposed))
        tool(bootstrap, "--execute", "--reassignment-json-file", str(plan))
        wait_until(lambda: tool(bootstrap, "--verify", "--reassignment-json-file", str(plan)).stdout
                   .count("is completed.") == 2, 60, "both partitions moved")
        assert all(3 in reps and 3 in isr for _, reps, isr in replicas(admin).values())

        # The active controller is killed: broker 3 finds the new leader and stays in the cluster.
        controller = admin.describe_cluster().result(10).controller.id
        nodes[controller].kill9()
        live = ",".join(n.bootstrap for n in nodes if n.node_id != controller) + "," + fourth.bootstrap
        live_admin = AdminClient({"bootstrap.servers": live})
        wait_until(lambda: brokers(live_admin) == sorted({0, 1, 2, 3} - {controller}), 40,
                   "the killed controller fenced, broker 3 still in")
        new_controller = live_admin.list_topics(timeout=10).controller_id
        assert new_controller not in (controller, 3)
        produce(live, range(300, 600), errors)
        assert not errors, errors
        nodes[controller].start()
        wait_until(lambda: brokers(live_admin) == [0, 1, 2, 3], 40, "the old controller back")
        assert consumed(bootstrap, 600) == set(range(600))

        # Broker 0 drained under load: --generate over 1,2,3 for every topic, executed while a
        # producer keeps writing; then it stops and is unregistered, and the cluster serves on.
        present = admin.list_topics(timeout=10).topics
        moving = [t for t in (TOPIC, "__consumer_offsets") if t in present]
        (tmp_path / "drain-topics.json").write_text(json.dumps({"topics": [{"topic": t} for t in moving],
                                                                 "version": 1}))
        out = tool(bootstrap, "--generate", "--topics-to-move-json-file", str(tmp_path / "drain-topics.json"),
                   "--broker-list", "1,2,3").stdout
        drain = tmp_path / "drain.json"
        drain.write_text(out.splitlines()[4])
        count = len(json.loads(out.splitlines()[4])["partitions"])
        writer = threading.Thread(target=produce, args=(bootstrap, range(600, 1600), errors))
        writer.start()
        tool(bootstrap, "--execute", "--reassignment-json-file", str(drain))
        wait_until(lambda: tool(bootstrap, "--verify", "--reassignment-json-file", str(drain)).stdout
                   .count("is completed.") == count, 90, f"{count} partitions moved off broker 0")
        writer.join(90)
        assert not writer.is_alive() and not errors, errors
        assert all(0 not in reps for _, reps, _ in replicas(admin).values())
        described = subprocess.run([str(REPO / "bin" / "kafka-topics.sh"), "--bootstrap-server", bootstrap,
                                    "--describe", "--topic", TOPIC], capture_output=True, text=True, timeout=60).stdout
        rows = [l for l in described.splitlines() if "Partition:" in l]
        assert len(rows) == 2 and all("Replicas: 0" not in r and ",0" not in r.split("Replicas:")[1] for r in rows), \
            described

        assert nodes[0].stop() == 0
        rest = ",".join(n.bootstrap for n in nodes[1:]) + "," + fourth.bootstrap
        rest_admin = AdminClient({"bootstrap.servers": rest})
        out = run(CLUSTER, "unregister", "--bootstrap-server", rest, "--id", "0")
        assert out.returncode == 0 and out.stdout.strip() == "Broker 0 is no longer registered.", out
        wait_until(lambda: brokers(rest_admin) == [1, 2, 3], 15, "broker 0 gone from the brokers listed")
        again = run(CLUSTER, "unregister", "--bootstrap-server", rest, "--id", "0")
        assert again.returncode == 1 and "BROKER_ID_NOT_REGISTERED" in again.stderr, again
        cluster_id = run(CLUSTER, "cluster-id", "--bootstrap-server", rest)
        md_id = rest_admin.list_topics(timeout=10).cluster_id
        assert cluster_id.returncode == 0 and cluster_id.stdout.strip() == f"Cluster ID: {md_id}"
        bad = run(CLUSTER, "unregister", "--bootstrap-server", rest, "--id", "-4")
        assert bad.returncode != 0 and "Traceback" not in bad.stderr
        produce(rest, range(1600, 1800), errors)
        assert not errors, errors
        assert consumed(rest, 1800) == set(range(1800)), "no acknowledged record lost through the drain"
    finally:
        fourth.close()


def test_a_broker_only_node_with_a_bad_role_config_stops_with_the_reason(tmp_path):
    for extra, why in [
        ({"process.roles": "broker", "controller.quorum.voters": "0@127.0.0.1:1", "node.id": "0"},
         "process.roles must be broker,controller"),
        ({"process.roles": "controller"}, "controller-only"),
        ({"process.roles": "broker"}, "must name its voters"),
    ]:
        workdir = tmp_path / f"bad-{len(why)}"
        workdir.mkdir()
        node = Broker(workdir, node_id=int(extra.pop("node.id", "5")), extra=extra)
        out = subprocess.run([*node.command, "--check", str(node.config_file)], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode != 0 and why in out.stdout + out.stderr, (extra, out)
        node.close()


def test_the_shipped_broker_3_config_joins_the_shipped_cluster(tmp_path):
    """README's steps: `make run`'s three nodes (here `tern cluster up` on the shipped configs moved
    to free ports), then `kafka-server-start.sh config/broker-3.properties` beside them."""
    import re
    import time

    from conftest import free_port
    from test_cluster_cli import kill_all, make_config_dir, tern

    config = make_config_dir(tmp_path)
    voters = next(l for l in (config / "server-0.properties").read_text().splitlines()
                  if l.startswith("controller.quorum.voters="))
    client, console = free_port(), free_port()
    text = (REPO / "config" / "broker-3.properties").read_text()
    text = re.sub(r"(?m)^controller\.quorum\.voters=.*$", voters, text)
    text = text.replace("localhost:9095", f"127.0.0.1:{client}").replace("localhost:8083", f"127.0.0.1:{console}")
    text = text.replace("./data/node-3", str(tmp_path / "data" / "node-3"))
    assert "localhost:90" not in text and "localhost:80" not in text
    (config / "broker-3.properties").write_text(text)
    run_dir = ["--config-dir", str(config), "--run-dir", str(tmp_path / "logs")]
    pids: list[int] = []
    try:
        up = tern("cluster", "up", *run_dir, cwd=tmp_path)
        assert up.returncode == 0, up.stdout + up.stderr
        pids = [int((tmp_path / "logs" / f"node-{i}.pid").read_text()) for i in range(3)]
        bootstrap = re.search(r"bootstrap servers: (\S+)", up.stdout).group(1)
        check = subprocess.run([str(REPO / "bin" / "kafka-server-start.sh"), "--check", str(config / "broker-3.properties")],
                               capture_output=True, text=True, timeout=30)
        assert "process.roles: broker (follows the metadata quorum as an observer)" in check.stdout, check
        assert "listener CONTROLLER" not in check.stdout
        log = (tmp_path / "broker-3.log").open("wb")
        fourth = subprocess.Popen([str(REPO / "bin" / "kafka-server-start.sh"), str(config / "broker-3.properties")],
                                  stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        pids.append(fourth.pid)
        admin = AdminClient({"bootstrap.servers": bootstrap})
        wait_until(lambda: brokers(admin) == [0, 1, 2, 3], 60, "the shipped broker 3 registered")
        # `tern cluster status` knows only the voters' files; it still counts what Metadata lists.
        status = tern("cluster", "status", *run_dir, cwd=tmp_path).stdout
        assert status.count("serving") == 3, status
        fourth.terminate()
        assert fourth.wait(30) == 0, (tmp_path / "broker-3.log").read_text()[-2000:]
        out = run(CLUSTER, "unregister", "--bootstrap-server", bootstrap, "--id", "3")
        assert out.returncode == 0, out
        wait_until(lambda: brokers(admin) == [0, 1, 2], 15, "broker 3 unregistered")
        tern("cluster", "down", *run_dir, cwd=tmp_path)
        time.sleep(0.1)
    finally:
        kill_all(pids)
