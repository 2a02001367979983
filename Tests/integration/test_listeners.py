"""Two client listeners, as in Kafka's Docker set-ups: clients are told the addresses of the
listener they came in on. Here INTERNAL advertises a name only a container network would
resolve, EXTERNAL the loopback address; a client on EXTERNAL works end to end and never sees the
internal name, and Metadata on INTERNAL answers with it."""

from __future__ import annotations

import socket

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from conftest import Broker, free_port


def test_each_listener_advertises_its_own_address(tmp_path):
    internal, external = free_port(), free_port()
    node = Broker(tmp_path, port=external, extra={
        "listeners": f"INTERNAL://127.0.0.1:{internal},EXTERNAL://127.0.0.1:{external}",
        "advertised.listeners": f"INTERNAL://tern-0.internal:{internal},EXTERNAL://127.0.0.1:{external}",
        "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
        "inter.broker.listener.name": "INTERNAL",
    })
    try:
        node.start()
        outside = AdminClient({"bootstrap.servers": f"127.0.0.1:{external}"})
        brokers = outside.list_topics(timeout=10).brokers
        assert [(b.host, b.port) for b in brokers.values()] == [("127.0.0.1", external)]

        p = Producer({"bootstrap.servers": f"127.0.0.1:{external}"})
        p.produce("via-external", b"hello")
        assert p.flush(15) == 0
        c = Consumer({"bootstrap.servers": f"127.0.0.1:{external}", "group.id": "listeners",
                      "auto.offset.reset": "earliest"})
        c.subscribe(["via-external"])
        got = None
        for _ in range(40):
            m = c.poll(0.5)
            if m is not None and not m.error():
                got = m.value()
                break
        c.close()
        assert got == b"hello", "produce, group join and fetch all went through the external address"

        # On INTERNAL the answer names the internal address (which only the container network
        # resolves); librdkafka reports the bootstrap connection's Metadata as it is.
        inside = AdminClient({"bootstrap.servers": f"127.0.0.1:{internal}"})
        brokers = inside.list_topics(timeout=10).brokers
        assert [(b.host, b.port) for b in brokers.values()] == [("tern-0.internal", internal)]
    finally:
        node.close()


def test_a_port_in_use_is_named_in_the_error(tmp_path):
    """A second broker on a taken port stops with the address and the reason in words, not
    NIO's `bind(descriptor:ptr:bytes:)` text."""
    port = free_port()
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        node = Broker(tmp_path, port=port)
        node.start(wait=False)
        try:
            status = node.proc.wait(timeout=60)
        finally:
            if node.alive():
                node.kill9()
    assert status != 0
    log = node.log_tail()
    assert f"could not start: cannot listen on 127.0.0.1:{port}: the address is already in use" in log, log
    assert "bind(descriptor" not in log
