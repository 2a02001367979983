"""docker/: no Docker engine runs on the machines this project is built on, so the Compose files
are checked for structure here and each node's config by `tern server-start --check`; the
two-listener set-up they rely on is exercised for real in test_listeners.py, and the secured
variant's entrypoint and configs run as real processes below."""

from __future__ import annotations

import re
import subprocess
import time

import yaml
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import REPO, TERN_BIN, Broker, free_port
from support import wait_until

DOCKER = REPO / "docker"


def test_compose_file_runs_three_nodes_with_both_listeners_advertised():
    compose = yaml.safe_load((DOCKER / "compose.yml").read_text())
    services = compose["services"]
    assert sorted(services) == ["tern-0", "tern-1", "tern-2"]
    for i in range(3):
        s = services[f"tern-{i}"]
        assert s["hostname"] == f"tern-{i}"
        assert s["ports"] == [f"{9092 + i}:{9092 + i}"], "the EXTERNAL port is published as is"
        assert s["build"]["context"] == ".." and (DOCKER / ".." / s["build"]["dockerfile"]).resolve().exists()
        mounts = {v.split(":")[1]: v.split(":")[0] for v in s["volumes"]}
        config = DOCKER / mounts["/etc/tern/server.properties"]
        assert config.exists(), config
        assert "tern" in s["networks"]

        check = subprocess.run([str(TERN_BIN), "server-start", "--check", str(config)], capture_output=True,
                               text=True, timeout=10)
        assert check.returncode == 0, check.stderr
        out = check.stdout
        assert f"node.id {i}: configuration is valid" in out
        assert f"listener INTERNAL: binds 0.0.0.0:29092, advertised as tern-{i}:29092" in out
        assert f"listener EXTERNAL: binds 0.0.0.0:{9092 + i}, advertised as localhost:{9092 + i}" in out
        voters = re.search(r"controller.quorum.voters: (\S+)", out).group(1)
        assert voters == "0@tern-0:19092,1@tern-1:19092,2@tern-2:19092", "voters are the service names"
        assert "log.dirs: /var/lib/tern/data" in out
        assert mounts["/var/lib/tern/data"] == f"tern-{i}-data", "data survives a container restart"
    assert sorted(compose["volumes"]) == ["tern-0-data", "tern-1-data", "tern-2-data"]

    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert 'CMD ["server-start", "/etc/tern/server.properties"]' in dockerfile
    assert "swift build -c release --product tern" in dockerfile
    assert re.search(r"^EXPOSE .*\b9092\b.*\b29092\b.*\b19092\b", dockerfile, re.M)


