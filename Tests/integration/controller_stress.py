"""Issue 25's controller stress, in one place: rounds that kill and restart nodes (kill -9 and
SIGTERM, the active controller about a third of the time) and keep the victim down while topics
are created, so that it comes back behind the leader's metadata snapshot; between the steps,
metadata changes, each with a deadline measured from its call:

  shutdown     SIGTERM: the controller confirms the controlled shutdown (the broker gives it 5 s)
  elect        the victim was the active controller: a survivor reports a new quorum leader
  create-down  topics (RF 2, the victim being down) created through the survivors: 1-3, or in
               half the rounds more until both survivors have a snapshot past the victim's log
  fence        the victim is no longer listed by the survivors (controlled shutdown or session)
  unfence      the restarted victim is registered and unfenced, and listed by the survivors
  create       a topic with RF 3 and 2-3 partitions, answered and described by all three nodes
  isr-expand   the victim is back in the ISR of every partition it replicates (from "unfence")
  delete       topics of rounds older than `keep_rounds` deleted (long form: a stable size)

and records produced with acks=all to the round's new topic ("produce", not a metadata change).
A change past its deadline keeps the three node logs and a JSON of the state in
<out>/failures/round-NNN-<kind>/, and the rounds go on; every wait has a deadline, so nothing
hangs. A cluster that does not become healthy again within `HEALTHY_TIMEOUT_S` stops the run.

Used by test_controller_stress.py (a few rounds in CI) and bench/controller_stress.py (200).
"""

from __future__ import annotations

import json
import random
import re
import shutil
import socket
import struct
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

SNAPSHOT_EVERY = "2000"  # bytes of metadata records: a snapshot every few dozen records
CLUSTER_PROPS = {
    "metadata.log.max.record.bytes.between.snapshots": SNAPSHOT_EVERY,
    "min.insync.replicas": "2",  # acks=all means something: the leader and one follower at least
}
DEADLINE_S = 30.0
SHUTDOWN_DEADLINE_S = 5.0  # BrokerLifecycle.shutDown's own limit before it stops unconfirmed
HEALTHY_TIMEOUT_S = 90.0
POLL_S = 0.2
PRODUCE_RECORDS = 5
MAX_DOWN_BATCHES = 10  # CreateTopics requests while down, waiting for the survivors' snapshots
QUIET = {"log_level": 0}  # librdkafka's "connection refused" lines about the node that is down
METADATA_KINDS = ("shutdown", "elect", "create-down", "fence", "unfence", "create", "isr-expand", "delete")
class ClusterStuck(Exception):
    """The cluster did not become healthy again: the run cannot go on."""


@dataclass
class Change:
    round: int
    kind: str
    deadline_s: float
    latency_s: float | None  # None: not completed before the deadline
    met: bool
    detail: dict = field(default_factory=dict)

    @property
    def metadata(self) -> bool:
        return self.kind in METADATA_KINDS


@dataclass
class Round:
    number: int
    victim: int
    signal: str  # "kill -9" or "SIGTERM"
    was_controller: bool
    controller_before: int | None
    victim_log_end: int = -1  # the victim's metadata log end on disk once it was down
    survivor_snapshots: list[int] = field(default_factory=list)  # their newest snapshots' ends
    behind_snapshot: bool = False  # both survivors' snapshots end past the victim's log
    snapshot_catch_up: bool = False  # the victim installed the leader's snapshot on its return
    topics: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        """One progress line: what was done and each kind of change's (longest) latency."""
        who = f"node {self.victim}" + (" (controller)" if self.was_controller else "")
        parts = []
        for kind in dict.fromkeys(c.kind for c in self.changes):
            cs = [c for c in self.changes if c.kind == kind]
            done = [c.latency_s for c in cs if c.latency_s is not None]
            took = f"{max(done):.1f}s" if done else "never"
            missed = sum(not c.met for c in cs)
            times = f" x{len(cs)} max" if len(cs) > 1 else ""
            parts.append(f"{kind}{times} {took}" + (f" {missed} MISSED" if missed else ""))
        snap = "by snapshot" if self.snapshot_catch_up else "behind" if self.behind_snapshot else ""
        head = f"round {self.number:3d}  {self.signal:7s} {who:19s} {snap:11s} {self.seconds:5.1f}s  "
        return head + ", ".join(parts)


