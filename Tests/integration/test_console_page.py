"""The web console in headless Chromium: the first render in the HTML, the message browser
(by offset, by text, as hex), producing from the page, charts that move under load, groups
coordinated by another node, and a paused broker marked before it is fenced. Screenshots go to
Tests/integration/artifacts/."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

from confluent_kafka import Consumer, Producer

from support import consume_all, create_topic, produce, unique_topic, wait_until
from test_console import ARTIFACTS, chromium_driver, create_replicated, get, get_json
from test_transactions import java_hash


def shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


def rows(driver) -> list[dict]:
    out = []
    for tr in driver.find_elements("css selector", "#m-records tbody tr"):
        cells = tr.find_elements("tag name", "td")
        out.append({"offset": int(tr.get_attribute("data-offset")), "key": cells[2].text, "value": cells[3].text,
                    "headers": cells[4].text if len(cells) > 4 else ""})
    return out


def browse(driver, **fields) -> None:
    """Fills the browser's form (ids m-<name>) and loads."""
    from selenium.webdriver.support.ui import Select
    for name, value in fields.items():
        el = driver.find_element("id", f"m-{name}")
        if el.tag_name == "select":
            Select(el).select_by_value(str(value))
        else:
            el.clear()
            el.send_keys(str(value))
    time.sleep(0.3)  # a changed view loads by itself; let that one land first
    loads = lambda: int(driver.find_element("id", "m-status").get_attribute("data-loads") or 0)
    before = loads()
    driver.find_element("id", "m-load").click()
    wait_until(lambda: loads() > before, 15, "the records to load")


def test_the_first_render_is_in_the_html(cluster_factory):
    nodes = cluster_factory(3)
    topic = unique_topic("firstrender")
    create_replicated(nodes, topic, partitions=4)
    # Node 1 applies the topic's records a moment after node 0 (whose view create_replicated waits for).
    html = wait_until(lambda: (lambda h: h if f'data-topic="{topic}"' in h else None)(get(nodes[1], "/")), 10,
                      "the topic in node 1's page")
    # Without running a script: the header, every broker and the topic are in the HTML.
    assert '<b id="node">1</b>' in html
    for n in nodes:
        assert f'data-broker="{n.node_id}" data-state="up"' in html
    assert f'data-topic="{topic}">{topic}: 4 partition(s)' in html
    # The page's state comes with it, so the first full render needs no round trip.
    start = html.index("const initialState = ") + len("const initialState = ")
    state = json.loads(html[start:html.index(";\n", start)])
    assert [t for t in state["topics"] if t["name"] == topic][0]["partitions"][3]["partition"] == 3
    # A hostile name cannot end the script early: "<" inside JSON strings is escaped.
    assert "</script>" not in html[start:html.index(";\n", start)]


