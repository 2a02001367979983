"""ACLs on three nodes with Kafka's standard authorizer settings: service accounts on a SASL
listener and a client certificate on a mutual-TLS one get exactly what their ACLs allow, made and
removed with the clients' own admin APIs, and kept in the replicated metadata through kill -9 of
the active controller and a restart of every node. The nodes replicate over a loopback PLAINTEXT
listener whose principal (User:ANONYMOUS) is a super user, as a Kafka cluster with a PLAINTEXT
inter-broker listener must be configured."""

from __future__ import annotations

import socket
import ssl
import struct
import json
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                   NewTopic, ResourcePatternType, ResourceType)

from conftest import REPO, TERN_BIN, Broker, free_port
from support import wait_until
from test_console import metrics
from test_security import certs, server_tls  # noqa: F401  (certs: the fixture, a throwaway CA and certificates)

JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
        'password="admin-secret" user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret";')
# The subject as openssl x509 -nameopt RFC2253 (and Java's X500Principal) write it.
CERT_PRINCIPAL = "User:O=Tern,OU=clients,CN=alice"


@pytest.fixture
def acl_cluster(cluster_factory, certs):
    sasl = [free_port() for _ in range(3)]
    mtls = [free_port() for _ in range(3)]

    def per_node(i, client_port, controller_port):
        return {
            "listeners": f"PLAINTEXT://127.0.0.1:{client_port},SASL_PLAINTEXT://127.0.0.1:{sasl[i]},"
                         f"MTLS://127.0.0.1:{mtls[i]},CONTROLLER://127.0.0.1:{controller_port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,MTLS:SSL,"
                                              "CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
            **server_tls(certs),
            "ssl.client.auth": "required",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": "User:admin;User:ANONYMOUS",
            "allow.everyone.if.no.acl.found": "false",
        }

    nodes = cluster_factory(3, per_node=per_node)
    return nodes, ",".join(f"127.0.0.1:{p}" for p in sasl), ",".join(f"127.0.0.1:{p}" for p in mtls)


def user(name: str, password: str) -> dict:
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.username": name,
            "sasl.password": password}


def mtls(certs) -> dict:
    return {"security.protocol": "SSL", "ssl.ca.location": str(certs / "ca.pem"),
            "ssl.certificate.location": str(certs / "client-cert.pem"),
            "ssl.key.location": str(certs / "client-key.pem")}


def allow(principal, op, name, rtype=ResourceType.TOPIC, pattern=ResourcePatternType.LITERAL,
          permission=AclPermissionType.ALLOW):
    return AclBinding(rtype, name, pattern, principal, "*", op, permission)