def _ask(fn, default=None):
    """A client call whose failure (node down, leadership moving) just means "no answer"."""
    try:
        return fn()
    except Exception:
        return default


def describe(node, timeout: float = 5):
    """Metadata as `node` itself answers it (a fresh client bootstrapped to that node alone)."""
    return AdminClient({"bootstrap.servers": node.bootstrap, **QUIET}).list_topics(timeout=timeout)


def newest_snapshot(node) -> int:
    """End offset of the newest metadata snapshot (`<endOffset>-<epoch>.checkpoint`) on disk, -1 if none."""
    return max((int(p.name.split("-")[0]) for p in (node.log_dir / "__cluster_metadata-0").glob("*.checkpoint")),
               default=-1)


def metadata_log_end(node) -> int:
    """Where `node`'s metadata log ends on disk, read while it is down: the newest snapshot's end,
    or past it each `<base>.entries` file's base plus its whole frames (u32 length, i32 epoch,
    u32 CRC, payload; see EntryLog.swift)."""
    end = newest_snapshot(node)
    for f in (node.log_dir / "__cluster_metadata-0").glob("*.entries"):
        data = f.read_bytes()
        position = count = 0
        while position + 12 <= len(data):
            (length,) = struct.unpack_from(">I", data, position)
            if position + 12 + length > len(data):
                break
            position += 12 + length
            count += 1
        end = max(end, int(f.name.split(".")[0]) + count)
    return end


def port_open(node) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", node.port), timeout=0.5):
            return True
    except OSError:
        return False