def test_the_message_browser_finds_records_by_offset_and_text_and_a_produced_message_appears(cluster_factory):
    nodes = cluster_factory(3)
    topic = unique_topic("browse")
    create_replicated(nodes, topic, partitions=2)
    records = [(f"key-{i}".encode(), json.dumps({"n": i, "tag": f"needle-{i % 10}"}).encode()) for i in range(300)]
    records.append((b"binary", bytes(range(256))))
    produce(",".join(n.bootstrap for n in nodes), topic, records, partitioner="murmur2_random")
    driver = chromium_driver()
    try:
        # Served by a node that may not lead the partition: the browser reads from the leader.
        driver.get(f"http://127.0.0.1:{nodes[2].http_port}/")
        wait_until(lambda: topic in driver.find_element("id", "m-topic").text, 15, "the topic in the browser")
        counts = {p["partition"]: p["highWatermark"] for t in get_json(nodes[2], "/api/topics") if t["name"] == topic
                  for p in t["partitions"]}
        part = max(counts, key=counts.get)
        browse(driver, topic=topic, partition=part, **{"from": "offset"}, at=42, limit=5, filter="")
        got = rows(driver)
        assert [r["offset"] for r in got] == [42, 43, 44, 45, 46]
        # The same records a consumer reads.
        read = consume_all(nodes[0].bootstrap, topic)[part]
        assert [(r["key"], r["value"]) for r in got] == [(r.key.decode(), r.value.decode()) for r in read[42:47]]
        shot(driver, "console-browser-offset.png")

        # By text: exactly the records of the partition that contain it, in order.
        browse(driver, **{"from": "beginning"}, at="", limit=500, filter="needle-7")
        found = rows(driver)
        expected = [r.offset for r in read if b"needle-7" in r.value]
        assert expected and [r["offset"] for r in found] == expected
        assert f"{topic}-{part}" in driver.find_element("id", "m-status").text
        shot(driver, "console-browser-filter.png")

        # JSON pretty-printed, and hex for bytes that are not text.
        browse(driver, **{"from": "offset"}, at=42, limit=1, filter="", view="json")
        assert '"n":' in driver.find_element("css selector", "#m-records tbody td.value").text
        for p in counts:
            browse(driver, partition=p, **{"from": "end"}, at="", limit=500, view="text")
            binary = [r for r in rows(driver) if r["key"] == "binary"]
            if binary:
                assert binary[0]["value"].startswith("00 01 02 03")
                break
        else:
            raise AssertionError("the binary record was not found at the end of either partition")

        # Produce from the page: key, value and a header, to a chosen partition.
        driver.find_element("id", "p-partition").send_keys(str(part))
        driver.find_element("id", "p-key").send_keys("from-the-page")
        driver.find_element("id", "p-value").send_keys('{"hello": "console"}')
        driver.find_element("id", "p-headers").send_keys("origin: browser")
        driver.find_element("id", "p-send").click()
        result = driver.find_element("id", "p-result")
        wait_until(lambda: result.get_attribute("data-offset") not in (None, ""), 15, "the produce answer")
        offset = int(result.get_attribute("data-offset"))
        assert int(result.get_attribute("data-partition")) == part and offset == counts[part]
        browse(driver, partition=part, **{"from": "end"}, at="", limit=3, filter="", view="text")
        last = rows(driver)[-1]
        assert (last["offset"], last["key"], last["headers"]) == (offset, "from-the-page", "origin: browser")
        shot(driver, "console-browser-produced.png")

        # Follow live: records produced afterwards appear below without another load.
        driver.find_element("id", "m-follow").click()
        p = Producer({"bootstrap.servers": nodes[0].bootstrap})
        for i in range(3):
            p.produce(topic, key=b"live", value=f"live-{i}".encode(), partition=part)
        assert p.flush(15) == 0
        wait_until(lambda: [r["value"] for r in rows(driver) if r["key"] == "live"] == ["live-0", "live-1", "live-2"],
                   20, "the followed records")
        assert [r["offset"] for r in rows(driver)][-4:] == [offset, offset + 1, offset + 2, offset + 3]
        driver.find_element("id", "m-follow").click()
    finally:
        driver.quit()
    # What the page produced, a real client reads.
    read = consume_all(nodes[1].bootstrap, topic)
    assert any(r.key == b"from-the-page" for r in read[part])


