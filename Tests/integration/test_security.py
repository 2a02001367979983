"""Secured listeners on three nodes: SSL (with and without client certificates), SASL_PLAINTEXT
and SASL_SSL with PLAIN, each used by confluent-kafka, kafka-python, aiokafka and kcat exactly
as their own documentation configures them. Certificates come from config/secure/make-certs.sh
(openssl). The nodes replicate over their PLAINTEXT inter-broker listener."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import subprocess
import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import REPO, free_port
from support import consume_all, produce, wait_until
from test_console import metrics

JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
        'password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";')
KINDS = ["SSL", "MTLS", "SASL_PLAINTEXT", "SASL_SSL"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    out = tmp_path_factory.mktemp("certs")
    subprocess.run([str(REPO / "config/secure/make-certs.sh"), str(out), "alice"], check=True,
                   capture_output=True)
    return out


def server_tls(certs) -> dict[str, str]:
    """A node's keystore (key and chain) and truststore (the throwaway CA), PEM files."""
    return {"ssl.keystore.type": "PEM", "ssl.keystore.location": str(certs / "server.pem"),
            "ssl.truststore.type": "PEM", "ssl.truststore.location": str(certs / "ca.pem")}


@pytest.fixture
def secure_cluster(cluster_factory, certs):
    ports = {kind: [free_port() for _ in range(3)] for kind in KINDS}

    def per_node(i, client_port, controller_port):
        listeners = [f"PLAINTEXT://127.0.0.1:{client_port}"] + [
            f"{kind}://127.0.0.1:{ports[kind][i]}" for kind in KINDS]
        return {
            "listeners": ",".join(listeners + [f"CONTROLLER://127.0.0.1:{controller_port}"]),
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL,MTLS:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,"
                                              "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            **server_tls(certs),
            "listener.name.mtls.ssl.client.auth": "required",
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
            "listener.name.sasl_ssl.plain.sasl.jaas.config": JAAS,
        }

    nodes = cluster_factory(3, per_node=per_node)
    return nodes, {kind: ",".join(f"127.0.0.1:{p}" for p in ports[kind]) for kind in KINDS}


def librdkafka_config(kind: str, certs, password="alice-secret") -> dict:
    c = {"security.protocol": "SSL" if kind == "MTLS" else kind}
    if kind in ("SSL", "MTLS", "SASL_SSL"):
        c["ssl.ca.location"] = str(certs / "ca.pem")
    if kind == "MTLS":
        c["ssl.certificate.location"] = str(certs / "client-cert.pem")
        c["ssl.key.location"] = str(certs / "client-key.pem")
    if kind.startswith("SASL"):
        c.update({"sasl.mechanism": "PLAIN", "sasl.username": "alice", "sasl.password": password})
    return c


def python_config(kind: str, certs, password="alice-secret") -> dict:
    """kafka-python's and aiokafka's names for the same settings."""
    c = {"security_protocol": "SSL" if kind == "MTLS" else kind}
    if kind in ("SSL", "MTLS", "SASL_SSL"):
        c["ssl_cafile"] = str(certs / "ca.pem")
    if kind == "MTLS":
        c["ssl_certfile"] = str(certs / "client-cert.pem")
        c["ssl_keyfile"] = str(certs / "client-key.pem")
    if kind.startswith("SASL"):
        c.update({"sasl_mechanism": "PLAIN", "sasl_plain_username": "alice", "sasl_plain_password": password})
    return c


def create(bootstrap: str, config: dict, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, **config})
    for f in admin.create_topics([NewTopic(name, 2, 3)]).values():
        f.result(30)