class ControllerStress:
    """Runs rounds against three started nodes (conftest's `Broker`s), records every change."""

    def __init__(self, nodes: list, out: Path, *, seed: int = 1, deadline_s: float = DEADLINE_S,
                 keep_rounds: int | None = None, fence_wait: float = 0.5, log=print):
        assert len(nodes) == 3, "the rounds assume a three-node quorum"
        self.nodes = nodes
        self.out = Path(out)
        self.plan = random.Random(seed)  # what each round does: the same rounds for a seed, whatever the timing
        self.sizes = random.Random(seed + 1)  # topic counts and partitions
        self.seed = seed
        self.deadline_s = deadline_s
        self.keep_rounds = keep_rounds  # None: every topic stays (the short form checks them all)
        self.fence_wait = fence_wait  # share of kill -9 rounds that stay down until fenced
        self.log = log
        self.tern = nodes[0].command[0]
        self.rounds: list[Round] = []
        self.crashes: list[dict] = []
        self.failures: list[str] = []
        self.live_topics: dict[str, tuple[int, int]] = {}  # name -> (partitions, round created)
        self.deleted: list[str] = []

    # --- what the cluster says -------------------------------------------------------------

    def quorum_leader(self, via) -> int | None:
        """The metadata quorum's leader, as DescribeQuorum through `via` reports it."""
        try:
            out = subprocess.run([self.tern, "metadata-quorum", "--bootstrap-server", via.bootstrap, "describe",
                                  "--status"], capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            return None
        m = re.search(r"^LeaderId:\s+(-?\d+)", out.stdout, re.M)
        return int(m.group(1)) if m and int(m.group(1)) >= 0 else None

    def active_controller(self, among: list) -> int | None:
        for node in among:
            if node.alive():
                leader = self.quorum_leader(node)
                if leader is not None:
                    return leader
        return None

    def listed_brokers(self, node) -> set[int] | None:
        md = _ask(lambda: describe(node))
        return None if md is None else set(md.brokers)

    def healthy(self) -> bool:
        """Every node runs, every node lists all three brokers, and the quorum has a leader."""
        if not all(n.alive() for n in self.nodes):
            return False
        everyone = {n.node_id for n in self.nodes}
        if any(self.listed_brokers(n) != everyone for n in self.nodes):
            return False
        return self.active_controller(self.nodes) is not None

    # --- measuring ---------------------------------------------------------------------------

    def _wait(self, predicate, start: float, deadline_s: float):
        """Polls `predicate` until it returns something truthy or `deadline_s` after `start`
        passes (exceptions count as "not yet"). Returns (value, seconds from start) or (None, None)."""
        while True:
            value = _ask(predicate)
            now = time.monotonic()
            if value:
                return value, now - start
            if now - start > deadline_s:
                return None, None
            time.sleep(POLL_S)

    def _record(self, rnd: Round, kind: str, latency: float | None, deadline_s: float, **detail) -> Change:
        change = Change(rnd.number, kind, deadline_s, None if latency is None else round(latency, 3),
                        latency is not None and latency <= deadline_s, detail)
        rnd.changes.append(change)
        if not change.met:
            self._keep_failure(rnd, change)
        return change

    def _create(self, rnd: Round, kind: str, topics: list[NewTopic], via: list, views: list) -> None:
        """CreateTopics through `via`, retried on errors until the deadline; each topic's change is
        complete when the controller has answered and every node of `views` describes it with a
        leader for each partition."""
        start = time.monotonic()
        deadline = start + self.deadline_s
        pending = {t.topic: t for t in topics}
        answered: dict[str, float] = {}
        errors: dict[str, list[str]] = {name: [] for name in pending}
        attempts = 0
        while pending and time.monotonic() < deadline:
            attempts += 1
            left = deadline - time.monotonic()
            admin = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in via), **QUIET})
            futures = _ask(lambda: admin.create_topics(list(pending.values()), operation_timeout=max(1.0, left - 1),
                                                       request_timeout=max(1.0, left)), {})
            for name, future in futures.items():
                try:
                    future.result(timeout=max(0.1, deadline - time.monotonic()))
                    answered[name] = time.monotonic() - start
                except KafkaException as e:
                    err = e.args[0]
                    if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:  # an earlier attempt of ours committed
                        answered[name] = time.monotonic() - start
                    else:
                        errors[name].append(f"{time.monotonic() - start:.1f}s {err.name()}: {err.str()}")
                except Exception as e:  # no answer within the deadline
                    errors[name].append(f"{time.monotonic() - start:.1f}s {type(e).__name__} {e}")
            for name in answered:
                pending.pop(name, None)
            if pending:
                time.sleep(0.5)

        def described_everywhere(name: str, t: NewTopic) -> bool:
            for node in views:
                meta = describe(node).topics.get(name)
                if meta is None or meta.error is not None or len(meta.partitions) != t.num_partitions:
                    return False
                if any(p.leader < 0 or len(p.replicas) != t.replication_factor for p in meta.partitions.values()):
                    return False
            return True

        for t in topics:
            latency = None
            if t.topic in answered:
                _, latency = self._wait(lambda: described_everywhere(t.topic, t), start, self.deadline_s)
            self._record(rnd, kind, latency, self.deadline_s, topic=t.topic, partitions=t.num_partitions,
                         rf=t.replication_factor, answered_s=_rounded(answered.get(t.topic)), attempts=attempts,
                         errors=errors[t.topic][-5:], via=[n.node_id for n in via], views=[n.node_id for n in views])
            self.live_topics[t.topic] = (t.num_partitions, rnd.number)
            rnd.topics.append(t.topic)

    def _delete_old(self, rnd: Round) -> None:
        old = [name for name, (_, made) in self.live_topics.items() if made <= rnd.number - self.keep_rounds]
        if not old:
            return
        start = time.monotonic()
        deadline = start + self.deadline_s
        pending, errors = list(old), []
        while pending and time.monotonic() < deadline:  # DeleteTopics, retried like CreateTopics
            left = deadline - time.monotonic()
            admin = AdminClient({"bootstrap.servers": ",".join(n.bootstrap for n in self.nodes), **QUIET})
            futures = _ask(lambda: admin.delete_topics(pending, operation_timeout=max(1.0, left - 1),
                                                       request_timeout=max(1.0, left)), {})
            for name, future in futures.items():
                try:
                    future.result(timeout=max(0.1, deadline - time.monotonic()))
                    pending.remove(name)
                except Exception as e:
                    if isinstance(e, KafkaException) and e.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                        pending.remove(name)  # an earlier attempt deleted it
                    else:
                        errors.append(f"{time.monotonic() - start:.1f}s {name}: {e}")
            if pending:
                time.sleep(0.5)

        def gone_everywhere() -> bool:
            return all(not (set(describe(n).topics) & set(old)) for n in self.nodes)

        _, latency = self._wait(gone_everywhere, start, self.deadline_s)
        self._record(rnd, "delete", latency, self.deadline_s, topics=old, errors=errors[-5:])
        for name in old:
            self.live_topics.pop(name, None)
        self.deleted += old

    def _isr_of(self, node, victim_id: int) -> dict[str, list]:
        """Partitions that have `victim_id` as a replica, as `node` describes them."""
        md = describe(node)
        return {f"{name}-{p.id}": [p.leader, list(p.replicas), list(p.isrs)]
                for name, t in md.topics.items() if name in self.live_topics
                for p in t.partitions.values() if victim_id in p.replicas}

    # --- one round -----------------------------------------------------------------------------

    def run_round(self) -> Round:
        number = len(self.rounds) + 1
        self._restart_crashed(number)
        self._wait_healthy(number)
        hit_controller = self.plan.random() < 1 / 3
        sig = self.plan.choice(("kill -9", "SIGTERM"))
        # Half the rounds go on creating topics while the victim is down until both survivors have
        # a snapshot past its log end, so that it can only come back by FetchSnapshot.
        want_behind = self.plan.random() < 0.5
        wait_fence = self.plan.random() < self.fence_wait  # kill -9: stay down until the session expires
        other = self.plan.randrange(2)
        controller = self.active_controller(self.nodes)
        if hit_controller and controller is not None:
            victim = self.nodes[controller]
        else:
            victim = [n for n in self.nodes if n.node_id != controller][other]
        rnd = Round(number, victim.node_id, sig, victim.node_id == controller, controller)
        self.rounds.append(rnd)
        started = time.monotonic()
        survivors = [n for n in self.nodes if n is not victim]
        self._stop_victim(rnd, victim)
        down_at = time.monotonic()
        rnd.victim_log_end = metadata_log_end(victim)

        # Down: fenced (at once after SIGTERM: the controlled shutdown did it), a controller among
        # the survivors, topics created through them, then (some kill -9 rounds) the fence.
        if sig == "SIGTERM":
            self._wait_fenced(rnd, victim, survivors, down_at)
        if rnd.was_controller:
            def new_leader():
                leader = self.active_controller(survivors)
                return leader is not None and leader != victim.node_id
            _, took = self._wait(new_leader, down_at, self.deadline_s)
            self._record(rnd, "elect", took, self.deadline_s)
        # librdkafka sends CreateTopics to the controller Metadata names; wait until that is a
        # survivor, or it waits for the dead one until its request times out.
        self._wait(lambda: all(describe(n).controller_id in {s.node_id for s in survivors} for n in survivors),
                   time.monotonic(), self.deadline_s)
        for batch in range(MAX_DOWN_BATCHES if want_behind else 1):
            topics = [NewTopic(f"cs-r{number:03d}-down{batch}{i}", self.sizes.randint(2, 3), 2)
                      for i in range(self.sizes.randint(2 if want_behind else 1, 3))]
            self._create(rnd, "create-down", topics, via=survivors, views=survivors)
            if min(newest_snapshot(n) for n in survivors) > rnd.victim_log_end:
                break
        if sig == "kill -9" and wait_fence:
            self._wait_fenced(rnd, victim, survivors, down_at)

        # Up again: registered and unfenced, a new RF 3 topic, the victim back in every ISR.
        rnd.survivor_snapshots = [newest_snapshot(n) for n in survivors]
        rnd.behind_snapshot = min(rnd.survivor_snapshots) > rnd.victim_log_end
        log_from = victim.log_file.stat().st_size if victim.log_file.exists() else 0
        started_at = time.monotonic()
        victim.start(wait=False)

        def unfenced():
            if not victim.alive():
                raise RuntimeError(f"node {victim.node_id} exited with status {victim.proc.returncode}")
            text = self._log_since(victim, log_from)
            return ("is unfenced: it may lead partitions" in text and port_open(victim)
                    and all(victim.node_id in describe(n).brokers for n in survivors))
        _, took = self._wait(unfenced, started_at, self.deadline_s)
        self._record(rnd, "unfence", took, self.deadline_s, alive=victim.alive())
        ready_at = time.monotonic()
        rnd.snapshot_catch_up = "installed the leader's metadata snapshot" in self._log_since(victim, log_from)

        topic = NewTopic(f"cs-r{number:03d}", self.sizes.randint(2, 3), 3)
        self._create(rnd, "create", [topic], via=self.nodes, views=self.nodes)

        def back_in_every_isr():
            parts = self._isr_of(survivors[0], victim.node_id)
            return bool(parts) and all(victim.node_id in isr for _, _, isr in parts.values())
        _, took = self._wait(back_in_every_isr, ready_at, self.deadline_s)
        partitions = _ask(lambda: self._isr_of(survivors[0], victim.node_id), {})
        self._record(rnd, "isr-expand", took, self.deadline_s,
                     partitions=len(partitions),
                     missing=sorted(k for k, (_, _, isr) in partitions.items() if victim.node_id not in isr)[:20])

        self._produce(rnd, topic.topic)
        if self.keep_rounds:
            self._delete_old(rnd)
        rnd.seconds = round(time.monotonic() - started, 1)
        return rnd

    def _wait_fenced(self, rnd: Round, victim, survivors: list, since: float) -> None:
        def fenced():
            return all(victim.node_id not in describe(n).brokers for n in survivors)
        _, took = self._wait(fenced, since, self.deadline_s)
        self._record(rnd, "fence", took, self.deadline_s)

    def _stop_victim(self, rnd: Round, victim) -> None:
        if rnd.signal == "kill -9":
            victim.kill9()
            return
        log_from = victim.log_file.stat().st_size
        start = time.monotonic()
        status = victim.stop()  # conftest: SIGTERM, SIGKILL after 10 s
        took = time.monotonic() - start
        unconfirmed = "controlled shutdown: the controller did not confirm" in self._log_since(victim, log_from)
        self._record(rnd, "shutdown", None if unconfirmed or status < 0 else took, SHUTDOWN_DEADLINE_S,
                     exit_status=status, exit_s=round(took, 2), unconfirmed=unconfirmed)

    def _produce(self, rnd: Round, topic: str) -> None:
        start = time.monotonic()
        producer = Producer({"bootstrap.servers": ",".join(n.bootstrap for n in self.nodes), "acks": "all",
                             "linger.ms": 5, "message.timeout.ms": int(self.deadline_s * 1000), **QUIET})
        results: list = []
        for i in range(PRODUCE_RECORDS):
            producer.produce(topic, key=f"k{i}".encode(), value=f"round {rnd.number} record {i}".encode(),
                             on_delivery=lambda err, msg: results.append(err))
        producer.flush(self.deadline_s + 5)
        took = time.monotonic() - start
        acknowledged = sum(e is None for e in results)  # `is`: KafkaError == None raises TypeError
        errors = [str(e) for e in results if e is not None]
        ok = acknowledged == PRODUCE_RECORDS
        self._record(rnd, "produce", took if ok else None, self.deadline_s, acknowledged=acknowledged,
                     errors=errors[:5])

    def _log_since(self, node, offset: int) -> str:
        with node.log_file.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def _restart_crashed(self, number: int) -> None:
        """A node that exited without being stopped by a round crashed: keep its log, start it again."""
        for node in self.nodes:
            if not node.alive():
                status = node.proc.returncode if node.proc else None
                self.crashes.append({"before_round": number, "node": node.node_id, "status": status})
                self._keep_failure(None, Change(number, "crash", 0, None, False, {"node": node.node_id,
                                                                                  "status": status}))
                node.start(wait=False)

    def _wait_healthy(self, number: int) -> None:
        if self._wait(self.healthy, time.monotonic(), HEALTHY_TIMEOUT_S)[0]:
            return
        self._keep_failure(None, Change(number, "stuck", HEALTHY_TIMEOUT_S, None, False,
                                        {"alive": {n.node_id: n.alive() for n in self.nodes}}))
        raise ClusterStuck(f"before round {number}: the cluster was not healthy within {HEALTHY_TIMEOUT_S} s "
                           f"(every node running, listing all three brokers, a quorum leader)")

    # --- after a miss ----------------------------------------------------------------------------

    def _keep_failure(self, rnd: Round | None, change: Change) -> None:
        """Copies the three node logs and a JSON of what the cluster said into a failures folder."""
        folder = self.out / "failures" / f"round-{change.round:03d}-{change.kind}"
        n = 2
        while folder.exists():
            folder = self.out / "failures" / f"round-{change.round:03d}-{change.kind}-{n}"
            n += 1
        folder.mkdir(parents=True)
        state = {
            "seed": self.seed, "round": change.round, "change": asdict(change),
            "action": None if rnd is None else {"victim": rnd.victim, "signal": rnd.signal,
                                               "was_controller": rnd.was_controller,
                                               "controller_before": rnd.controller_before},
            "round_so_far": None if rnd is None else [asdict(c) for c in rnd.changes],
            "at": time.strftime("%Y-%m-%d %H:%M:%S"), "alive": {n.node_id: n.alive() for n in self.nodes},
            "quorum_leader": {n.node_id: self.quorum_leader(n) if n.alive() else None for n in self.nodes},
            "metadata": {},
        }
        for node in self.nodes:
            md = _ask(lambda: describe(node)) if node.alive() else None
            if md is None:
                state["metadata"][node.node_id] = None
                continue
            victim = rnd.victim if rnd is not None else -1
            state["metadata"][node.node_id] = {
                "controller_id": md.controller_id, "brokers": sorted(md.brokers),
                "isr_of_victim_partitions": _ask(lambda: self._isr_of(node, victim), {}),
                "round_topics": {t: {p.id: [p.leader, list(p.replicas), list(p.isrs)]
                                     for p in md.topics[t].partitions.values()}
                                 for t in (rnd.topics if rnd else []) if t in md.topics},
            }
            replication = _ask(lambda: subprocess.run(
                [self.tern, "metadata-quorum", "--bootstrap-server", node.bootstrap, "describe", "--replication"],
                capture_output=True, text=True, timeout=10).stdout)
            state["metadata"][node.node_id]["quorum_replication"] = replication
        (folder / "state.json").write_text(json.dumps(state, indent=2))
        for node in self.nodes:
            if node.log_file.exists():
                shutil.copy(node.log_file, folder / f"node-{node.node_id}.log")
        self.failures.append(str(folder))
        self.log(f"  MISSED {change.kind} in round {change.round}: kept {folder}")

    # --- the end -------------------------------------------------------------------------------

    def undescribed_topics(self) -> dict[int, list[str]]:
        """Topics of every round (not deleted) that some node does not describe with all partitions."""
        missing = {}
        for node in self.nodes:
            md = _ask(lambda: describe(node, timeout=10))
            if md is None:
                missing[node.node_id] = sorted(self.live_topics)
                continue
            missing[node.node_id] = sorted(name for name, (parts, _) in self.live_topics.items()
                                           if name not in md.topics or len(md.topics[name].partitions) != parts)
        return {k: v for k, v in missing.items() if v}

    def changes(self) -> list[Change]:
        return [c for r in self.rounds for c in r.changes]

    def summary(self) -> dict:
        by_kind = {}
        for kind in (*METADATA_KINDS, "produce"):
            cs = [c for c in self.changes() if c.kind == kind]
            if not cs:
                continue
            done = sorted(c.latency_s for c in cs if c.latency_s is not None)
            by_kind[kind] = {"count": len(cs), "missed": sum(not c.met for c in cs),
                             "p50_s": _percentile(done, 50), "p99_s": _percentile(done, 99),
                             "max_s": done[-1] if done else None}
        metadata = [c for c in self.changes() if c.metadata]
        return {
            "rounds": len(self.rounds), "seed": self.seed, "deadline_s": self.deadline_s,
            "metadata_changes": len(metadata), "missed": sum(not c.met for c in metadata),
            "produce_missed": sum(not c.met for c in self.changes() if c.kind == "produce"),
            "victims": {"controller": sum(r.was_controller for r in self.rounds),
                        "other": sum(not r.was_controller for r in self.rounds)},
            "signals": {s: sum(r.signal == s for r in self.rounds) for s in ("kill -9", "SIGTERM")},
            "behind_snapshot": sum(r.behind_snapshot for r in self.rounds),
            "snapshot_catch_ups": sum(r.snapshot_catch_up for r in self.rounds),
            "behind_but_no_fetch_snapshot": [r.number for r in self.rounds
                                             if r.behind_snapshot and not r.snapshot_catch_up],
            "topics_created": sum(len(r.topics) for r in self.rounds), "topics_deleted": len(self.deleted),
            "crashes": self.crashes, "failures": self.failures, "by_kind": by_kind,
        }