def send(bootstrap: str, config: dict, topic: str, n: int = 5) -> list:
    """Produces n records; returns each one's delivery error (None when written)."""
    p = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 10000, **config})
    errors: list = []
    for i in range(n):
        p.produce(topic, value=f"v{i}".encode(), on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    assert len(errors) == n, "every record is answered"
    return errors


def read(bootstrap: str, config: dict, topic: str, group: str, want: int, timeout_s: float = 30):
    """Reads with a consumer group; returns (values, the first error the consumer reported)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest", **config})
    c.subscribe([topic])
    values, error = [], None
    import time
    deadline = time.monotonic() + timeout_s
    try:
        while len(values) < want and time.monotonic() < deadline and error is None:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                error = m.error()
            else:
                values.append(m.value())
        if error is None and values:
            c.commit(asynchronous=False)
    finally:
        c.close()
    return values, error


def mtls_call(address: str, certs, payload: bytes) -> bytes:
    """Sends one request (header and body) over mutual TLS; returns the answer."""
    host, port = address.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    ctx.check_hostname = False
    ctx.load_cert_chain(str(certs / "client-cert.pem"), str(certs / "client-key.pem"))
    with socket.create_connection((host, int(port)), timeout=10) as raw, ctx.wrap_socket(raw) as s:
        s.sendall(struct.pack(">i", len(payload)) + payload)
        size = struct.unpack(">i", recv_exactly(s, 4))[0]
        return recv_exactly(s, size)


def metadata_by_id(address: str, certs, topic_id: bytes) -> bytes:
    """Sends Metadata v12 for one topic named by id only, over mutual TLS; returns the answer."""
    header = struct.pack(">hhih", 3, 12, 7, 4) + b"test" + b"\x00"
    body = b"\x02" + topic_id + b"\x00" + b"\x00" + b"\x00" + b"\x00" + b"\x00"  # one topic, null name
    return mtls_call(address, certs, header + body)


def describe_topic_partitions_raw(address: str, certs, topics: list[str]) -> bytes:
    """Sends DescribeTopicPartitions v0 for `topics` (every topic when empty), over mutual TLS."""
    header = struct.pack(">hhih", 75, 0, 8, 4) + b"test" + b"\x00"
    body = bytes([len(topics) + 1]) + b"".join(bytes([len(t) + 1]) + t.encode() + b"\x00" for t in topics)
    return mtls_call(address, certs, header + body + struct.pack(">i", 2000) + b"\xff\x00")


def fetch_raw(address: str, certs, topic: str) -> bytes:
    """Sends Fetch v4 for partition 0 of `topic` from offset 0, over mutual TLS; returns the answer."""
    host, port = address.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    ctx.check_hostname = False
    ctx.load_cert_chain(str(certs / "client-cert.pem"), str(certs / "client-key.pem"))
    header = struct.pack(">hhih", 1, 4, 9, 4) + b"test"
    name = topic.encode()
    body = (struct.pack(">iiiib", -1, 100, 1, 1 << 20, 0) + struct.pack(">ih", 1, len(name)) + name
            + struct.pack(">iiqi", 1, 0, 0, 1 << 20))
    with socket.create_connection((host, int(port)), timeout=10) as raw, ctx.wrap_socket(raw) as s:
        s.sendall(struct.pack(">i", len(header + body)) + header + body)
        size = struct.unpack(">i", recv_exactly(s, 4))[0]
        return recv_exactly(s, size)


def recv_exactly(s, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        assert chunk, "connection closed mid-answer"
        data += chunk
    return data


def test_acls_grant_exactly_what_they_say_and_survive_kill9_and_restart(acl_cluster, certs):
    nodes, sasl, mtls_bootstrap = acl_cluster
    admin = AdminClient({"bootstrap.servers": sasl, **user("admin", "admin-secret")})
    orders, audit = f"orders-{uuid.uuid4().hex[:6]}", f"audit-{uuid.uuid4().hex[:6]}"
    for f in admin.create_topics([NewTopic(orders, 2, 3), NewTopic(audit, 1, 3)]).values():
        f.result(30)

    alice = user("alice", "alice-secret")
    # No ACLs and allow.everyone.if.no.acl.found=false: alice sees no topics and writes nothing.
    md = AdminClient({"bootstrap.servers": sasl, **alice}).list_topics(timeout=10)
    assert orders not in md.topics and audit not in md.topics
    errors = send(sasl, alice, orders, 2)
    assert all(e is not None and e.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED for e in errors), errors
    # Counted as denials in /metrics, on the node that refused them.
    assert sum(s.value for n in nodes for s in metrics(n)["tern_authorization_denials"]) >= 1
    # The console's message browser would read with the node's own rights: off, and it says why.
    for path, data in ((f"/api/messages?topic={orders}", None), ("/api/produce", f"topic={orders}&value=x".encode())):
        req = urllib.request.Request(f"http://127.0.0.1:{nodes[0].http_port}{path}", data=data,
                                     headers={"X-Tern-Console": "1"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=10)
        assert refused.value.code == 403 and b"ACL authorizer" in refused.value.read()

    # alice may write and read `orders` and use groups starting with app-; bob may read every
    # topic but is denied writing orders; alice's certificate may only read orders.
    bindings = [
        allow("User:alice", AclOperation.WRITE, orders),
        allow("User:alice", AclOperation.READ, orders),
        allow("User:alice", AclOperation.READ, "app-", ResourceType.GROUP, ResourcePatternType.PREFIXED),
        allow("User:bob", AclOperation.ALL, "*"),
        allow("User:bob", AclOperation.WRITE, orders, permission=AclPermissionType.DENY),
        allow("User:bob", AclOperation.READ, "*", ResourceType.GROUP),
        allow(CERT_PRINCIPAL, AclOperation.READ, orders),
        allow(CERT_PRINCIPAL, AclOperation.READ, "cert-", ResourceType.GROUP, ResourcePatternType.PREFIXED),
    ]
    for f in admin.create_acls(bindings).values():
        f.result(30)

    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                  AclPermissionType.ANY)
    listed = admin.describe_acls(everything).result(30)
    assert set(listed) == set(bindings)
    # The console (on loopback here) lists them, on every node.
    for n in nodes:
        with urllib.request.urlopen(f"http://127.0.0.1:{n.http_port}/api/state", timeout=10) as r:
            acls = json.loads(r.read())["acls"]
        assert acls["total"] == len(bindings) and len(acls["shown"]) == len(bindings)
        assert {"resourceType": "TOPIC", "name": orders, "pattern": "LITERAL", "principal": "User:alice", "host": "*",
                "operation": "WRITE", "permission": "ALLOW"} in acls["shown"]

    def alice_writes():
        return all(e is None for e in send(sasl, alice, orders, 5))

    wait_until(alice_writes, 30, "alice writing orders once her ACL is on every broker")
    md = AdminClient({"bootstrap.servers": sasl, **alice}).list_topics(timeout=10)
    assert orders in md.topics and audit not in md.topics, "Metadata lists only what alice may describe"
    assert send(sasl, alice, audit, 1)[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    values, error = read(sasl, alice, orders, "app-readers", 5)
    assert error is None and len(values) >= 5
    values, error = read(sasl, alice, orders, "other-group", 1, timeout_s=15)
    assert error is not None and error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, error

    bob = user("bob", "bob-secret")
    assert send(sasl, bob, orders, 1)[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, "DENY beats ALL"
    assert all(e is None for e in send(sasl, bob, audit, 3))
    values, error = read(sasl, bob, orders, "bob-group", 5)
    assert error is None and len(values) >= 5

    # kafka-python, as its documentation configures a SASL PLAIN producer.
    from kafka import KafkaProducer
    from kafka.errors import TopicAuthorizationFailedError
    kp = KafkaProducer(bootstrap_servers=sasl, security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                       sasl_plain_username="alice", sasl_plain_password="alice-secret")
    kp.send(orders, b"from-kafka-python").get(timeout=30)
    with pytest.raises(TopicAuthorizationFailedError):
        kp.send(audit, b"refused").get(timeout=30)
    kp.close()

    # The client certificate's subject is the principal on the mutual-TLS listener.
    values, error = read(mtls_bootstrap, mtls(certs), orders, "cert-readers", 5)
    assert error is None and len(values) >= 5
    assert send(mtls_bootstrap, mtls(certs), orders, 1)[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    # Only a principal with ALTER on the cluster changes ACLs; DESCRIBE on it lists them.
    # (librdkafka's describe_acls drops the top-level error of the answer, with Kafka too, so
    # kafka-python's admin client, which raises it, checks the refusal.)
    from kafka.admin import (ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient,
                             ResourcePatternFilter)
    from kafka.admin import ResourceType as KafkaPythonResourceType
    from kafka.errors import ClusterAuthorizationFailedError
    kp_admin = KafkaAdminClient(bootstrap_servers=sasl, security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                                sasl_plain_username="alice", sasl_plain_password="alice-secret")
    with pytest.raises(ClusterAuthorizationFailedError):
        kp_admin.describe_acls(ACLFilter(
            principal=None, host="*", operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY,
            resource_pattern=ResourcePatternFilter(KafkaPythonResourceType.ANY, None, ACLResourcePatternType.ANY)))
    kp_admin.close()
    alice_admin = AdminClient({"bootstrap.servers": sasl, **alice})
    refused = alice_admin.create_acls([allow("User:alice", AclOperation.ALL, "*")])
    with pytest.raises(KafkaException) as e:
        for f in refused.values():
            f.result(30)
    assert e.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED

    # kill -9 the active controller; remove alice's WRITE through the new one; restart every
    # node: the ACLs are what was committed.
    controller = admin.list_topics(timeout=10).controller_id
    nodes[controller].kill9()
    survivors = [n for n in nodes if n.node_id != controller]
    survivor_sasl = ",".join(b for i, b in enumerate(sasl.split(",")) if i != controller)

    def controller_id():
        try:
            return AdminClient({"bootstrap.servers": survivors[0].bootstrap}).list_topics(timeout=5).controller_id
        except KafkaException:  # a connection the dead node's loss broke; ask again
            return None

    # librdkafka sends ACL changes to the controller its first Metadata named and does not ask
    # again, so the admin client is made once a survivor leads.
    wait_until(lambda: controller_id() in [n.node_id for n in survivors], 30, "a new active controller")
    admin = AdminClient({"bootstrap.servers": survivor_sasl, **user("admin", "admin-secret")})

    def delete_write():
        gone = admin.delete_acls([AclBindingFilter(ResourceType.TOPIC, orders, ResourcePatternType.LITERAL,
                                                   "User:alice", None, AclOperation.WRITE,
                                                   AclPermissionType.ALLOW)])
        for f in gone.values():
            f.result(15)
        return True

    # (An attempt whose answer is lost with the dead node may have removed it already: the
    # check is what the cluster holds afterwards.)
    wait_until(delete_write, 45, "deleting alice's WRITE through a new active controller")
    # DeleteAcls answers once the controller has committed the change; each broker answers
    # DescribeAcls from its own image, which applies it a moment later (as in Kafka): asked
    # through each survivor until the answers agree.
    survivor_admins = [AdminClient({"bootstrap.servers": b, **user("admin", "admin-secret")})
                       for b in survivor_sasl.split(",")]

    def described_by_every_survivor():
        return all(set(a.describe_acls(everything).result(10)) == set(bindings[1:]) for a in survivor_admins)

    wait_until(described_by_every_survivor, 30, "the ACLs described without alice's WRITE")
    nodes[controller].start()
    for n in nodes:
        n.stop()
    for n in nodes:
        n.start(wait=False)
    for n in nodes:
        n.wait_ready()
    admin = AdminClient({"bootstrap.servers": sasl, **user("admin", "admin-secret")})
    assert set(wait_until(lambda: admin.describe_acls(everything).result(10), 30, "ACLs after restart")) == \
        set(bindings[1:])
    assert send(sasl, alice, orders, 1)[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    values, error = read(sasl, alice, orders, "app-readers-2", 5)
    assert error is None and len(values) >= 5, "READ is still granted"

    # Replication kept going under the authorizer: every replica is in sync.
    wait_until(lambda: all(len(p.isrs) == 3 for p in admin.list_topics(orders, timeout=10).topics[orders]
                           .partitions.values()), 45, "every replica of orders back in sync")


def test_acl_apis_refuse_bad_acls_and_answer_security_disabled_without_an_authorizer(acl_cluster, broker, certs,
                                                                                     tmp_path):
    nodes, sasl, mtls_bootstrap = acl_cluster
    admin = AdminClient({"bootstrap.servers": sasl, **user("admin", "admin-secret")})
    bad = AclBinding(ResourceType.BROKER,  # the cluster (type 4)
                      "not-the-cluster", ResourcePatternType.LITERAL, "User:x", "*",
                     AclOperation.ALTER, AclPermissionType.ALLOW)
    good = allow("User:x", AclOperation.READ, "t")
    results = admin.create_acls([bad, good])
    with pytest.raises(KafkaException) as e:
        results[bad].result(30)
    assert e.value.args[0].code() == KafkaError.INVALID_REQUEST
    assert results[good].result(30) is None
    again = admin.create_acls([good])
    assert again[good].result(30) is None, "creating an ACL that exists succeeds"
    deleted = admin.delete_acls([AclBindingFilter(ResourceType.TOPIC, None, ResourcePatternType.ANY, "User:x", None,
                                                  AclOperation.ANY, AclPermissionType.ANY)])
    assert [b for f in deleted.values() for b in f.result(30)] == [good]

    # Metadata v12 asking for a topic by its id alone is checked under the topic's name: the
    # certificate's principal, with no ACL on it, is refused (the answer names the id, as Kafka's
    # does); given DESCRIBE, it gets the topic.
    t = f"by-id-{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(t, 1, 3)])[t].result(30)
    from confluent_kafka import TopicCollection
    d = admin.describe_topics(TopicCollection([t]))[t].result(30)
    topic_id = struct.pack(">qq", d.topic_id.get_most_significant_bits(), d.topic_id.get_least_significant_bits())
    # Node 0 may apply the new topic a moment after the node that created it (UNKNOWN_TOPIC_ID).
    unknown_id = b"\x00\x64\x00" + topic_id
    wait_until(lambda: unknown_id not in metadata_by_id(mtls_bootstrap.split(",")[0], certs, topic_id), 30,
               "node 0 knows the new topic's id")
    denied = metadata_by_id(mtls_bootstrap.split(",")[0], certs, topic_id)
    assert b"\x00\x1d\x00" + topic_id in denied, "TOPIC_AUTHORIZATION_FAILED, no name, the id"
    assert t.encode() not in denied
    # DescribeTopicPartitions likewise: refused when named, left out of a listing of all topics.
    node0 = mtls_bootstrap.split(",")[0]
    assert b"\x00\x1d" + bytes([len(t) + 1]) + t.encode() in describe_topic_partitions_raw(node0, certs, [t])
    assert t.encode() not in describe_topic_partitions_raw(node0, certs, [])
    for f in admin.create_acls([allow(CERT_PRINCIPAL, AclOperation.DESCRIBE, t)]).values():
        f.result(30)
    name = bytes([len(t) + 1]) + t.encode()
    wait_until(lambda: b"\x00\x00" + name + topic_id in metadata_by_id(mtls_bootstrap.split(",")[0], certs, topic_id),
               30, "the topic by id once DESCRIBE is granted")
    assert b"\x00\x00" + name + topic_id in describe_topic_partitions_raw(node0, certs, [t])

    # A Fetch of a topic the principal may not READ (DESCRIBE is not enough) is refused and carries
    # none of the topic's records.
    assert all(e is None for e in send(sasl, user("admin", "admin-secret"), t, 3))
    answer = fetch_raw(mtls_bootstrap.split(",")[0], certs, t)
    assert answer.count(t.encode()) == 1, "one entry for the topic: the refusal"
    assert struct.pack(">ih", 0, 29) in answer, "partition 0: TOPIC_AUTHORIZATION_FAILED"
    assert b"v0" not in answer and b"v2" not in answer, "no records of the refused topic"

    # ElectLeaders needs ALTER on the cluster: alice is refused, the admin (a super user) is not.
    def elect_as(name: str, password: str) -> subprocess.CompletedProcess:
        props = tmp_path / f"{name}.properties"
        props.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                         "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
                         f'username="{name}" password="{password}";\n')
        return subprocess.run([str(REPO / "bin" / "kafka-leader-election.sh"), "--bootstrap-server", sasl,
                               "--admin.config", str(props), "--election-type", "preferred",
                               "--topic", t, "--partition", "0"], capture_output=True, text=True, timeout=60)
    refused = elect_as("alice", "alice-secret")
    assert refused.returncode != 0 and "Not authorized to perform leader election" in refused.stdout, refused
    allowed = elect_as("admin", "admin-secret")
    assert allowed.returncode == 0 and f"Valid replica already elected for partitions {t}-0" in allowed.stdout, allowed

    # Reassignments need DESCRIBE (list) and ALTER (execute) on the cluster likewise.
    def reassign_as(name: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(REPO / "bin" / "kafka-reassign-partitions.sh"), "--bootstrap-server", sasl,
                               "--command-config", str(tmp_path / f"{name}.properties"), *args],
                              capture_output=True, text=True, timeout=60)
    move = tmp_path / "move.json"
    move.write_text(json.dumps({"version": 1, "partitions": [{"topic": t, "partition": 0, "replicas": [0]}]}))
    refused = reassign_as("alice", "--execute", "--reassignment-json-file", str(move))
    assert refused.returncode != 0 and "CLUSTER_AUTHORIZATION_FAILED" in refused.stdout + refused.stderr, refused
    allowed = reassign_as("admin", "--list")
    assert allowed.returncode == 0 and "No partition reassignments found." in allowed.stdout, allowed

    # So does unregistering a broker: alice is refused; the admin gets as far as "no such broker".
    def unregister_as(name: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(REPO / "bin" / "kafka-cluster.sh"), "unregister", "--bootstrap-server", sasl,
                               "--command-config", str(tmp_path / f"{name}.properties"), "--id", "7"],
                              capture_output=True, text=True, timeout=60)
    refused = unregister_as("alice")
    assert refused.returncode == 1 and "CLUSTER_AUTHORIZATION_FAILED" in refused.stderr, refused
    allowed = unregister_as("admin")
    assert allowed.returncode == 1 and "BROKER_ID_NOT_REGISTERED" in allowed.stderr, allowed

    # And changing the controller quorum's voters: alice is refused; the admin reaches the quorum,
    # which says voter 7 is not one of its voters.
    def remove_controller_as(name: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(REPO / "bin" / "kafka-metadata-quorum.sh"), "--bootstrap-server", sasl,
                               "--command-config", str(tmp_path / f"{name}.properties"), "remove-controller",
                               "--controller-id", "7"], capture_output=True, text=True, timeout=60)
    refused = remove_controller_as("alice")
    assert refused.returncode == 1 and "CLUSTER_AUTHORIZATION_FAILED" in refused.stderr, refused
    allowed = remove_controller_as("admin")
    assert allowed.returncode == 1 and "VOTER_NOT_FOUND" in allowed.stderr, allowed

    # A broker with no authorizer: the ACL APIs say so.
    plain = AdminClient({"bootstrap.servers": broker.bootstrap})
    with pytest.raises(KafkaException) as e:
        plain.create_acls([good])[good].result(30)
    assert e.value.args[0].code() == KafkaError.SECURITY_DISABLED
    from kafka.admin import (ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient,
                             ResourcePatternFilter)
    from kafka.admin import ResourceType as KafkaPythonResourceType
    from kafka.errors import SecurityDisabledError
    kp_admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    with pytest.raises(SecurityDisabledError):
        kp_admin.describe_acls(ACLFilter(
            principal=None, host="*", operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY,
            resource_pattern=ResourcePatternFilter(KafkaPythonResourceType.ANY, None, ACLResourcePatternType.ANY)))
    kp_admin.close()


def test_kafka_acls_sh_adds_lists_and_removes_acls_in_kafkas_format(acl_cluster):
    from test_cli import run
    nodes, sasl, _ = acl_cluster
    b = nodes[0].bootstrap  # the PLAINTEXT listener, whose User:ANONYMOUS is a super user here
    t = f"tool-{uuid.uuid4().hex[:6]}"
    added = run("acls", "--bootstrap-server", b, "--add", "--allow-principal", "User:carol", "--operation", "Read",
                "--operation", "Describe", "--topic", t).stdout.decode()
    pattern = f"ResourcePattern(resourceType=TOPIC, name={t}, patternType=LITERAL)"
    entries = [" \t(principal=User:carol, host=*, operation=READ, permissionType=ALLOW) ",
               " \t(principal=User:carol, host=*, operation=DESCRIBE, permissionType=ALLOW) "]
    assert added.splitlines() == [f"Adding ACLs for resource `{pattern}`: ", *entries, "",
                                  f"Current ACLs for resource `{pattern}`: ", *entries, ""], added

    run("acls", "--bootstrap-server", b, "--add", "--deny-principal", "User:dave", "--operation", "All",
        "--topic", "tool-", "--resource-pattern-type", "prefixed")
    run("acls", "--bootstrap-server", b, "--add", "--allow-principal", "User:erin", "--consumer", "--topic", t,
        "--group", "erin-app")
    listed = run("acls", "--bootstrap-server", b, "--list", "--topic", t, "--resource-pattern-type", "match"
                 ).stdout.decode()
    assert "(principal=User:dave, host=*, operation=ALL, permissionType=DENY)" in listed
    assert f"Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=tool-, patternType=PREFIXED)`: " \
        in listed.splitlines()
    assert "(principal=User:erin, host=*, operation=READ, permissionType=ALLOW)" in listed

    # The clients' admin API sees what the tool made.
    admin = AdminClient({"bootstrap.servers": sasl, **user("admin", "admin-secret")})
    mine = admin.describe_acls(AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, "User:erin", None,
                                                AclOperation.ANY, AclPermissionType.ANY)).result(30)
    assert {(a.restype, a.name, a.operation) for a in mine} == {
        (ResourceType.TOPIC, t, AclOperation.READ), (ResourceType.TOPIC, t, AclOperation.DESCRIBE),
        (ResourceType.GROUP, "erin-app", AclOperation.READ)}

    removed = run("acls", "--bootstrap-server", b, "--remove", "--force", "--topic", t).stdout.decode()
    assert "Removing ACLs for resource" in removed and "User:carol" in removed
    after = run("acls", "--bootstrap-server", b, "--list", "--topic", t).stdout.decode()
    assert after.strip() == "", after

    # Mistakes are refused with a reason and a non-zero exit.
    for args, why in [(["--add", "--allow-principal", "User:x", "--operation", "Fly", "--topic", t], "Unknown operation"),
                      (["--add", "--allow-principal", "User:x", "--operation", "Read"], "Name a resource"),
                      (["--add", "--allow-principal", "x", "--operation", "Read", "--topic", t], "Type:name"),
                      (["--list", "--add"], "Exactly one")]:
        bad = run("acls", "--bootstrap-server", b, *args, check=False)
        assert bad.returncode != 0 and why in bad.stderr.decode(), (args, bad.stderr.decode())


def test_principal_mapping_rules_name_certificates_and_refuse_what_no_rule_names(tmp_path, certs):
    """`ssl.principal.mapping.rules` per listener: on MAPPED the rule turns the certificate's
    subject into User:ALICE, whose ACL lets it write; on STRICT no rule names the subject, so the
    connection is refused with the subject in the log; a rule that is not one stops the start."""
    plain, mapped, strict = free_port(), free_port(), free_port()
    node = Broker(tmp_path, port=plain, extra={
        "listeners": f"PLAINTEXT://127.0.0.1:{plain},MAPPED://127.0.0.1:{mapped},STRICT://127.0.0.1:{strict}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,MAPPED:SSL,STRICT:SSL",
        **server_tls(certs),
        "ssl.client.auth": "required",
        "listener.name.mapped.ssl.principal.mapping.rules": "RULE:^O=Tern,OU=clients,CN=([^,]+)$/$1/U",
        "listener.name.strict.ssl.principal.mapping.rules": "RULE:^.*OU=admins.*$/admin/",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:ANONYMOUS",
        "allow.everyone.if.no.acl.found": "false",
    })
    text = node.config_file.read_text()
    try:
        node.start()
        admin = AdminClient({"bootstrap.servers": node.bootstrap})
        admin.create_topics([NewTopic("mapped", 1, 1)])["mapped"].result(15)
        for f in admin.create_acls([allow("User:ALICE", AclOperation.WRITE, "mapped"),
                                    allow("User:ALICE", AclOperation.DESCRIBE, "mapped")]).values():
            f.result(15)
        assert send(f"127.0.0.1:{mapped}", mtls(certs), "mapped", 3) == [None] * 3

        errors = send(f"127.0.0.1:{strict}", {**mtls(certs), "message.timeout.ms": 3000}, "mapped", 1)
        assert errors[0] is not None
        wait_until(lambda: "no ssl.principal.mapping.rules rule names the client certificate's subject "
                           "O=Tern,OU=clients,CN=alice" in node.log_tail(200), timeout=10,
                   what="the refused subject in the broker's log")
    finally:
        node.close()

    bad = tmp_path / "bad.properties"
    bad.write_text(text.replace("RULE:^.*OU=admins.*$/admin/", "RULE:^CN=(.*$/$1/"))
    check = subprocess.run([str(TERN_BIN), "server-start", "--check", str(bad)], capture_output=True, text=True,
                           timeout=10)
    assert check.returncode == 2
    assert "listener.name.strict.ssl.principal.mapping.rules" in check.stderr and "not a regular expression" in check.stderr
