"""What bench/tls.py, bench/acls.py and bench/internode.py share: free ports, a process's CPU
seconds from /proc, a timed produce of N records, rounds in rotating order, medians, and the
JSON written to bench/out/."""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import tempfile
import os
import random
import socket
import statistics
import time
from pathlib import Path

from confluent_kafka import Producer

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def arguments(records: int = 300_000) -> argparse.ArgumentParser:
    """The options every produce bench takes: --records, --size, --rounds, --tern-bin."""
    a = argparse.ArgumentParser()
    a.add_argument("--records", type=int, default=records)
    a.add_argument("--size", type=int, default=100)
    a.add_argument("--rounds", type=int, default=3)
    a.add_argument("--tern-bin", default=os.environ.get("TERN_BIN", str(ROOT / ".build" / "release" / "tern")))
    return a


def workdir_with_certs(name: str) -> tuple[Path, Path]:
    """A fresh folder for a bench's nodes, with throwaway certificates in its certs/."""
    work = Path(tempfile.mkdtemp(prefix=f"tern-{name}-bench-"))
    certs = work / "certs"
    subprocess.run([str(ROOT / "config/secure/make-certs.sh"), str(certs)], check=True, capture_output=True)
    return work, certs


def port() -> int:
    """A free loopback port below the ephemeral range."""
    while True:
        p = random.randrange(20000, 32768)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue


def cpu(*pids: int) -> float:
    """utime + stime of the processes, in seconds."""
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def timed_produce(config: dict, topic: str, n: int, value: bytes, pids: list[int]) -> tuple[float, float]:
    """Produces n copies of value; returns (wall seconds, CPU seconds of pids) to the last ack."""
    p = Producer({"queue.buffering.max.messages": 1_000_000, **config})
    before, start = cpu(*pids), time.monotonic()
    for _ in range(n):
        while True:
            try:
                p.produce(topic, value)
                break
            except BufferError:
                p.poll(0.01)
    assert p.flush(180) == 0, "every record acknowledged"
    return time.monotonic() - start, cpu(*pids) - before


def rounds(names: list[str], count: int, phase) -> dict[str, list[dict]]:
    """Runs phase(name, round) for every name in every round, the order rotating so that no
    one goes first each time; prints each result as it comes."""
    results: dict[str, list[dict]] = {k: [] for k in names}
    for r in range(count):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            results[k].append(phase(k, r))
            print(f"round {r + 1}/{count} {k}: " + ", ".join(
                f"{m} {v:,.3f}" if v < 100 else f"{m} {v:,.0f}" for m, v in results[k][-1].items()), flush=True)
    return results


def medians(results: dict[str, list[dict]]) -> dict[str, dict]:
    return {k: {m: statistics.median(x[m] for x in v) for m in v[0]} for k, v in results.items()}


def write_json(name: str, **payload) -> Path:
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps({
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **payload},
        indent=1))
    return path
