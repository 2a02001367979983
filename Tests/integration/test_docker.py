"""docker/: no Docker engine runs on the machines this project is built on, so the Compose file
is checked for structure here and each node's config by `tern server-start --check`; the
two-listener set-up it relies on is exercised for real in test_listeners.py."""

from __future__ import annotations

import re
import subprocess

import yaml

from conftest import REPO, TERN_BIN

DOCKER = REPO / "docker"


def test_compose_file_runs_three_nodes_with_both_listeners_advertised():
    compose = yaml.safe_load((DOCKER / "compose.yml").read_text())
    services = compose["services"]
    assert sorted(services) == ["tern-0", "tern-1", "tern-2"]
    for i in range(3):
        s = services[f"tern-{i}"]
        assert s["hostname"] == f"tern-{i}"
        assert s["ports"] == [f"{9092 + i}:{9092 + i}"], "the EXTERNAL port is published as is"
        assert s["build"]["context"] == ".." and (DOCKER / ".." / s["build"]["dockerfile"]).resolve().exists()
        mounts = {v.split(":")[1]: v.split(":")[0] for v in s["volumes"]}
        config = DOCKER / mounts["/etc/tern/server.properties"]
        assert config.exists(), config
        assert "tern" in s["networks"]

        check = subprocess.run([str(TERN_BIN), "server-start", "--check", str(config)], capture_output=True,
                               text=True, timeout=10)
        assert check.returncode == 0, check.stderr
        out = check.stdout
        assert f"node.id {i}: configuration is valid" in out
        assert f"listener INTERNAL: binds 0.0.0.0:29092, advertised as tern-{i}:29092" in out
        assert f"listener EXTERNAL: binds 0.0.0.0:{9092 + i}, advertised as localhost:{9092 + i}" in out
        voters = re.search(r"controller.quorum.voters: (\S+)", out).group(1)
        assert voters == "0@tern-0:19092,1@tern-1:19092,2@tern-2:19092", "voters are the service names"
        assert "log.dirs: /var/lib/tern/data" in out
        assert mounts["/var/lib/tern/data"] == f"tern-{i}-data", "data survives a container restart"
    assert sorted(compose["volumes"]) == ["tern-0-data", "tern-1-data", "tern-2-data"]

    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert 'CMD ["server-start", "/etc/tern/server.properties"]' in dockerfile
    assert "swift build -c release --product tern" in dockerfile
    assert re.search(r"^EXPOSE .*\b9092\b.*\b29092\b.*\b19092\b", dockerfile, re.M)


def test_server_start_check_refuses_a_broken_listener_setup(tmp_path):
    bad = tmp_path / "bad.properties"
    bad.write_text("node.id=0\nlisteners=INTERNAL://:29092\nadvertised.listeners=EXTERNAL://localhost:9092\n"
                   "log.dirs=/tmp/x\n")
    r = subprocess.run([str(TERN_BIN), "server-start", "--check", str(bad)], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2
    assert "advertised.listeners names EXTERNAL, which listeners does not have" in r.stderr