def test_server_start_check_refuses_a_broken_listener_setup(tmp_path):
    bad = tmp_path / "bad.properties"
    bad.write_text("node.id=0\nlisteners=INTERNAL://:29092\nadvertised.listeners=EXTERNAL://localhost:9092\n"
                   "log.dirs=/tmp/x\n")
    r = subprocess.run([str(TERN_BIN), "server-start", "--check", str(bad)], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2
    assert "advertised.listeners names EXTERNAL, which listeners does not have" in r.stderr


def test_secured_compose_nodes_format_start_and_replicate_from_their_entrypoint(tmp_path):
    """compose.secure.yml's entrypoint, run for real on this machine: its shell line (format with
    the seeded SCRAM users, then server-start) on each secured node config, with only what a
    container changes put back (service names and fixed ports become loopback ports, the
    mounted paths become folders here). Then SCRAM clients produce to an RF 3 topic, every
    replica joins the ISR over the SASL_SSL INTERNAL listener, and a restarted node's second
    format leaves its data as it is."""
    compose = yaml.safe_load((DOCKER / "compose.secure.yml").read_text())
    node_spec = compose["x-node"]
    assert node_spec["entrypoint"] == ["/bin/sh", "-c"]
    script = node_spec["command"][0].replace("$$", "$").replace("/etc/tern/server.properties", '"$1"')
    cluster_id = node_spec["environment"]["CLUSTER_ID"]
    services = compose["services"]
    assert sorted(services) == ["tern-0", "tern-1", "tern-2"]
    for i in range(3):
        assert f"./config/secure/server-{i}.properties:/etc/tern/server.properties:ro" in services[f"tern-{i}"]["volumes"]
        assert "./certs:/etc/tern/certs:ro" in services[f"tern-{i}"]["volumes"]

    certs = tmp_path / "certs"
    subprocess.run([str(REPO / "config" / "secure" / "make-certs.sh"), str(certs), "alice", "tern-0", "tern-1",
                    "tern-2"], check=True, capture_output=True)
    sans = subprocess.run(["openssl", "x509", "-in", str(certs / "server-cert.pem"), "-noout", "-ext",
                           "subjectAltName"], check=True, capture_output=True, text=True).stdout
    assert all(f"DNS:tern-{i}" in sans for i in range(3)), sans

    internal, external, controller = ([free_port() for _ in range(3)] for _ in range(3))
    nodes = []
    for i in range(3):
        text = (DOCKER / "config" / "secure" / f"server-{i}.properties").read_text()
        for a, b in [("0.0.0.0:29092", f"127.0.0.1:{internal[i]}"), ("0.0.0.0:19092", f"127.0.0.1:{controller[i]}"),
                     (f"0.0.0.0:{9092 + i}", f"127.0.0.1:{external[i]}"), (f"localhost:{9092 + i}", f"localhost:{external[i]}"),
                     (f"tern-{i}:29092", f"localhost:{internal[i]}"),
                     *[(f"tern-{j}:19092", f"localhost:{controller[j]}") for j in range(3)],
                     ("/etc/tern/certs", str(certs))]:
            assert a in text, f"server-{i}.properties has no {a}"
            text = text.replace(a, b)
        (tmp_path / f"node-{i}").mkdir()
        node = Broker(tmp_path / f"node-{i}", node_id=i, port=external[i],
                      command=["/bin/sh", "-c", f'PATH="{TERN_BIN.parent}:$PATH" CLUSTER_ID={cluster_id}; {script}', "sh"])
        text = text.replace("/var/lib/tern/data", str(node.log_dir))
        text = text.replace("HTTP://127.0.0.1:8080", f"HTTP://127.0.0.1:{node.http_port}")
        node.config_file.write_text(text)
        check = subprocess.run([str(TERN_BIN), "server-start", "--check", str(node.config_file)],
                               capture_output=True, text=True, timeout=10)
        assert check.returncode == 0, check.stderr
        assert f"advertised as localhost:{internal[i]}, SASL_SSL" in check.stdout
        assert f"advertised as localhost:{external[i]}, SASL_SSL" in check.stdout
        assert f"listener CONTROLLER: binds 127.0.0.1:{controller[i]}, SSL" in check.stdout
        nodes.append(node)
    try:
        for n in nodes:
            n.start(wait=False)
        for n in nodes:
            n.wait_ready()
        for n in nodes:
            assert f"Formatting metadata directory {n.log_dir} with cluster.id {cluster_id}." in n.log_tail(200)

        bootstrap = ",".join(f"localhost:{p}" for p in external)
        base = {"bootstrap.servers": bootstrap, "security.protocol": "SASL_SSL", "ssl.ca.location": str(certs / "ca.pem")}
        admin = AdminClient({**base, "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "admin",
                             "sasl.password": "admin-secret"})
        admin.create_topics([NewTopic("secured-compose", 3, 3)])["secured-compose"].result(30)
        bob = {**base, "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "bob", "sasl.password": "bob-secret"}
        p = Producer({**bob, "acks": "all"})
        for k in range(30):
            p.produce("secured-compose", f"v{k}".encode())
        assert p.flush(30) == 0

        def all_in_sync():
            t = admin.list_topics("secured-compose", timeout=10).topics["secured-compose"]
            return all(len(pm.isrs) == 3 for pm in t.partitions.values())
        wait_until(all_in_sync, timeout=30, what="every replica in the ISR over the secured INTERNAL listener")

        nodes[2].stop()
        nodes[2].start()
        second_start = nodes[2].log_file.read_text().rsplit("==== test harness: starting", 1)[1]
        assert "All of the log directories are already formatted." in second_start
        assert "Formatting" not in second_start
        c = Consumer({**bob, "group.id": "secured-compose", "auto.offset.reset": "earliest"})
        c.subscribe(["secured-compose"])
        got = set()
        deadline = time.monotonic() + 30
        while len(got) < 30 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.add(m.value())
        c.close()
        assert got == {f"v{k}".encode() for k in range(30)}
    finally:
        for n in nodes:
            n.close()
