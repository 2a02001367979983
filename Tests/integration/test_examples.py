"""examples/: the fault-tolerance lab's kafka-python producer and consumer, run as programs
against three nodes while one broker is killed with -9 and started again: every message the
producer had acknowledged is read by the consumer, once."""

from __future__ import annotations

import re
import subprocess
import sys
import time

from confluent_kafka.admin import AdminClient, NewTopic

from conftest import REPO
from support import wait_until

EXAMPLES = REPO / "examples"


def test_lab_producer_and_consumer_keep_every_message_through_a_broker_kill(cluster_factory, tmp_path):
    nodes = cluster_factory(3)
    bootstrap = ",".join(n.bootstrap for n in nodes)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("lab", 3, 3, config={"min.insync.replicas": "2"})])["lab"].result(20)
    wait_until(lambda: all(len(p.isrs) == 3 for p in admin.list_topics("lab", timeout=10).topics["lab"]
                           .partitions.values()), 20, "full ISR")
    out = (tmp_path / "producer.out").open("w")
    producer = subprocess.Popen([sys.executable, str(EXAMPLES / "producer.py"), "--bootstrap-server", bootstrap,
                                 "--topic", "lab", "--count", "1500", "--interval", "0.01"],
                                stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(3)
        victim = nodes[1]
        victim.kill9()
        time.sleep(4)
        victim.start()
        assert producer.wait(timeout=180) == 0, (tmp_path / "producer.out").read_text()[-2000:]
    finally:
        if producer.poll() is None:
            producer.kill()
    produced = (tmp_path / "producer.out").read_text()
    acked = {int(m) for m in re.findall(r"^acked (\d+) ", produced, re.M)}
    assert "sent 1500, acknowledged 1500, failed 0" in produced, produced[-2000:]
    assert acked == set(range(1500))

    read = subprocess.run([sys.executable, str(EXAMPLES / "consumer.py"), "--bootstrap-server", bootstrap,
                           "--topic", "lab", "--group", "lab-readers", "--max", "1500", "--idle-ms", "20000"],
                          capture_output=True, text=True, timeout=120)
    values = [int(v) for v in re.findall(r" value (\d+)$", read.stdout, re.M)]
    assert sorted(values) == list(range(1500)), f"missing {sorted(set(range(1500)) - set(values))[:10]}"
    assert "read 1500 messages" in read.stderr