def test_the_message_api_refuses_bad_input_and_cross_site_produce(broker_factory):
    broker = broker_factory()
    topic = unique_topic("api")
    create_topic(broker.bootstrap, topic, 1)
    produce(broker.bootstrap, topic, [(None, b"x")])

    def status(path: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, str]:
        """As the page's script asks, unless `headers` say otherwise."""
        headers = {"X-Tern-Console": "1", **(headers or {})}
        req = urllib.request.Request(f"http://127.0.0.1:{broker.http_port}{path}", data=data,
                                     headers={k: v for k, v in headers.items() if v is not None})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    assert status("/api/messages")[0] == 400
    assert status("/api/messages?topic=nope")[0] == 404
    assert status(f"/api/messages?topic={topic}&partition=7")[0] == 404
    assert status(f"/api/messages?topic={topic}&partition=abc")[0] == 400
    assert status(f"/api/messages?topic={topic}&limit=0")[0] == 400
    assert status(f"/api/messages?topic={topic}&limit=2147483648")[0] == 400
    assert status(f"/api/messages?topic={topic}&from=sideways")[0] == 400
    assert status(f"/api/messages?topic={topic}&q=" + "a" * 2000)[0] == 400
    code, body = status(f"/api/messages?topic={topic}&from=offset&offset=-9223372036854775808")
    assert code == 200 and json.loads(body)["records"][0]["offset"] == 0
    code, body = status(f"/api/messages?topic={topic}&from=timestamp&timestamp=9223372036854775807")
    assert code == 200 and json.loads(body)["records"] == []
    # A form posted from another site carries no X-Tern-Console header, and an <img> asking for
    # records neither: refused. So is a page whose own name an attacker's DNS points here.
    form = f"topic={topic}&value=x".encode()
    assert status("/api/produce", form, {"X-Tern-Console": None})[0] == 403
    assert status(f"/api/messages?topic={topic}", headers={"X-Tern-Console": None})[0] == 403
    assert status(f"/api/messages?topic={topic}", headers={"Host": "attacker.example:80"})[0] == 403
    assert status(f"/api/messages?topic={topic}", headers={"Host": f"localhost:{broker.http_port}"})[0] == 200
    # The rest of the console too (the page, its state and stream name groups, transactions and
    # ACLs); /metrics answers scrapers by any name. Errors are JSON the page can show.
    for path in ("/", "/api/state", "/api/stream", "/api/cluster"):
        code, body = status(path, headers={"Host": "attacker.example"})
        assert code == 403 and json.loads(body)["error"] == "the Host header does not name this node", path
    assert status("/metrics", headers={"Host": "prometheus.internal:9090"})[0] == 200
    code, body = status("/api/produce", headers={"X-Tern-Console": "1"})
    assert code == 405 and "POST" in json.loads(body)["error"]
    assert status("/api/produce", b"topic=nope&value=x", {"X-Tern-Console": "1"})[0] == 404
    assert status("/api/produce", form + b"&partition=99", {"X-Tern-Console": "1"})[0] == 404
    assert status("/api/produce", form + b"&headers=no-colon", {"X-Tern-Console": "1"})[0] == 400
    big = f"topic={topic}&value=".encode() + b"v" * (5 << 20)
    assert status("/api/produce", big, {"X-Tern-Console": "1"})[0] == 413
    code, body = status("/api/produce", form + b"&key=k&headers=a%3A+b", {"X-Tern-Console": "1"})
    assert code == 200 and json.loads(body)["offset"] == 1
    assert broker.alive()