def test_every_client_produces_and_consumes_over_every_secured_listener(secure_cluster, certs):
    nodes, bootstraps = secure_cluster
    from kafka import KafkaConsumer, KafkaProducer
    import aiokafka

    for kind in KINDS:
        bootstrap = bootstraps[kind]
        topic = f"sec-{kind.lower()}-{uuid.uuid4().hex[:6]}"
        create(bootstrap, librdkafka_config(kind, certs), topic)

        # confluent-kafka
        acked = produce(bootstrap, topic, [(b"k", f"ck-{i}".encode()) for i in range(20)],
                        acks="all", **librdkafka_config(kind, certs))
        assert len(acked) == 20

        # kafka-python
        p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", **python_config(kind, certs))
        for i in range(20):
            p.send(topic, key=b"k", value=f"kp-{i}".encode()).get(timeout=30)
        p.close()

        # aiokafka
        async def aio():
            prod = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                             ssl_context=aio_ssl(kind, certs),
                                             **aio_options(kind))
            await prod.start()
            try:
                for i in range(20):
                    await prod.send_and_wait(topic, key=b"k", value=f"aio-{i}".encode())
            finally:
                await prod.stop()
            cons = aiokafka.AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                             ssl_context=aio_ssl(kind, certs), **aio_options(kind))
            await cons.start()
            seen = []
            try:
                while len(seen) < 80:
                    batch = await cons.getmany(timeout_ms=1000)
                    if not batch and len(seen) >= 60:
                        break
                    for records in batch.values():
                        seen += [r.value for r in records]
            finally:
                await cons.stop()
            return seen

        # kcat
        kcat_args = ["kcat", "-b", bootstrap] + sum((["-X", f"{k}={v}"] for k, v in
                                                    librdkafka_config(kind, certs).items()), [])
        subprocess.run(kcat_args + ["-P", "-t", topic, "-k", "k"], input=b"\n".join(
            f"kcat-{i}".encode() for i in range(20)), check=True, timeout=60)

        aio_seen = asyncio.run(aio())
        values = {r.value for rs in consume_all(bootstrap, topic, **librdkafka_config(kind, certs)).values()
                  for r in rs}
        expected = {f"{who}-{i}".encode() for who in ("ck", "kp", "aio", "kcat") for i in range(20)}
        assert values == expected, f"{kind}: missing {sorted(expected - values)[:5]}"
        assert set(aio_seen) == expected, f"{kind}: aiokafka read {len(aio_seen)} of 80"

        c = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                          consumer_timeout_ms=5000, **python_config(kind, certs))
        assert {m.value for m in c} == expected, f"{kind}: kafka-python did not read all 80"
        c.close()

        out = subprocess.run(kcat_args + ["-C", "-t", topic, "-e", "-q"], capture_output=True, timeout=60,
                             check=True).stdout.split(b"\n")
        assert {v for v in out if v} == expected, f"{kind}: kcat did not read all 80"


def aio_ssl(kind: str, certs):
    if kind not in ("SSL", "MTLS", "SASL_SSL"):
        return None
    from aiokafka.helpers import create_ssl_context
    if kind == "MTLS":
        return create_ssl_context(cafile=str(certs / "ca.pem"), certfile=str(certs / "client-cert.pem"),
                                  keyfile=str(certs / "client-key.pem"))
    return create_ssl_context(cafile=str(certs / "ca.pem"))


def aio_options(kind: str) -> dict:
    c = {"security_protocol": "SSL" if kind == "MTLS" else kind}
    if kind.startswith("SASL"):
        c.update({"sasl_mechanism": "PLAIN", "sasl_plain_username": "alice", "sasl_plain_password": "alice-secret"})
    return c


