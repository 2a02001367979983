"""Broker memory under hostile connection patterns: a connection flood, a slow-reader flood and
oversized declared frames, each against a fresh single-node broker on loopback.

Prints the broker's RSS before and at the peak of each phase, and checks the broker still answers
afterwards. Usage: .venv/bin/python bench/flood.py [--connections 5000]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TERN = Path(os.environ.get("TERN_BIN", REPO / ".build" / "release" / "tern"))


def pick_port() -> int:
    for port in range(20000, 32000, 7):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise SystemExit("no free port below 32768")


def rss(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def s16(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def header(api: int, version: int, correlation: int) -> bytes:
    return struct.pack(">hhi", api, version, correlation) + s16("flood")


def api_versions_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(frame(header(18, 0, 1)))
            size = s.recv(4)
            return len(size) == 4
    except OSError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=5000)
    ap.add_argument("--slow-readers", type=int, default=200)
    ap.add_argument("--oversized", type=int, default=200)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.connections + 1000)), hard))
    work = Path(tempfile.mkdtemp(prefix="tern-flood-"))
    port = pick_port()
    (work / "server.properties").write_text(
        f"node.id=0\nlisteners=PLAINTEXT://127.0.0.1:{port}\nlog.dirs={work}/data\nhttp.listeners=none\n"
        "num.partitions=1\nauto.create.topics.enable=true\n")
    proc = subprocess.Popen([str(TERN), "server-start", str(work / "server.properties")],
                            stdout=open(work / "broker.log", "w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not api_versions_ok(port):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("broker did not start; see " + str(work / "broker.log"))
            time.sleep(0.2)
        base = rss(proc.pid)
        print(f"broker pid {proc.pid}, RSS at start {base / 2**20:.1f} MiB")

        # 1. Connection flood: open and hold many connections, each sending half a header.
        socks = []
        peak = base
        for i in range(args.connections):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"\x00\x00")
                socks.append(s)
            except OSError:
                break
            if i % 500 == 0:
                peak = max(peak, rss(proc.pid))
        time.sleep(1)
        peak = max(peak, rss(proc.pid))
        print(f"connection flood: {len(socks)} opened, peak RSS {peak / 2**20:.1f} MiB "
              f"(+{(peak - base) / 2**20:.1f}), serving: {api_versions_ok(port)}")
        for s in socks:
            s.close()
        time.sleep(2)

        # 2. Slow readers: each connection pipelines Metadata requests and never reads an answer.
        base2 = rss(proc.pid)
        socks = []
        request = frame(header(3, 1, 7) + struct.pack(">i", -1))  # Metadata v1, all topics
        peak = base2
        for _ in range(args.slow_readers):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.setblocking(False)
            socks.append(s)
        t_end = time.monotonic() + 10
        sent = 0
        while time.monotonic() < t_end:
            for s in socks:
                try:
                    s.send(request * 64)
                    sent += 64
                except (BlockingIOError, OSError):
                    pass
            peak = max(peak, rss(proc.pid))
        print(f"slow readers: {len(socks)} connections, {sent} requests pipelined unread, peak RSS "
              f"{peak / 2**20:.1f} MiB (+{(peak - base2) / 2**20:.1f}), serving: {api_versions_ok(port)}")
        for s in socks:
            s.close()
        time.sleep(2)

        # 3. Oversized declared frames: each declares 100 MB and sends 1 MiB of it.
        base3 = rss(proc.pid)
        socks = []
        peak = base3
        chunk = b"\x00" * (1 << 20)
        for _ in range(args.oversized):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(struct.pack(">i", 100 * 1024 * 1024) + chunk)
                socks.append(s)
            except OSError:
                break
            peak = max(peak, rss(proc.pid))
        time.sleep(1)
        peak = max(peak, rss(proc.pid))
        print(f"oversized frames: {len(socks)} connections x 1 MiB of a declared 100 MB, peak RSS "
              f"{peak / 2**20:.1f} MiB (+{(peak - base3) / 2**20:.1f}), serving: {api_versions_ok(port)}")
        for s in socks:
            s.close()
        print("broker alive:", proc.poll() is None)
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    sys.exit(main())
