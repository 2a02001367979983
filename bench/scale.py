#!/usr/bin/env python3
"""10,000 partitions on three nodes: what it takes to make them, use them, restart a node and fail
over. Three fresh release-built nodes (every one broker and voter, RF 3, min.insync.replicas 2,
fetch sessions on), one topic of P partitions, confluent-kafka as the client. Steps, in order:

  create        CreateTopics answered
  led           every partition led with an ISR of 3 (seen in Metadata)
  opened        every node holds all P replicas (tern_partition_count on each node's /metrics)
  scrape        two /metrics scrapes of node 0 (seconds each)
  one each      one acks=all record of 100 bytes to every partition, all acknowledged
  fail-over     kill -9 of node 1: until no partition names it as leader (Metadata from node 0)
  restart       node 1 started again: until it listens, then until every ISR is 3 again
  memory, fds   resident memory and open descriptors of each node at the end (/proc)

It ends with the count of ERROR/CRITICAL lines in the three logs. Writes bench/out/scale.json.

Creating files is the largest cost here, and ext4 makes it depend on what was deleted lately: an
inode freed in the last minutes (five, if its block is still dirty) is passed over, one by one,
when a new one is allocated, so a run that starts right after another run's 150,000 files were
removed creates its own several times slower. The data of each setup is therefore kept until
the end of the invocation; start it some minutes after any earlier run.

Usage: .venv/bin/python bench/scale.py [--partitions 10000] [--binary .build/release/tern] [--baseline OTHER]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402
import sessions as S  # noqa: E402  (its Setup starts three fresh nodes)

TOPIC = "scale"


def until(what: str, check, timeout: float, every: float = 0.5) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if check():
            return time.monotonic() - t0
        time.sleep(every)
    raise RuntimeError(f"{what}: not within {timeout:.0f} s")


_admins: dict = {}


def admin(bootstrap: str):
    """One admin client per bootstrap list, kept for the run (a new client per poll would leave
    its connections open on the nodes)."""
    from confluent_kafka.admin import AdminClient

    if bootstrap not in _admins:
        _admins[bootstrap] = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 300_000})
    return _admins[bootstrap]


def metadata(bootstrap: str):
    return admin(bootstrap).list_topics(TOPIC, timeout=60).topics.get(TOPIC)


def proc_status(pid: int) -> dict:
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    fds = os.listdir(f"/proc/{pid}/fd")
    kinds: dict[str, int] = {}
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        kind = "socket" if target.startswith("socket:") else target.rsplit(".", 1)[-1] if "." in target[-12:] else "other"
        kinds[kind] = kinds.get(kind, 0) + 1
    return {"rss_bytes": rss, "open_fds": len(fds), "fd_kinds": kinds}


done: list[Path] = []


def run(name: str, binary: str, n: int, logs: Path) -> dict:
    """Every step on three fresh nodes of `binary`."""
    s = S.Setup(name, 1000, logs, binary)
    r: dict = {"binary": binary}
    try:
        from confluent_kafka.admin import NewTopic

        admin(s.bootstrap).list_topics(timeout=60)  # connected before the clock starts
        t0 = time.monotonic()
        admin(s.bootstrap).create_topics([NewTopic(TOPIC, n, 3)], operation_timeout=300,
                                         request_timeout=300)[TOPIC].result(360)
        r["create_s"] = time.monotonic() - t0

        def led() -> bool:
            t = metadata(s.bootstrap)
            return bool(t and not t.error and len(t.partitions) == n
                        and all(q.leader >= 0 and len(q.isrs) == 3 for q in t.partitions.values()))

        r["led_s"] = r["create_s"] + until("every partition led with ISR 3", led, 600)
        r["opened_s"] = r["create_s"] + until(
            "every replica open", lambda: all(s.metric(i, "tern_partition_count") >= n for i in range(3)), 600, 1)
        print(f"{name}: created in {r['create_s']:.1f} s, led in {r['led_s']:.1f} s, "
              f"every replica open after {r['opened_s']:.1f} s", flush=True)
        r["scrape_s"] = [S.scrape_seconds(s), S.scrape_seconds(s)]
        r["one_each"] = S.one_each(s, TOPIC, n)
        print(f"{name}: one each: {r['one_each']}", flush=True)

        # Fail-over: kill -9 node 1, then wait for node 0's metadata to name no partition led by 1.
        led_by_1 = sum(1 for q in metadata(s.bootstrap).partitions.values() if q.leader == 1)
        s.procs[1].kill()
        s.procs[1].wait()
        t0 = time.monotonic()
        node0 = f"127.0.0.1:{s.ports[0]}"
        until("node 1's leaderships moved",
              lambda: all(q.leader not in (1, -1) for q in metadata(node0).partitions.values()), 300, 0.2)
        r["failover"] = {"leaderships_moved": led_by_1, "seconds": time.monotonic() - t0}
        print(f"{name}: fail-over: {r['failover']}", flush=True)

        t0 = time.monotonic()
        s.procs[1] = s.start(1)
        B.wait_port(s.ports[1], s.procs[1], timeout=600)
        listening = time.monotonic() - t0
        until("every ISR back to 3", lambda: all(len(q.isrs) == 3 for q in metadata(node0).partitions.values()),
              600, 1)
        r["restart"] = {"listening_s": listening, "isr_full_s": time.monotonic() - t0}
        print(f"{name}: restart: {r['restart']}", flush=True)
        r["nodes"] = [proc_status(q.pid) for q in s.procs]
    finally:
        s.stop(keep_data=True)
        _admins.clear()
        done.append(s.work)
    r["error_lines"] = sum(
        sum(1 for line in f.read_text(errors="replace").splitlines() if re.match(r"\S+ (error|critical) ", line))
        for f in logs.glob(f"sessions-{name}-*.log"))
    return r


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--partitions", type=int, default=10_000)
    p.add_argument("--binary", default=S.TERN)
    p.add_argument("--baseline", help="another tern binary run first, in the same invocation")
    a = p.parse_args()
    logs = B.ROOT / "bench" / "out" / "scale-logs"
    logs.mkdir(parents=True, exist_ok=True)
    for f in logs.glob("*.log"):
        f.unlink()
    results = {}
    if a.baseline:
        results["base"] = run("base", a.baseline, a.partitions, logs)
    results["tern"] = run("tern", a.binary, a.partitions, logs)
    for work in done:
        subprocess.run(["rm", "-rf", str(work)])
    commit = subprocess.run(["git", "-C", str(B.ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    out = B.ROOT / "bench" / "out" / "scale.json"
    out.write_text(json.dumps({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(), "commit": commit,
                               "partitions": a.partitions, **results}, indent=1))
    print(json.dumps(results, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
