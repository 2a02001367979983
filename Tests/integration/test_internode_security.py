"""Three nodes with nothing in plaintext: clients and replication over SASL_SSL with SCRAM (the
nodes log in to each other as User:broker, a credential seeded with `kafka-storage.sh format
--add-scram` before the first start), the quorum over a mutual-TLS CONTROLLER listener whose
node certificate is a super user, and ACLs on. A client certificate that is not a node's gets
CLUSTER_AUTHORIZATION_FAILED on the controller listener; no certificate, no connection."""

from __future__ import annotations

import re
import socket
import ssl
import struct
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient, NewTopic,
                                   ResourcePatternType, ResourceType)

from conftest import TERN_BIN, free_port
from support import wait_until
from test_security import certs, server_tls  # noqa: F401  (certs: the fixture, a throwaway CA and certificates)

NODE_CERT = "User:O=Tern,OU=brokers,CN=localhost"
SEED = ["SCRAM-SHA-512=[name=broker,password=broker-secret]",
        "SCRAM-SHA-512=[name=admin,password=admin-secret,iterations=8192]",
        'SCRAM-SHA-256=[name="alice",password="alice-secret"]']


def scram(user: str, password: str, mechanism: str = "SCRAM-SHA-512", certs=None) -> dict:
    return {"security.protocol": "SASL_SSL", "sasl.mechanism": mechanism, "sasl.username": user,
            "sasl.password": password, "ssl.ca.location": str(certs / "ca.pem")}


@pytest.fixture
def locked_cluster(cluster_factory, certs):
    cluster_id = subprocess.run([str(TERN_BIN), "storage", "random-uuid"], check=True, capture_output=True,
                                text=True).stdout.strip()

    def per_node(i, client_port, controller_port):
        return {
            "listeners": f"SASL_SSL://127.0.0.1:{client_port},CONTROLLER://127.0.0.1:{controller_port}",
            "inter.broker.listener.name": "SASL_SSL",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
            **server_tls(certs),
            "listener.name.controller.ssl.client.auth": "required",
            "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                'org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" '
                'password="broker-secret";',
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"{NODE_CERT};User:broker;User:admin",
            "allow.everyone.if.no.acl.found": "false",
        }

    def prepare(node):
        args = [str(TERN_BIN), "storage", "format", "-t", cluster_id, "-c", str(node.config_file)]
        for s in SEED:
            args += ["--add-scram", s]
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        assert f"Formatting metadata directory {node.log_dir} with cluster.id {cluster_id}." in out
        again = subprocess.run(args, capture_output=True, text=True)
        assert again.returncode == 1 and "is already formatted" in again.stderr

    nodes = cluster_factory(3, per_node=per_node, prepare=prepare)
    return nodes, cluster_id


def broker_heartbeat(address: str, certs, cert: str | None) -> bytes:
    """BrokerHeartbeat v0 for broker 0 over TLS to a CONTROLLER listener; the answer's bytes."""
    host, port = address.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(str(certs / f"{cert}-cert.pem"), str(certs / f"{cert}-key.pem"))
    header = struct.pack(">hhih", 63, 0, 9, 6) + b"forger" + b"\x00"
    body = struct.pack(">iqq??", 0, 1, 0, False, False) + b"\x00"
    with socket.create_connection((host, int(port)), timeout=10) as raw, ctx.wrap_socket(raw) as s:
        s.sendall(struct.pack(">i", len(header + body)) + header + body)
        size = struct.unpack(">i", s.recv(4))[0]
        data = b""
        while len(data) < size:
            chunk = s.recv(size - len(data))
            assert chunk
            data += chunk
        return data


def all_in_sync(admin, topic, partitions):
    md = admin.list_topics(topic, timeout=10).topics[topic]
    return len(md.partitions) == partitions and all(len(p.isrs) == 3 for p in md.partitions.values())


