"""README's "A first session", run as written: its code block is taken from README.md and run by
bash with `set -e` against three nodes started by `tern cluster up`, with only what a test must
change: the ports (9092-9094 belong to a person's `make run`), the data and log folders, and
`make run` (which builds a release) replaced by `tern cluster up` on the same configs."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO, TERN_BIN
from test_cluster_cli import kill_all, make_config_dir


def first_session() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("## A first session", 1)[1]
    return section.split("```", 2)[1].strip("\n")


def test_readme_first_session_runs_as_written(tmp_path):
    config = make_config_dir(tmp_path)
    ports = {}
    for i in range(3):
        props = (config / f"server-{i}.properties").read_text()
        ports[9092 + i] = re.search(r"^listeners=PLAINTEXT://127\.0\.0\.1:(\d+)", props, re.M).group(1)
    logs, data = tmp_path / "logs", tmp_path / "data"
    up = f"{TERN_BIN} cluster up --config-dir {config} --run-dir {logs}"
    script = first_session()
    for shipped, port in ports.items():
        script = script.replace(f"localhost:{shipped}", f"127.0.0.1:{port}")
    script = (script.replace(".build/release/tern", str(TERN_BIN))
              .replace("logs/node-", f"{logs}/node-")
              .replace("data/node-", f"{data}/node-")
              .replace(".venv/bin/python", sys.executable))
    script = re.sub(r"^make run\b", up, script, flags=re.M)
    assert "localhost:909" not in script and "make run" not in script.split("#")[0]
    pids: list[int] = []
    try:
        started = subprocess.run(up, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stdout + started.stderr
        pids = [int((logs / f"node-{i}.pid").read_text()) for i in range(3)]
        done = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        out = done.stdout
        assert done.returncode == 0, f"stdout:\n{out[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
        assert "Created topic purchases." in out
        assert re.search(r"alice\s+book", out) and re.search(r"bob\s+lamp", out), "console-consumer printed both"
        assert "b'alice' b'book'" in out, "kafka-python read the records"
        lag = re.search(r"^first-app\s+purchases\s+\d+\s+(\d+)\s+(\d+)\s+(\d+)", out, re.M)
        assert lag, "consumer-groups --describe shows the group's committed offsets"
        assert "NEW-OFFSET" in out, "reset-offsets ran (the group was empty, not waiting for its session timeout)"
        pids += [int((logs / f"node-{i}.pid").read_text()) for i in range(3)]
    finally:
        kill_all(pids)
        subprocess.run(f"{TERN_BIN} cluster down --config-dir {config} --run-dir {logs}", shell=True, cwd=tmp_path,
                       capture_output=True, timeout=60)