def test_charts_move_under_load_and_a_group_coordinated_elsewhere_is_shown(cluster_factory):
    nodes = cluster_factory(3)
    b = ",".join(n.bootstrap for n in nodes)
    topic = unique_topic("charts")
    create_replicated(nodes, topic, partitions=3)
    page = nodes[0]
    # A group whose coordinator is another node: its __consumer_offsets partition is led elsewhere.
    produce(b, topic, [(None, b"warm-up")])
    c0 = Consumer({"bootstrap.servers": b, "group.id": "warm-up", "auto.offset.reset": "earliest"})
    c0.subscribe([topic])
    wait_until(lambda: c0.poll(0.5) is not None, 30, "the offsets topic")
    c0.close()
    offsets = next(t for t in get_json(page, "/api/topics") if t["name"] == "__consumer_offsets")
    leaders = {p["partition"]: p["leader"] for p in offsets["partitions"]}
    group = next(g for g in (f"charts-group-{i}" for i in range(1000))
                 if leaders[(java_hash(g) & 0x7FFFFFFF) % len(leaders)] not in (page.node_id, -1))
    coordinator = leaders[(java_hash(group) & 0x7FFFFFFF) % len(leaders)]

    stop = threading.Event()

    def load():
        p = Producer({"bootstrap.servers": b, "linger.ms": 5})
        while not stop.is_set():
            for _ in range(200):
                p.produce(topic, b"x" * 100)
            p.poll(0)
            time.sleep(0.05)
        p.flush(10)

    c = Consumer({"bootstrap.servers": b, "group.id": group, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    driver = chromium_driver()
    loader = threading.Thread(target=load)
    loader.start()
    try:
        driver.get(f"http://127.0.0.1:{page.http_port}/")

        def seen() -> dict:
            """What the page shows, read in one step (it re-renders on every update)."""
            return driver.execute_script(f"""
                const chart = id => document.querySelector(`[data-chart="${{id}}"]`);
                const g = document.querySelector('h3[data-group="{group}"]');
                const t = chart("records-by-topic"), b = chart("records-by-broker");
                return {{ topic: t ? JSON.parse(t.dataset.last || "{{}}") : {{}}, points: t ? Number(t.dataset.points) : 0,
                          broker: b ? JSON.parse(b.dataset.last || "{{}}") : {{}},
                          coordinator: g ? g.dataset.coordinator : null,
                          scope: document.getElementById("groups-scope").textContent }};""")

        deadline = time.monotonic() + 40
        now = seen()
        while time.monotonic() < deadline:
            c.poll(0.2)
            now = seen()
            if now["topic"].get(topic, 0) > 100 and now["points"] >= 3 and now["coordinator"] is not None:
                break
        assert now["topic"].get(topic, 0) > 100 and now["points"] >= 3, now
        assert sum(now["broker"].values()) > 100, now
        assert now["coordinator"] is not None and int(now["coordinator"]) == coordinator != page.node_id, now
        assert "(every coordinator)" in now["scope"]
        shot(driver, "console-charts-and-groups.png")
    finally:
        stop.set()
        loader.join()
        c.close()
        driver.quit()


def test_the_page_marks_a_paused_broker_before_it_is_fenced(cluster_factory):
    nodes = cluster_factory(3)
    page = nodes[0]
    cluster = get_json(page, "/api/cluster")
    victim = next(n for n in nodes[1:] if n.node_id != cluster["controller"])
    driver = chromium_driver()
    try:
        driver.get(f"http://127.0.0.1:{page.http_port}/")
        def row() -> tuple[str, str]:
            """The victim's row's state and text, read in one step (the page re-renders often)."""
            return tuple(driver.execute_script(
                f'const r = document.querySelector(\'tr[data-broker="{victim.node_id}"]\');'
                'return r ? [r.dataset.state, r.textContent] : ["", ""];'))

        wait_until(lambda: row()[0] == "up", 15, "the victim up")
        os.kill(victim.pid, signal.SIGSTOP)
        paused = time.monotonic()
        try:
            states = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                state, text = row()
                if not states or states[-1][1] != state:
                    states.append((round(time.monotonic() - paused, 1), state))
                if state == "missed heartbeats" and "silent" in text:
                    shot(driver, "console-missed-heartbeats.png")
                if state == "fenced":
                    break
                time.sleep(0.2)
            names = [s for _, s in states]
            assert "missed heartbeats" in names, states
            assert names.index("missed heartbeats") < (names.index("fenced") if "fenced" in names else len(names)), states
            marked = next(t for t, s in states if s == "missed heartbeats")
            assert marked < 6, f"marked {marked} s after the pause: {states}"
            print(f"\npaused broker: {states}")
        finally:
            os.kill(victim.pid, signal.SIGCONT)
        wait_until(lambda: row()[0] == "up", 30, "the broker back up")
    finally:
        driver.quit()


def test_replicas_on_other_brokers_show_their_sizes(cluster_factory):
    nodes = cluster_factory(3)
    topic = unique_topic("elsewhere")
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": nodes[0].bootstrap})
    # One replica per partition, each on a chosen broker: two of them not on node 0.
    admin.create_topics([NewTopic(topic, 3, replica_assignment=[[0], [1], [2]])])[topic].result(30)
    for p in range(3):
        produce(nodes[0].bootstrap, topic, [(None, b"y" * 1000)] * (p + 1) * 10, partitioner="random")
    page = nodes[0]

    def partitions():
        return {p["partition"]: p for t in get_json(page, "/api/topics") if t["name"] == topic for p in t["partitions"]}

    wait_until(lambda: all(p["sizeBytes"] and p["replicaSizes"] for p in partitions().values()), 20,
               "every replica's size from its broker")
    parts = partitions()
    assert parts[0]["logEndOffset"] is not None, "node 0 holds partition 0 itself"
    for p in (1, 2):
        assert parts[p]["logEndOffset"] is None, "node 0 holds no copy of partitions 1 and 2"
        assert [r["broker"] for r in parts[p]["replicaSizes"]] == [p]
        assert parts[p]["sizeBytes"] == parts[p]["replicaSizes"][0]["sizeBytes"] > 1000
    driver = chromium_driver()
    try:
        driver.get(f"http://127.0.0.1:{page.http_port}/")
        wait_until(lambda: "on the leader" in driver.execute_script(
            f'const c = document.querySelector(\'[data-tp="{topic}-2"]\'); return c ? c.textContent : "";'), 15,
            "the size of a replica held elsewhere")
        shot(driver, "console-replicas-elsewhere.png")
    finally:
        driver.quit()