def test_nodes_replicate_and_vote_only_over_authenticated_tls(locked_cluster, certs, tmp_path):
    nodes, cluster_id = locked_cluster
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap, **scram("admin", "admin-secret", certs=certs)})
    # (Each broker learns of the others' unfencing a moment after it serves clients itself.)
    wait_until(lambda: len(admin.list_topics(timeout=15).brokers) == 3, 30,
               "every node registered over the mutual-TLS controller listener")
    assert admin.list_topics(timeout=15).cluster_id == cluster_id, "the id tern storage format was given"

    topic = f"locked-{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(topic, 3, 3)])[topic].result(30)
    for f in admin.create_acls([
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*", op,
                   AclPermissionType.ALLOW) for op in (AclOperation.WRITE, AclOperation.READ)
    ] + [AclBinding(ResourceType.GROUP, "alice-", ResourcePatternType.PREFIXED, "User:alice", "*",
                    AclOperation.READ, AclPermissionType.ALLOW)]).values():
        f.result(30)

    # alice's credential came from the seed too (SCRAM-SHA-256, with a quoted name and password).
    alice = scram("alice", "alice-secret", "SCRAM-SHA-256", certs)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", **alice})

    def alice_writes():
        # kafka-python's producer answers each send itself, with no callback thread in between.
        from kafka import KafkaProducer
        kp = KafkaProducer(bootstrap_servers=bootstrap, security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-256",
                           sasl_plain_username="alice", sasl_plain_password="alice-secret",
                           ssl_cafile=str(certs / "ca.pem"), acks="all")
        try:
            kp.send(topic, b"probe", partition=0).get(timeout=10)
            return True
        except Exception:  # TopicAuthorizationFailedError while the ACLs are on their way
            return False
        finally:
            kp.close()

    # (create_acls answers once the controller commits; each broker applies it a moment later.)
    wait_until(alice_writes, 30, "alice's ACLs on every broker")
    delivered = []
    for i in range(300):
        p.produce(topic, key=str(i).encode(), value=f"v{i}".encode(),
                  on_delivery=lambda err, msg: delivered.append(err))
    p.flush(60)
    assert len(delivered) == 300 and all(e is None for e in delivered), delivered[:3]
    wait_until(lambda: all_in_sync(admin, topic, 3), 45, "every follower fetching over SASL_SSL as User:broker")

    # kill -9 a follower and bring it back: it logs in again and catches up.
    victim = nodes[-1]
    victim.kill9()
    p.produce(topic, value=b"while-down", on_delivery=lambda err, msg: delivered.append(err))
    p.flush(60)
    victim.start()
    wait_until(lambda: all_in_sync(admin, topic, 3), 60, "the restarted node back in every ISR")

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "alice-readers", "auto.offset.reset": "earliest",
                  **alice})
    c.subscribe([topic])
    got, deadline = 0, time.monotonic() + 45
    while got < 301 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got += 1
    c.close()
    assert got >= 301, "every record acknowledged, the one written while a node was down too"

    # The controller listener: a client certificate that is not a node's is refused with
    # CLUSTER_AUTHORIZATION_FAILED (31); the node certificate is heard; no certificate, no TLS.
    props = dict(line.split("=", 1) for line in nodes[0].config_file.read_text().splitlines() if "=" in line)
    controller = props["listeners"].split("CONTROLLER://")[1]
    refused = broker_heartbeat(controller, certs, "client")
    assert struct.unpack(">h", refused[9:11])[0] == 31, refused
    heard = broker_heartbeat(controller, certs, "server")
    assert struct.unpack(">h", heard[9:11])[0] != 31, heard
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        broker_heartbeat(controller, certs, None)
    log = nodes[0].log_file.read_text()
    assert "refused BrokerHeartbeat from User:O=Tern,OU=clients,CN=alice" in log

    # Tern's tools take Kafka's --command-config client file; without one they say so.
    from test_cli import run
    cfg = tmp_path / "admin.properties"
    cfg.write_text("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
                   "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
                   'username="admin" password="admin-secret";\n'
                   f"ssl.truststore.type=PEM\nssl.truststore.location={certs / 'ca.pem'}\n")
    listed = run("topics", "--bootstrap-server", nodes[0].bootstrap, "--command-config", str(cfg), "--list")
    assert topic in listed.stdout.decode().split()
    described = run("configs", "--bootstrap-server", nodes[0].bootstrap, "--command-config", str(cfg),
                    "--describe", "--entity-type", "users").stdout.decode()
    assert "user-principal 'broker' are SCRAM-SHA-512=iterations=4096" in described
    assert "user-principal 'admin' are SCRAM-SHA-512=iterations=8192" in described
    bare = run("topics", "--bootstrap-server", nodes[0].bootstrap, "--list", check=False)
    assert bare.returncode != 0 and "--command-config" in bare.stderr.decode(), bare.stderr.decode()
    # Kafka's perf test reads its security from --producer.config; --producer-props win over it.
    perf = run("producer-perf-test", "--topic", topic, "--num-records", "500", "--record-size", "50",
               "--throughput", "-1", "--producer.config", str(cfg), "--producer-props",
               f"bootstrap.servers={nodes[0].bootstrap}", "acks=all").stdout.decode()
    assert re.search(r"^500 records sent, ", perf, re.M), perf


