"""The web console and /metrics: JSON endpoints, Prometheus text read by Prometheus' own parser,
and the page in headless Chromium following a kill -9 without a reload."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import struct
import time
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from conftest import REPO
from support import create_topic, produce, unique_topic, wait_until

ARTIFACTS = REPO / "Tests" / "integration" / "artifacts"


def get(node, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}{path}", timeout=10) as r:
        return r.read().decode()


def get_json(node, path: str):
    return json.loads(get(node, path))


def metrics(node) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(get(node, "/metrics"))}


def create_replicated(nodes, topic: str, partitions: int = 3) -> None:
    admin = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in nodes)})
    admin.create_topics([NewTopic(topic, partitions, replication_factor=len(nodes))])[topic].result(30)
    wait_until(lambda: all(len(p["isr"]) == len(nodes) for t in get_json(nodes[0], "/api/topics")
                           if t["name"] == topic for p in t["partitions"]), 20, f"{topic} fully replicated")


def test_json_endpoints_and_prometheus_metrics(cluster_factory):
    nodes = cluster_factory(3)
    b = ",".join(n.bootstrap for n in nodes)
    # Node 0 serves once it is unfenced itself; the others' unfencing reaches it a moment later.
    cluster = wait_until(lambda: (lambda c: c if [x["state"] for x in c["brokers"]] == ["up", "up", "up"] else None)(
        get_json(nodes[0], "/api/cluster")), 20, "node 0 to see three brokers up")
    assert cluster["controller"] in (0, 1, 2) and cluster["offline"] == 0
    topic = unique_topic("console")
    create_replicated(nodes, topic)
    produce(b, topic, [(f"k{i}".encode(), f"v{i}".encode()) for i in range(300)], acks="all")
    # A group commits offsets for part of the topic, so it has lag.
    c = Consumer({"bootstrap.servers": b, "group.id": "console-group", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 10 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append(m)
        c.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
    finally:
        c.close()

    topics = {t["name"]: t for t in get_json(nodes[0], "/api/topics")}
    parts = topics[topic]["partitions"]
    assert sum(p["highWatermark"] for p in parts) == 300
    assert all(sorted(p["replicas"]) == [0, 1, 2] and p["outOfSync"] == [] for p in parts)
    groups = [g for n in nodes for g in get_json(n, "/api/groups") if g["id"] == "console-group"]
    assert len(groups) == 1, "exactly one node coordinates the group"
    entry = groups[0]["partitions"][0]
    end0 = parts[0]["highWatermark"]
    assert (entry["committed"], entry["lag"]) == (5, end0 - 5)
    events = get_json(nodes[0], "/api/events")
    assert any(e["text"].startswith(f"topic {topic} created") for e in events)

    # /metrics, parsed by prometheus_client: every node's families, and the values they must hold.
    leader0 = parts[0]["leader"]
    m = metrics(nodes[leader0])
    produced = {s.labels["api"]: s.value for s in m["tern_requests"] if s.name == "tern_requests_total"}
    assert produced.get("Produce", 0) >= 1 and produced.get("Fetch", 0) >= 1
    buckets = [s for s in m["tern_request_latency_seconds"] if s.name.endswith("_bucket") and s.labels["api"] == "Produce"]
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == produced["Produce"]
    assert [s.value for s in buckets] == sorted(s.value for s in buckets), "buckets are cumulative"
    bytes_in = {s.labels["topic"]: s.value for s in m["tern_topic_bytes_in"]}
    assert bytes_in[topic] > 300 * 4
    assert m["tern_under_replicated_partitions"][0].value == 0
    assert m["tern_offline_partitions"][0].value == 0
    sizes = {(s.labels["topic"], s.labels["partition"]): s.value for s in m["tern_log_size_bytes"]}
    assert sizes[(topic, "0")] > 0
    controllers = [metrics(n)["tern_active_controller"][0].value for n in nodes]
    assert sorted(controllers) == [0, 0, 1]
    active = nodes[controllers.index(1)]
    commits = [s for s in metrics(active)["tern_raft_commit_latency_seconds"] if s.name.endswith("_count")]
    assert commits and commits[0].value >= 1, "the active controller times its commits"
    assert {metrics(n)["tern_raft_epoch"][0].value for n in nodes} == {m["tern_raft_epoch"][0].value}
    coordinator = next(n for n in nodes if any(g["id"] == "console-group" for g in get_json(n, "/api/groups")))
    lag = {(s.labels["group"], s.labels["partition"]): s.value
           for s in metrics(coordinator)["tern_consumer_group_lag"] if s.labels["topic"] == topic}
    if ("console-group", "0") in lag:  # known where the coordinator holds partition 0
        assert lag[("console-group", "0")] == end0 - 5


# What a Kafka user looks for, by Tern's name: Kafka's MessagesInPerSec, BytesIn/OutPerSec,
# UnderReplicatedPartitions, OfflinePartitionsCount, ActiveControllerCount, IsrShrinks/Expands,
# LeaderCount, PartitionCount, RequestsPerSec and TotalTimeMs per API, Failed*RequestsPerSec,
# replica MaxLag, connection-count, records-lag, and the process collector's standard families.
EXPECTED_FAMILIES = """
tern_requests tern_request_latency_seconds tern_request_bytes tern_requests_in_flight tern_failed_requests
tern_connections tern_connections_accepted tern_connections_rejected tern_authentication_successes
tern_authentication_failures tern_authorization_denials tern_messages_in tern_bytes_in tern_bytes_out
tern_topic_messages_in tern_topic_bytes_in tern_topic_bytes_out tern_failed_produce_requests
tern_failed_fetch_requests tern_replication_bytes_out tern_replication_bytes_in tern_under_replicated_partitions
tern_offline_partitions tern_under_min_isr_partitions tern_leader_count tern_partition_count
tern_global_partition_count tern_global_topic_count tern_isr_shrinks tern_isr_expands tern_leader_elections
tern_replica_max_lag tern_log_size_bytes tern_log_end_offset tern_log_start_offset tern_high_watermark
tern_active_controller tern_controller_id tern_raft_epoch tern_raft_high_watermark tern_metadata_applied_offset
tern_raft_commit_latency_seconds tern_brokers tern_consumer_group_lag tern_consumer_groups
tern_consumer_group_members tern_group_rebalances tern_offset_commits tern_transactions
tern_transactions_committed tern_transactions_aborted process_cpu_seconds process_resident_memory_bytes
process_virtual_memory_bytes process_open_fds process_max_fds process_start_time_seconds tern_build_info
""".split()

GRAFANA = REPO / "docker" / "grafana" / "tern-dashboard.json"


def values(m, family: str, **labels) -> list[float]:
    return [s.value for s in m.get(family, []) if all(s.labels.get(k) == v for k, v in labels.items())
            and not s.name.endswith(("_bucket", "_created"))]


def test_metrics_every_family_from_startup_and_values_that_move(broker_factory):
    broker = broker_factory(partitions=2)
    assert len(EXPECTED_FAMILIES) >= 40
    m = metrics(broker)
    missing = [f for f in EXPECTED_FAMILIES if f not in m]
    assert not missing, f"families missing at start-up: {missing}"
    types = {f.name: f.type for f in text_string_to_metric_families(get(broker, "/metrics"))}
    assert types["tern_requests"] == "counter" and types["tern_request_latency_seconds"] == "histogram"
    assert types["tern_under_replicated_partitions"] == "gauge" and types["process_cpu_seconds"] == "counter"
    # Every API has its series from the start, at zero until asked.
    assert values(m, "tern_requests", api="DescribeAcls") == [0]
    assert values(m, "tern_active_controller") == [1] and values(m, "tern_controller_id") == [broker.node_id]
    assert values(m, "process_open_fds")[0] > 5 and values(m, "process_resident_memory_bytes")[0] > 1e6
    started = values(m, "process_start_time_seconds")[0]
    assert abs(started - time.time()) < 600

    topic = unique_topic("metrics")
    produce(broker.bootstrap, topic, [(f"k{i}".encode(), b"x" * 100) for i in range(500)])
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "metrics-group", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    try:
        c.subscribe([topic])
        got = 0
        deadline = time.monotonic() + 30
        while got < 500 and time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is not None and not msg.error():
                got += 1
        assert got == 500
        c.commit(asynchronous=False)
        during = metrics(broker)
        assert values(during, "tern_consumer_groups", state="Stable") == [1]
        assert values(during, "tern_consumer_group_members", group="metrics-group") == [1]
        assert values(during, "tern_connections", listener="client")[0] >= 2
    finally:
        c.close()
    m = metrics(broker)
    assert values(m, "tern_topic_messages_in", topic=topic) == [500]
    assert values(m, "tern_messages_in")[0] >= 500
    assert values(m, "tern_topic_bytes_in", topic=topic)[0] > 500 * 100
    assert values(m, "tern_topic_bytes_out", topic=topic)[0] >= values(m, "tern_topic_bytes_in", topic=topic)[0]
    assert values(m, "tern_group_rebalances")[0] >= 1 and values(m, "tern_offset_commits")[0] >= 1
    assert sum(values(m, "tern_consumer_group_lag", group="metrics-group", topic=topic)) == 0
    ends = {s.labels["partition"]: s.value for s in m["tern_log_end_offset"] if s.labels["topic"] == topic}
    assert sorted(ends) == ["0", "1"] and sum(ends.values()) == 500
    assert values(m, "tern_partition_count")[0] >= 2 and values(m, "tern_leader_count")[0] >= 2
    assert values(m, "tern_global_topic_count")[0] >= 1
    assert values(m, "tern_connections_accepted", listener="client")[0] >= 2
    assert values(m, "process_cpu_seconds")[0] > 0
    produced = values(m, "tern_requests", api="Produce")[0]
    assert produced >= 1 and values(m, "tern_request_bytes", api="Produce")[0] > 500 * 100
    # A Produce refused for a partition counts as failed (the record is over the topic's limit).
    failed_before = values(m, "tern_failed_produce_requests")[0]
    small = unique_topic("metrics-small")
    create_topic(broker.bootstrap, small, 1, {"max.message.bytes": "200"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 5000, "retries": 0})
    errors = []
    p.produce(small, b"x" * 1000, on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)
    assert errors and errors[0] is not None
    # A connection closed for garbage counts too.
    bad_before = values(m, "tern_failed_requests")[0]
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as s:
        s.sendall(struct.pack(">i", 2) + b"\xff\xff")
        s.recv(10)
    after = wait_until(lambda: (lambda x: x if values(x, "tern_failed_requests")[0] > bad_before else None)(
        metrics(broker)), 10, "the failed request counted")
    assert values(after, "tern_failed_produce_requests")[0] >= failed_before + 1
    # The page's topic deleted: its per-partition series go with it.
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.delete_topics([topic])[topic].result(30)
    wait_until(lambda: not values(metrics(broker), "tern_log_end_offset", topic=topic), 20,
               "the deleted topic's series removed")


def test_the_grafana_dashboard_uses_only_families_the_broker_serves(broker_factory):
    broker = broker_factory()
    served = set(metrics(broker))
    samples = {s.name for f in text_string_to_metric_families(get(broker, "/metrics")) for s in f.samples}
    dashboard = json.loads(GRAFANA.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(exprs) >= 12
    used = {name for e in exprs for name in re.findall(r"\b((?:tern|process)_[a-z_]+)\b", e)}
    unknown = sorted(n for n in used if n not in served and n not in samples
                     and re.sub(r"_(bucket|sum|count|total)$", "", n) not in served)
    assert not unknown, f"the dashboard asks for series /metrics does not have: {unknown}"
    assert {"tern_topic_messages_in_total", "tern_under_replicated_partitions", "tern_consumer_group_lag"} <= used


def chromium_driver():
    chromium = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("Debian's chromium and chromium-driver are not installed (make deps installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def cells(driver, topic: str) -> dict[int, dict]:
    out = {}
    for el in driver.find_elements("css selector", f'[data-tp^="{topic}-"]'):
        p = int(el.get_attribute("data-tp").rsplit("-", 1)[1])
        out[p] = {"leader": int(el.get_attribute("data-leader")),
                  "isr": [int(x) for x in el.get_attribute("data-isr").split(",") if x]}
    return out


def test_the_page_follows_a_kill9_without_a_reload(cluster_factory):
    nodes = cluster_factory(3)
    topic = unique_topic("page")
    create_replicated(nodes, topic)
    # A group's commit creates __consumer_offsets (50 partitions), whose fail-over the timeline folds.
    produce(",".join(n.bootstrap for n in nodes), topic, [(None, b"x")])
    c = Consumer({"bootstrap.servers": ",".join(n.bootstrap for n in nodes), "group.id": "page-group",
                  "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    wait_until(lambda: (lambda m: m is not None and not m.error())(c.poll(0.5)), 30, "a record through a group")
    c.commit(asynchronous=False)
    c.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver = chromium_driver()
    try:
        driver.get(f"http://127.0.0.1:{nodes[0].http_port}/")
        wait_until(lambda: len(cells(driver, topic)) == 3, 15, "the page to show the topic's partitions")
        before = cells(driver, topic)
        assert all(sorted(c["isr"]) == [0, 1, 2] for c in before.values())
        assert driver.find_element("id", "controller").get_attribute("data-id") in ("0", "1", "2")
        driver.execute_script("window.loadedOnce = 'yes'")
        driver.save_screenshot(str(ARTIFACTS / "console-before-kill.png"))
        # Kill a broker that leads a partition (not the one serving the page).
        victim = next(n for n in nodes[1:] if any(c["leader"] == n.node_id for c in before.values()))
        killed_at = time.monotonic()
        victim.kill9()

        def failed_over():
            now = cells(driver, topic)
            row = driver.find_element("css selector", f'tr[data-broker="{victim.node_id}"]')
            return (len(now) == 3 and all(c["leader"] != victim.node_id and victim.node_id not in c["isr"]
                                          for c in now.values())
                    and row.get_attribute("data-state") == "fenced")

        wait_until(failed_over, 15, "the page to show new leaders and the shrunk ISR")
        seen_after = time.monotonic() - killed_at
        assert driver.execute_script("return window.loadedOnce") == "yes", "the page was reloaded"
        timeline = driver.find_element("id", "events").text
        assert f"broker {victim.node_id} fenced" in timeline and "ISR shrank" in timeline
        # Internal topics' changes are one line per topic and kind, never one per partition.
        assert not re.search(r"__\w+-\d+:", timeline), timeline
        # Each partition says why it is under-replicated, in the page and in /api/topics.
        whys = [el.text for el in driver.find_elements("css selector", f'[data-tp^="{topic}-"] .why')]
        assert whys == [f"Under-replicated: broker {victim.node_id} is down."] * 3, whys
        api = next(t for t in get_json(nodes[0], "/api/topics") if t["name"] == topic)
        assert [p["why"] for p in api["partitions"]] == whys
        driver.save_screenshot(str(ARTIFACTS / "console-after-kill.png"))
        print(f"\npage showed the fail-over {seen_after:.1f} s after kill -9; screenshots in {ARTIFACTS}")
    finally:
        driver.quit()


def test_the_page_renders_1000_partitions(broker_factory):
    broker = broker_factory()
    topic = unique_topic("wide")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1000, replication_factor=1)])[topic].result(60)
    wait_until(lambda: sum(len(t["partitions"]) for t in get_json(broker, "/api/topics") if t["name"] == topic) == 1000,
               30, "1,000 partitions in the image")
    driver = chromium_driver()
    try:
        started = time.monotonic()
        driver.get(f"http://127.0.0.1:{broker.http_port}/")
        wait_until(lambda: len(driver.find_elements("css selector", f'[data-tp^="{topic}-"]')) == 1000, 30,
                   "1,000 partition cells")
        wall = time.monotonic() - started
        first = int(driver.find_element("tag name", "body").get_attribute("data-first-render-ms"))
        assert first < 1000, f"the first render of 1,000 partitions took {first} ms"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "console-1000-partitions.png"))
        # Still responsive: a later update renders too.
        renders = int(driver.find_element("tag name", "body").get_attribute("data-renders"))
        produce(broker.bootstrap, topic, [(None, b"x")])
        wait_until(lambda: int(driver.find_element("tag name", "body").get_attribute("data-renders")) > renders, 15,
                   "another render after a produce")
        print(f"\n1,000 partitions: first render {first} ms after the script started; page complete {wall:.2f} s "
              f"after navigation began")
    finally:
        driver.quit()
