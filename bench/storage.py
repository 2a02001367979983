#!/usr/bin/env python3
"""The storage layer against the disk and the page cache, in the same run, as ratios.

Per round:
  dd        `dd if=/dev/zero bs=1M conv=fdatasync` of the same size: the disk's sequential write
            bandwidth, fsync included
  append    `tern log-perf-test`: a partition log alone (CRC checks, offsets, indexes), batches of
            1 KiB and of 1 MiB, fsynced at the end; MB/s over dd's
  read      the same log read back through the log in 1 MiB fetch-sized reads (page cache
            hot); MB/s over `cat` of the same segment file
  fetch     a one-node broker serving `tern consumer-perf-test` over loopback from the page
            cache (Fetch requests of up to 50 MiB, 1 MiB per partition); MB/s, and over cat

Writes bench/out/storage.json. `make bench-storage` runs it on the release build.
Usage: .venv/bin/python bench/storage.py [--rounds 3] [--mib 1024]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402

ROOT = B.ROOT
TERN = str(ROOT / ".build" / "release" / "tern")
OUT = ROOT / "bench" / "out"


def timed(cmd: list[str], **kw) -> float:
    start = time.monotonic()
    subprocess.run(cmd, check=True, **kw)
    return time.monotonic() - start


def dd(path: Path, mib: int) -> float:
    secs = timed(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}", "conv=fdatasync"],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return mib / secs


def cat(path: Path) -> float:
    size = path.stat().st_size
    timed(["cat", str(path)], stdout=subprocess.DEVNULL)  # warm the page cache
    secs = timed(["cat", str(path)], stdout=subprocess.DEVNULL)
    return size / 1048576 / secs


def log_perf(work: Path, batch: int, mib: int) -> tuple[dict, Path]:
    d = work / f"log-{batch}"
    out = subprocess.run([TERN, "log-perf-test", "--dir", str(d), "--batch-bytes", str(batch),
                          "--total-bytes", str(mib << 20), "--keep"], check=True, capture_output=True, text=True)
    header, values = out.stdout.strip().splitlines()[-2:]
    row = dict(zip([h.strip() for h in header.split(",")], [float(v) for v in values.split(",")]))
    return row, sorted(d.glob("*.log"))[0]


def fetch(work: Path, mib: int) -> float:
    log_path = OUT / "storage-broker.log"
    broker = B.start_tern(TERN, log_path, ["log.segment.bytes=1073741824"])
    try:
        topic = "fetch-bench"
        B.create_topic(broker.bootstrap, topic, 1)
        records = (mib << 20) // 1000
        subprocess.run([TERN, "producer-perf-test", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                        "--num-records", str(records), "--record-size", "1000", "--throughput", "-1",
                        "--producer-props", "acks=1", "batch.size=1048576", "linger.ms=5"],
                       check=True, capture_output=True, text=True)
        best = 0.0
        for _ in range(2):  # the second read is from a hot page cache
            out = subprocess.run([TERN, "consumer-perf-test", "--bootstrap-server", broker.bootstrap,
                                  "--topic", topic, "--messages", str(records)],
                                 check=True, capture_output=True, text=True).stdout.strip().splitlines()
            best = max(best, float(out[-1].split(",")[3]))
        return best
    finally:
        broker.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mib", type=int, default=1024, help="bytes written per test, MiB")
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rounds = []
    for r in range(a.rounds):
        work = Path(tempfile.mkdtemp(prefix="tern-storage-bench-", dir=OUT))
        try:
            row: dict = {"round": r}
            row["dd_MBps"] = dd(work / "dd.bin", a.mib)
            row["cat_dd_MBps"] = cat(work / "dd.bin")
            (work / "dd.bin").unlink()
            for batch in (1024, 1 << 20):
                res, segment = log_perf(work, batch, a.mib if batch > 1024 else a.mib // 2)
                row[f"append_{batch}_MBps"] = res["append.MB.sec"]
                row[f"read_{batch}_MBps"] = res["read.MB.sec"]
                row[f"cat_{batch}_MBps"] = cat(segment)
                subprocess.run(["rm", "-rf", str(segment.parent)])
            row["fetch_MBps"] = fetch(work, a.mib // 2)
            for batch in (1024, 1 << 20):
                row[f"append_{batch}_over_dd"] = row[f"append_{batch}_MBps"] / row["dd_MBps"]
                row[f"read_{batch}_over_cat"] = row[f"read_{batch}_MBps"] / row[f"cat_{batch}_MBps"]
            row["fetch_over_cat"] = row["fetch_MBps"] / row[f"cat_{1 << 20}_MBps"]
            print(json.dumps(row), flush=True)
            rounds.append(row)
        finally:
            subprocess.run(["rm", "-rf", str(work)])
    summary = {k: statistics.median(x[k] for x in rounds) for k in rounds[0] if k != "round"}
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": B.machine(), "command": " ".join(sys.argv), "mib": a.mib, "rounds": rounds,
              "median": summary}
    (OUT / "storage.json").write_text(json.dumps(result, indent=2))
    print("median:", json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