def raw_request(sock, api_key: int, version: int, body: bytes, correlation: int = 1) -> bytes | None:
    """One request (header v1) and its answer, or None when the broker closed the connection."""
    header = struct.pack(">hhih", api_key, version, correlation, 4) + b"test"
    frame = header + body
    sock.sendall(struct.pack(">i", len(frame)) + frame)
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
    (n,) = struct.unpack(">i", head)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def closed(sock, timeout=5.0) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_wrong_passwords_unauthenticated_requests_and_missing_certificates_are_refused(secure_cluster, certs):
    nodes, bootstraps = secure_cluster
    host, port = bootstraps["SASL_PLAINTEXT"].split(",")[0].split(":")

    def auth_counts() -> tuple[float, float]:
        ms = [metrics(n) for n in nodes]
        return (sum(s.value for m in ms for s in m["tern_authentication_successes"]),
                sum(s.value for m in ms for s in m["tern_authentication_failures"]))

    ok_before, failed_before = auth_counts()
    # A wrong password: SASL_AUTHENTICATION_FAILED, then the connection is closed.
    with socket.create_connection((host, int(port)), timeout=5) as s:
        mech = b"PLAIN"
        answer = raw_request(s, 17, 1, struct.pack(">h", len(mech)) + mech)
        assert answer is not None and struct.unpack(">h", answer[4:6])[0] == 0
        token = b"\0alice\0wrong"
        answer = raw_request(s, 36, 1, struct.pack(">i", len(token)) + token, correlation=2)
        assert answer is not None
        assert struct.unpack(">h", answer[4:6])[0] == 58  # SASL_AUTHENTICATION_FAILED
        assert closed(s)

    # Counted in /metrics.
    assert auth_counts()[1] == failed_before + 1

    # Metadata before authenticating: the connection is closed, nothing is answered.
    with socket.create_connection((host, int(port)), timeout=5) as s:
        assert raw_request(s, 3, 1, struct.pack(">i", -1)) is None

    # An unknown mechanism: UNSUPPORTED_SASL_MECHANISM with the enabled ones listed.
    with socket.create_connection((host, int(port)), timeout=5) as s:
        mech = b"GSSAPI"
        answer = raw_request(s, 17, 1, struct.pack(">h", len(mech)) + mech)
        assert answer is not None and struct.unpack(">h", answer[4:6])[0] == 33
        assert b"PLAIN" in answer

    # The real clients report the failure.
    from confluent_kafka import KafkaException
    admin = AdminClient({"bootstrap.servers": bootstraps["SASL_SSL"],
                         **librdkafka_config("SASL_SSL", certs, password="wrong")})
    with pytest.raises(KafkaException) as e:
        admin.list_topics(timeout=5)
    assert "Authentication failed" in str(e.value) or "Invalid username or password" in str(
        e.value) or "_TRANSPORT" in str(e.value)
    from kafka import KafkaProducer
    from kafka.errors import KafkaError
    with pytest.raises(KafkaError):
        KafkaProducer(bootstrap_servers=bootstraps["SASL_PLAINTEXT"], request_timeout_ms=5000,
                      max_block_ms=5000, **python_config("SASL_PLAINTEXT", certs, password="wrong"))

    # Plain TCP to a TLS listener gets no Kafka answer; TLS without a client certificate to the
    # listener that requires one is refused in the handshake.
    host, port = bootstraps["SSL"].split(",")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        assert raw_request(s, 18, 0, b"") is None
    host, port = bootstraps["MTLS"].split(",")[0].split(":")
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                raw_request(s, 18, 0, b"") or (_ for _ in ()).throw(ssl.SSLError("closed"))

    # Every node still serves.
    for n in nodes:
        assert n.alive()
    create(bootstraps["SASL_SSL"], librdkafka_config("SASL_SSL", certs), "sec-after")
    wait_until(lambda: "sec-after" in AdminClient({"bootstrap.servers": nodes[2].bootstrap}).list_topics(
        timeout=5).topics, 20, "the topic on every node")
    ok_after, failed_after = auth_counts()
    assert ok_after > ok_before and failed_after >= failed_before + 3