def test_a_node_with_the_wrong_password_is_kept_out_and_says_why(cluster_factory, certs, tmp_path):
    """The nodes log in to each other with a password that is not the seeded one: no follower
    may fetch, the followers drop out of the ISR, and a node's log says why."""
    def per_node(i, client_port, controller_port):
        return {
            "listeners": f"SASL_SSL://127.0.0.1:{client_port},CONTROLLER://127.0.0.1:{controller_port}",
            "inter.broker.listener.name": "SASL_SSL",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
            "ssl.keystore.location": str(certs / "server.pem"),
            "ssl.truststore.location": str(certs / "ca.pem"),
            "listener.name.controller.ssl.client.auth": "required",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                'org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" '
                'password="not-the-password";',
            "super.users": f"{NODE_CERT};User:broker;User:admin",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "replica.lag.time.max.ms": "2000",
        }

    cluster_id = subprocess.run([str(TERN_BIN), "storage", "random-uuid"], check=True, capture_output=True,
                                text=True).stdout.strip()

    def prepare(node):
        subprocess.run([str(TERN_BIN), "storage", "format", "-t", cluster_id, "-c", str(node.config_file),
                        "--add-scram", "SCRAM-SHA-512=[name=broker,password=broker-secret]",
                        "--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret]"], check=True,
                       capture_output=True)

    nodes = cluster_factory(3, per_node=per_node, prepare=prepare)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap, **scram("admin", "admin-secret", certs=certs)})
    topic = f"kept-out-{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(topic, 1, 3)])[topic].result(30)

    def leader_alone():
        md = admin.list_topics(topic, timeout=10).topics[topic].partitions[0]
        return md.isrs == [md.leader]

    wait_until(leader_alone, 30, "the followers, which cannot log in, out of the ISR")
    wait_until(lambda: any("replica fetcher cannot connect to node" in n.log_file.read_text()
                           and "SASL" in n.log_file.read_text() for n in nodes), 30,
               "a node's log naming the refused login")


def test_storage_format_refuses_bad_ids_and_credentials_with_a_reason(tmp_path):
    cfg = tmp_path / "server.properties"
    cfg.write_text(f"node.id=0\nlog.dirs={tmp_path / 'data'}\nlisteners=PLAINTEXT://127.0.0.1:{free_port()}\n")
    good_id = subprocess.run([str(TERN_BIN), "storage", "random-uuid"], check=True, capture_output=True,
                             text=True).stdout.strip()
    for args, why in [
        (["-t", "not-a-uuid"], "does not appear to be a valid UUID"),
        (["-t", good_id, "--add-scram", "SCRAM-SHA-1=[name=a,password=b]"], "unknown mechanism"),
        (["-t", good_id, "--add-scram", "SCRAM-SHA-256=[name=a]"], "password=... is required"),
        (["-t", good_id, "--add-scram", "SCRAM-SHA-256=[name=a,password=b,iterations=99999999]"], "iterations"),
        (["-t", good_id, "--add-scram", "SCRAM-SHA-256=name=a,password=b"], "MECHANISM=[name=...,password=...]"),
        (["-t", good_id, "--add-scram", "SCRAM-SHA-256=[password=b]"], "name=... is required"),
    ]:
        done = subprocess.run([str(TERN_BIN), "storage", "format", "-c", str(cfg), *args], capture_output=True,
                              text=True)
        assert done.returncode != 0 and why in done.stderr, (args, done.stderr)
        assert not (tmp_path / "data" / "meta.properties").exists(), "a refused format writes nothing"
    ids = {subprocess.run([str(TERN_BIN), "storage", "random-uuid"], check=True, capture_output=True,
                          text=True).stdout.strip() for _ in range(40)}
    assert len(ids) == 40 and not any(i.startswith("-") for i in ids), "fresh ids a command line can take"
    ok = subprocess.run([str(TERN_BIN), "storage", "format", "-c", str(cfg), "-t", good_id], capture_output=True,
                        text=True)
    assert ok.returncode == 0, ok.stderr
    assert f"cluster.id={good_id}" in (tmp_path / "data" / "meta.properties").read_text()
    assert not (tmp_path / "data" / "bootstrap.records").exists(), "no seed asked for, none written"