def summary_text(s: dict) -> str:
    lines = [
        f"rounds: {s['rounds']} (seed {s['seed']}; victims: {s['victims']['controller']} active controller, "
        f"{s['victims']['other']} other; {s['signals']['kill -9']} kill -9, {s['signals']['SIGTERM']} SIGTERM; "
        f"{s['behind_snapshot']} left behind a snapshot, {s['snapshot_catch_ups']} caught up by FetchSnapshot)",
        f"metadata changes: {s['metadata_changes']}, past their deadline: {s['missed']}; "
        f"produce checks past their deadline: {s['produce_missed']}; crashes: {len(s['crashes'])}",
        f"{'kind':12s} {'count':>6s} {'missed':>6s} {'p50 s':>7s} {'p99 s':>7s} {'max s':>7s}  deadline",
    ]
    for kind, k in s["by_kind"].items():
        deadline = SHUTDOWN_DEADLINE_S if kind == "shutdown" else s["deadline_s"]
        lines.append(f"{kind:12s} {k['count']:6d} {k['missed']:6d} {_fmt(k['p50_s'])} {_fmt(k['p99_s'])} "
                     f"{_fmt(k['max_s'])}  {deadline:g} s")
    for f in s["failures"]:
        lines.append(f"kept: {f}")
    return "\n".join(lines)


def _percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def _fmt(x: float | None) -> str:
    return f"{x:7.2f}" if x is not None else "      -"