def test_scram_users_made_with_the_admin_client_authenticate_and_survive_kill9_of_the_controller(
        secure_cluster, certs):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (ScramCredentialInfo, ScramMechanism, UserScramCredentialDeletion,
                                       UserScramCredentialUpsertion)
    nodes, bootstraps = secure_cluster
    admin = AdminClient({"bootstrap.servers": nodes[0].bootstrap})
    changes = [
        UserScramCredentialUpsertion("bob", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), b"bob-256"),
        UserScramCredentialUpsertion("bob", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"bob-512"),
    ]
    # One user twice in a request is refused, as Kafka does; one change per request works.
    for f in admin.alter_user_scram_credentials(changes).values():
        with pytest.raises(KafkaException, match="DUPLICATE_RESOURCE|twice"):
            f.result(30)
    for change in changes:
        for f in admin.alter_user_scram_credentials([change]).values():
            f.result(30)
    carol = UserScramCredentialUpsertion("carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"c")
    for f in admin.alter_user_scram_credentials([carol]).values():
        f.result(30)
    # A user name is bounded (1,024 bytes): what clients store in the metadata has limits.
    long_name = UserScramCredentialUpsertion("x" * 1025, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
                                             b"p")
    for f in admin.alter_user_scram_credentials([long_name]).values():
        with pytest.raises(KafkaException, match="UNACCEPTABLE_CREDENTIAL|1024"):
            f.result(30)

    described = {u: f.result(30) for u, f in admin.describe_user_scram_credentials(["bob"]).items()}
    infos = described["bob"].scram_credential_infos
    assert sorted((i.mechanism, i.iterations) for i in infos) == [
        (ScramMechanism.SCRAM_SHA_256, 8192), (ScramMechanism.SCRAM_SHA_512, 4096)]

    def scram(kind, mechanism, user, password):
        c = {"security.protocol": kind, "sasl.mechanism": mechanism, "sasl.username": user,
             "sasl.password": password}
        if kind == "SASL_SSL":
            c["ssl.ca.location"] = str(certs / "ca.pem")
        return c

    def works(kind, mechanism, user, password, topic):
        acked = produce(bootstraps[kind], topic, [(b"k", f"{mechanism}".encode())], acks="all",
                        **scram(kind, mechanism, user, password))
        return len(acked) == 1

    topic = "sec-scram"
    create(nodes[0].bootstrap, {}, topic)
    assert works("SASL_SSL", "SCRAM-SHA-256", "bob", "bob-256", topic)
    assert works("SASL_PLAINTEXT", "SCRAM-SHA-512", "bob", "bob-512", topic)
    # kcat over SCRAM too (Debian's librdkafka 2.0 repeats its nonce, as librdkafka did before 2.6.1).
    r = subprocess.run(["kcat", "-b", bootstraps["SASL_SSL"], "-P", "-t", topic] + sum(
        (["-X", f"{k}={v}"] for k, v in scram("SASL_SSL", "SCRAM-SHA-512", "carol", "c").items()), []),
        input=b"from-kcat\n", timeout=60, capture_output=True)
    assert r.returncode == 0, r.stderr.decode()

    # kafka-configs.sh, as Kafka's documentation writes it.
    configs = [str(REPO / "bin/kafka-configs.sh"), "--bootstrap-server", nodes[1].bootstrap]
    out = subprocess.run(configs + ["--alter", "--add-config",
                                    "SCRAM-SHA-256=[iterations=8192,password=dave-secret],SCRAM-SHA-512=[password=d5]",
                                    "--entity-type", "users", "--entity-name", "dave"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "Completed updating config for user dave.", out
    out = subprocess.run(configs + ["--describe", "--entity-type", "users", "--entity-name", "dave"],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == ("SCRAM credential configs for user-principal 'dave' are "
                                  "SCRAM-SHA-256=iterations=8192, SCRAM-SHA-512=iterations=4096"), out
    wait_until(lambda: works("SASL_PLAINTEXT", "SCRAM-SHA-256", "dave", "dave-secret", topic), 20,
               "dave authenticating")
    out = subprocess.run(configs + ["--alter", "--add-config", "SCRAM-SHA-256=[iterations=10,password=x]",
                                    "--entity-type", "users", "--entity-name", "eve"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "iterations must be from 4096 to 16384" in out.stderr

    bad = AdminClient({"bootstrap.servers": bootstraps["SASL_PLAINTEXT"],
                       **scram("SASL_PLAINTEXT", "SCRAM-SHA-256", "bob", "bob-512")})
    with pytest.raises(KafkaException):
        bad.list_topics(timeout=5)

    # The credentials are in the replicated metadata: kill -9 the active controller, then
    # restart every node; bob still authenticates, and a deleted credential stops working.
    controller = admin.list_topics(timeout=10).controller_id
    nodes[controller].kill9()
    survivors = [n for n in nodes if n.node_id != controller]
    def controller_id():
        try:
            return AdminClient({"bootstrap.servers": survivors[0].bootstrap}).list_topics(timeout=5).controller_id
        except KafkaException:  # a connection the dead node's loss broke; ask again
            return None

    wait_until(lambda: controller_id() in [n.node_id for n in survivors], 30, "a new active controller")
    admin = AdminClient({"bootstrap.servers": survivors[0].bootstrap})
    for f in admin.alter_user_scram_credentials(
            [UserScramCredentialDeletion("bob", ScramMechanism.SCRAM_SHA_512)]).values():
        f.result(30)
    nodes[controller].start()
    for n in nodes:
        n.stop()
    for n in nodes:
        n.start(wait=False)
    for n in nodes:
        n.wait_ready()
    def bob_works():
        try:
            return works("SASL_SSL", "SCRAM-SHA-256", "bob", "bob-256", topic)
        except (KafkaException, AssertionError):
            return False

    wait_until(bob_works, 60, "bob authenticating after the restart")
    gone = AdminClient({"bootstrap.servers": bootstraps["SASL_PLAINTEXT"],
                        **scram("SASL_PLAINTEXT", "SCRAM-SHA-512", "bob", "bob-512")})
    with pytest.raises(KafkaException):
        gone.list_topics(timeout=5)


def test_garbage_and_cut_handshakes_on_tls_listeners_harm_nothing(secure_cluster, certs):
    """Random bytes, a Kafka frame in the clear, a ClientHello cut short and garbage inside TLS,
    some 300 connections, against the SSL and SASL_SSL listeners of every node."""
    import os
    import random
    nodes, bootstraps = secure_cluster
    rng = random.Random(15)
    hello = bytes.fromhex("16030100") + bytes([0x40]) + os.urandom(20)  # a record header, then junk
    for kind in ("SSL", "SASL_SSL", "MTLS"):
        for address in bootstraps[kind].split(","):
            host, port = address.split(":")
            for i in range(24):
                with socket.create_connection((host, int(port)), timeout=5) as s:
                    s.sendall([os.urandom(rng.randrange(1, 5000)), hello,
                               struct.pack(">ihhih", 10, 18, 0, 1, -1), bytes(100_000)][i % 4])
                    if i % 2:
                        try:
                            s.shutdown(socket.SHUT_WR)
                        except OSError:  # the broker closed first, as it may on garbage
                            pass
                    s.settimeout(0.5)
                    try:
                        while s.recv(65536):
                            pass
                    except (socket.timeout, ConnectionResetError):
                        pass
            ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
            for _ in range(8):
                raw = socket.create_connection((host, int(port)), timeout=5)
                tls = ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
                try:
                    tls.do_handshake()
                    tls.sendall(os.urandom(rng.randrange(1, 200)))  # garbage inside TLS
                except (ssl.SSLError, OSError):
                    pass
                tls.close()
    for n in nodes:
        assert n.alive()
    topic = f"sec-after-garbage-{uuid.uuid4().hex[:6]}"
    create(bootstraps["SSL"], librdkafka_config("SSL", certs), topic)
    assert len(produce(bootstraps["SASL_SSL"], topic, [(b"k", b"v")], acks="all",
                       **librdkafka_config("SASL_SSL", certs))) == 1


def test_fetches_past_the_sendfile_size_go_through_tls(secure_cluster, certs):
    """Answers of 64 KiB and more are sent from the file on PLAINTEXT (sendfile); on TLS they
    must pass through the TLS handler instead (a file region there used to stop the broker)."""
    nodes, bootstraps = secure_cluster
    topic = f"sec-big-{uuid.uuid4().hex[:6]}"
    create(bootstraps["SSL"], librdkafka_config("SSL", certs), topic)
    records = [(b"k%d" % i, bytes([i % 251]) * 4096) for i in range(600)]
    assert len(produce(bootstraps["SASL_SSL"], topic, records, acks="all",
                       **librdkafka_config("SASL_SSL", certs))) == 600
    for kind in ("SSL", "SASL_SSL", "MTLS"):
        got = consume_all(bootstraps[kind], topic, **librdkafka_config(kind, certs))
        assert sorted(r.value for rs in got.values() for r in rs) == sorted(v for _, v in records), kind
    for n in nodes:
        assert n.alive()
