#!/usr/bin/env python3
"""Issue 25's controller stress, long form: three Tern nodes (broker+controller each) on free
loopback ports, then `--rounds` rounds of Tests/integration/controller_stress.py: kill -9 or
SIGTERM of a node (the active controller about a third of the time), topics created while it is
down so that it comes back behind the leader's metadata snapshot, then a topic with RF 3 and
the victim's ISR expansion, every metadata change with a deadline. Topics of rounds older than
`--keep-rounds` are deleted, so the cluster stays the same size over the run.

Prints one line per round, then a summary (per kind of change: count, missed, p50/p99/max),
also written to <out>/controller-stress.json with every round in <out>/rounds.jsonl. A change
past its deadline keeps the node logs and the state in <out>/failures/round-NNN-<kind>/.
Exit status 1 when any metadata change missed its deadline.

Usage: TERN_BIN=<tern> .venv/bin/python bench/controller_stress.py [--rounds 200] [--seed 1]
       [--out bench/out/controller-stress] [--deadline 30] [--keep-rounds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TERN_BIN", str(ROOT / ".build" / "debug" / "tern"))
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
import conftest  # noqa: E402  (its Broker: one `tern server-start` process, killed by pid)
import controller_stress as cs  # noqa: E402


def start_cluster(work: Path) -> list[conftest.Broker]:
    """Three nodes forming one quorum, as conftest's cluster_factory makes them, on ports below
    the ephemeral range."""
    clients = [conftest.free_port() for _ in range(3)]
    controllers = [conftest.free_port() for _ in range(3)]
    voters = ",".join(f"{i}@127.0.0.1:{controllers[i]}" for i in range(3))
    nodes = []
    for i in range(3):
        (work / f"node-{i}").mkdir()
        nodes.append(conftest.Broker(work / f"node-{i}", node_id=i, port=clients[i], extra={
            "process.roles": "broker,controller",
            "listeners": f"PLAINTEXT://127.0.0.1:{clients[i]},CONTROLLER://127.0.0.1:{controllers[i]}",
            "controller.quorum.voters": voters, **cs.CLUSTER_PROPS}))
    for n in nodes:
        n.start(wait=False)
    for n in nodes:
        n.wait_ready()
    return nodes


def _interrupted(signum, frame):
    """SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so every node is killed by pid."""
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "controller-stress"))
    ap.add_argument("--deadline", type=float, default=cs.DEADLINE_S, help="seconds per metadata change")
    ap.add_argument("--keep-rounds", type=int, default=10, help="delete the topics of rounds older than this")
    a = ap.parse_args()
    out = Path(a.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    signal.signal(signal.SIGTERM, _interrupted)
    work = Path(tempfile.mkdtemp(prefix="tern-controller-stress-"))
    nodes: list[conftest.Broker] = []
    stress = None
    began = time.monotonic()
    stopped = None
    print(f"tern: {conftest.TERN_BIN}; nodes in {work}; {a.rounds} rounds, seed {a.seed}, deadline {a.deadline:g} s",
          flush=True)
    try:
        nodes = start_cluster(work)
        print("nodes: " + ", ".join(f"{n.node_id} pid {n.pid} on {n.bootstrap}" for n in nodes), flush=True)
        stress = cs.ControllerStress(nodes, out, seed=a.seed, deadline_s=a.deadline, keep_rounds=a.keep_rounds,
                                     log=lambda line: print(line, flush=True))
        with (out / "rounds.jsonl").open("w") as rounds_file:
            for _ in range(a.rounds):
                rnd = stress.run_round()
                print(rnd.line(), flush=True)
                rounds_file.write(json.dumps(asdict(rnd)) + "\n")
                rounds_file.flush()
    except cs.ClusterStuck as e:
        stopped = str(e)
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        for n in nodes:
            n.close()
        for n in nodes:
            if n.log_file.exists():
                shutil.copy(n.log_file, out / f"node-{n.node_id}.log")
        shutil.rmtree(work, ignore_errors=True)
    if stress is None:
        print(f"stopped before the first round: {stopped}")
        return 1
    summary = stress.summary()
    summary.update(wall_s=round(time.monotonic() - began, 1), stopped=stopped, tern=str(conftest.TERN_BIN),
                   date_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    (out / "controller-stress.json").write_text(json.dumps(summary, indent=2))
    print(cs.summary_text(summary))
    print(f"wall time: {summary['wall_s']:.0f} s" + (f"; stopped early: {stopped}" if stopped else ""))
    print(f"details: {out}/controller-stress.json, rounds: {out}/rounds.jsonl")
    return 0 if summary["missed"] == 0 and not stopped else 1


if __name__ == "__main__":
    sys.exit(main())
