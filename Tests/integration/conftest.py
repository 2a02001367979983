"""Fixtures that run real `tern` brokers on free loopback ports.

Every process a test starts is killed by pid when the test ends; a failing test's report carries the
tail of each broker's log.
"""

from __future__ import annotations

import atexit
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TERN_BIN = Path(os.environ.get("TERN_BIN", REPO / ".build" / "debug" / "tern")).absolute()
os.environ["TERN_BIN"] = str(TERN_BIN)  # so bin/ wrappers run by tests use the same binary
READY_TIMEOUT_S = 30
STOP_GRACE_S = 10
KAFKA_DEFAULT_PORTS = range(9092, 9095)  # `make run` and people's own brokers live there

_live: list[Broker] = []  # brokers not yet closed, for last-resort cleanup
BROKERS_OF_TEST = pytest.StashKey[list]()  # brokers a test used, for its failure report


_port_rng = random.Random()
_ports_given: set[int] = set()  # never hand out a port twice: a test asks for several before any binds


def _port_range() -> range:
    """20000-32767, split between pytest-xdist's workers (PYTEST_XDIST_WORKER gw0, gw1, ...) so two
    workers never pick the same port between one's pick and its broker's bind."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    width = (32768 - 20000) // max(1, count)
    start = 20000 + width * min(index, count - 1)
    return range(start, start + width)


_PORTS = _port_range()


def free_port() -> int:
    """A loopback port nothing listens on now, below the ephemeral range (where an outgoing
    connection could take it before the broker binds), outside the ports `make run` uses, and not
    given out before in this run (two picks of one test once collided, and a node failed to bind)."""
    while True:
        port = _port_rng.choice(_PORTS)
        if port in KAFKA_DEFAULT_PORTS or port in _ports_given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port


class Broker:
    """One `tern server-start` process with its own port, log dir and log file.

    The port and log dir stay the same across `stop()`/`kill9()` and `start()`, so a restart
    recovers the same data on the same address.
    """

    def __init__(self, workdir: Path, *, partitions: int = 3, message_max_bytes: int | None = None,
                 command: list[str] | None = None, node_id: int = 0, port: int | None = None,
                 extra: dict[str, str] | None = None):
        self.workdir = workdir
        self.node_id = node_id
        self.port = port or free_port()
        self.http_port = free_port()  # the web console; never 8080+, which belong to `make run`
        self.log_dir = workdir / "data"
        self.log_file = workdir / "broker.log"
        self.config_file = workdir / "server.properties"
        self.command = command or [str(TERN_BIN), "server-start"]
        self.proc: subprocess.Popen | None = None
        self._started: list[subprocess.Popen] = []
        props = {
            "node.id": str(node_id),
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "log.dirs": str(self.log_dir),
            "num.partitions": str(partitions),
            "auto.create.topics.enable": "true",
            "default.replication.factor": "1",
            "http.listeners": f"HTTP://127.0.0.1:{self.http_port}",
        }
        if message_max_bytes is not None:
            props["message.max.bytes"] = str(message_max_bytes)
        props.update(extra or {})
        self.config_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        _live.append(self)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "broker is not running"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait: bool = True) -> Broker:
        """Starts the process; with `wait`, returns once it accepts connections (a node serves
        clients only after joining the cluster, so nodes of one cluster are launched first and
        waited for afterwards)."""
        assert not self.alive(), "broker already running"
        if self.command[0] == str(TERN_BIN) and not TERN_BIN.exists():
            raise FileNotFoundError(f"no tern binary at {TERN_BIN}: run `swift build` or set TERN_BIN")
        with self.log_file.open("ab") as log:
            log.write(f"\n==== test harness: starting {' '.join(self.command)} at {time.ctime()} ====\n".encode())
            log.flush()
            # Same process group as pytest: `timeout` on CI signals the group, brokers included.
            self.proc = subprocess.Popen([*self.command, str(self.config_file)], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        self._started.append(self.proc)
        if wait:
            self._wait_ready()
        return self

    def wait_ready(self) -> Broker:
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with status {self.proc.returncode} before accepting "
                                   f"connections on {self.bootstrap}\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"broker not accepting connections on {self.bootstrap} after {READY_TIMEOUT_S} s\n"
                           f"{self.log_tail()}")

    def kill9(self) -> None:
        """SIGKILL: no chance to flush or close anything."""
        assert self.alive(), "broker is not running"
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after 10 s. Returns the exit status (negative: killed by that signal)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def close(self) -> None:
        """Kills every process this broker object ever started."""
        for proc in self._started:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        if self in _live:
            _live.remove(self)

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no broker log)"
        return "\n".join(text.splitlines()[-lines:])


@atexit.register
def _kill_leftovers() -> None:
    for broker in list(_live):
        broker.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for broker in item.stash.get(BROKERS_OF_TEST, []):
            if broker.alive():
                state = "running"
            else:
                state = f"exited ({broker.proc.returncode})" if broker.proc else "never started"
            report.sections.append((f"broker {broker.bootstrap} log tail [{state}]", broker.log_tail()))
    return report


def _used_by(request, broker: Broker) -> Broker:
    request.node.stash.setdefault(BROKERS_OF_TEST, []).append(broker)
    return broker


@pytest.fixture
def broker_factory(request, tmp_path):
    """Makes brokers with options, e.g. `broker_factory(partitions=1, message_max_bytes=2_000_000)`.

    They are started and ready when returned, and killed when the test ends.
    """
    made: list[Broker] = []

    def make(**options) -> Broker:
        workdir = tmp_path / f"broker-{len(made)}"
        workdir.mkdir()
        broker = Broker(workdir, **options)
        made.append(_used_by(request, broker))
        return broker.start()

    yield make
    for broker in made:
        broker.close()


@pytest.fixture
def cluster_factory(request, tmp_path):
    """Makes `n` nodes that form one metadata quorum (each broker+controller), on free client
    and controller ports. Returns the started nodes, in node-id order."""
    made: list[Broker] = []

    def make(n: int = 3, props: dict[str, str] | None = None, per_node=None, prepare=None,
             **options) -> list[Broker]:
        """`per_node(i, client_port, controller_port)` gives settings of node i alone (more listeners);
        `prepare(node)` runs before the nodes start (e.g. `tern storage format`)."""
        client_ports = [free_port() for _ in range(n)]
        controller_ports = [free_port() for _ in range(n)]
        voters = ",".join(f"{i}@127.0.0.1:{controller_ports[i]}" for i in range(n))
        nodes = []
        for i in range(n):
            workdir = tmp_path / f"node-{i}"
            workdir.mkdir()
            extra = {
                "process.roles": "broker,controller",
                "listeners": f"PLAINTEXT://127.0.0.1:{client_ports[i]},CONTROLLER://127.0.0.1:{controller_ports[i]}",
                "controller.quorum.voters": voters,
                **(props or {}),
                **(per_node(i, client_ports[i], controller_ports[i]) if per_node else {}),
            }
            node = Broker(workdir, node_id=i, port=client_ports[i], extra=extra, **options)
            made.append(_used_by(request, node))
            nodes.append(node)
        for node in nodes:
            if prepare:
                prepare(node)
        for node in nodes:
            node.start(wait=False)
        for node in nodes:
            node.wait_ready()
        return nodes

    yield make
    for node in made:
        node.close()


@pytest.fixture
def broker(broker_factory) -> Broker:
    """A fresh broker for this test alone: 3 partitions per auto-created topic."""
    return broker_factory()


@pytest.fixture(scope="session")
def _session_broker(tmp_path_factory):
    broker = Broker(tmp_path_factory.mktemp("shared-broker"))
    try:
        yield broker.start()
    finally:
        broker.close()


@pytest.fixture
def shared_broker(request, _session_broker) -> Broker:
    """One broker for the whole session, for tests that only use their own topics and never stop it.

    Checked alive first, so an earlier crash is reported as such and not as a client error.
    """
    _used_by(request, _session_broker)
    if not _session_broker.alive():
        status = _session_broker.proc.returncode
        _session_broker.start()  # for the tests after this one
        pytest.fail(f"shared broker had died during an earlier test (exit status {status}); restarted it")
    return _session_broker
