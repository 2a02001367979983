"""The rest of the Kafka-named tools: kafka-configs, kafka-dump-log, the perf tests, and
`tern version`, each with a success and a failure case, through bin/ as a tutorial runs them.
Kafka's own clients change configs too (AlterConfigs and IncrementalAlterConfigs)."""

from __future__ import annotations

import re
import shutil

from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
from kafka.admin import ConfigResource as KPConfigResource, ConfigResourceType, KafkaAdminClient

from conftest import TERN_BIN
from support import unique_topic
from test_cli import run


def configs(bootstrap: str, topic: str) -> dict[str, str]:
    out = run("configs", "--bootstrap-server", bootstrap, "--describe", "--entity-type", "topics",
              "--entity-name", topic).stdout.decode().splitlines()
    assert out[0] == f"Dynamic configs for topic {topic} are:", out
    found = {}
    for line in out[1:]:
        m = re.fullmatch(r"  ([^=]+)=(.*) sensitive=false synonyms=\{DYNAMIC_TOPIC_CONFIG:\1=\2\}", line)
        assert m, line
        found[m.group(1)] = m.group(2)
    return found


def test_kafka_configs_sh_describes_alters_and_deletes_topic_configs(shared_broker):
    b, topic = shared_broker.bootstrap, unique_topic("cfg")
    run("topics", "--bootstrap-server", b, "--create", "--topic", topic, "--partitions", "1",
        "--config", "retention.ms=60000")
    assert configs(b, topic) == {"retention.ms": "60000"}

    done = run("configs", "--bootstrap-server", b, "--alter", "--entity-type", "topics", "--entity-name", topic,
               "--add-config", "cleanup.policy=[compact,delete],max.message.bytes=2000", "--delete-config",
               "retention.ms")
    assert done.stdout.decode().strip() == f"Completed updating config for topic {topic}."
    assert configs(b, topic) == {"cleanup.policy": "compact,delete", "max.message.bytes": "2000"}
    # The new limit is in force: kafka-topics --describe shows it, and --all lists every config.
    described = run("topics", "--bootstrap-server", b, "--describe", "--topic", topic).stdout.decode()
    assert "max.message.bytes=2000" in described.splitlines()[0]
    every = run("configs", "--bootstrap-server", b, "--describe", "--topic", topic, "--all").stdout.decode()
    assert every.startswith(f"All configs for topic {topic} are:") and "segment.bytes=" in every


def test_kafka_configs_sh_refuses_what_it_cannot_do_in_one_line(shared_broker):
    b, topic = shared_broker.bootstrap, unique_topic("cfg-bad")
    run("topics", "--bootstrap-server", b, "--create", "--topic", topic, "--partitions", "1")
    cases = [
        (["--alter", "--topic", topic, "--add-config", "no.such.config=1"], "Unknown topic config name: no.such.config"),
        (["--alter", "--topic", topic, "--add-config", "retention.ms=soon"], "Invalid value soon for configuration retention.ms"),
        (["--alter", "--topic", "missing-" + topic, "--add-config", "retention.ms=1"], "does not exist"),
        (["--alter", "--entity-type", "brokers", "--entity-name", "0", "--add-config", "num.partitions=2"],
         "num.partitions is not a dynamic broker config in Tern"),
        (["--alter", "--entity-type", "brokers", "--entity-name", "0", "--add-config",
          "leader.replication.throttled.rate=fast"], "Invalid value fast for configuration leader.replication"),
        (["--alter", "--entity-type", "brokers", "--entity-name=x3", "--add-config",
          "leader.replication.throttled.rate=1"], "A broker resource is a broker id or empty"),
        (["--alter", "--entity-type", "brokers", "--entity-name", "2147483647", "--add-config",
          "leader.replication.throttled.rate=1"], "Broker 2147483647 is not registered"),
        (["--describe"], "Name an entity"),
        (["--alter", "--topic", topic], "--add-config"),
        (["--describe", "--entity-type", "clients", "--entity-name", "x"], "topics, brokers or users"),
        (["--alter", "--entity-type", "users", "--entity-name", "x", "--add-config", "SCRAM-SHA-1=[password=p]"],
         "SCRAM-SHA-256=[...] or SCRAM-SHA-512=[...]"),
    ]
    for args, message in cases:
        r = run("configs", "--bootstrap-server", b, *args, check=False)
        err = r.stderr.decode()
        assert r.returncode != 0, args
        assert message in err, (args, err)
        assert "Traceback" not in err and "Fatal error" not in err
    assert configs(b, topic) == {}, "a refused change leaves the configs as they were"


def test_kafka_configs_sh_sets_and_removes_the_dynamic_broker_throttles(shared_broker):
    b = shared_broker.bootstrap
    def describe(*entity: str) -> list[str]:
        return run("configs", "--bootstrap-server", b, "--describe", "--entity-type", "brokers",
                   *entity).stdout.decode().splitlines()
    done = run("configs", "--bootstrap-server", b, "--alter", "--entity-type", "brokers", "--entity-name", "0",
               "--add-config", "leader.replication.throttled.rate=1000000,follower.replication.throttled.rate=2000000")
    assert done.stdout.decode().strip() == "Completed updating config for broker 0."
    assert describe("--entity-name", "0") == [
        "Dynamic configs for broker 0 are:",
        "  follower.replication.throttled.rate=2000000 sensitive=false "
        "synonyms={DYNAMIC_BROKER_CONFIG:follower.replication.throttled.rate=2000000}",
        "  leader.replication.throttled.rate=1000000 sensitive=false "
        "synonyms={DYNAMIC_BROKER_CONFIG:leader.replication.throttled.rate=1000000}"]
    # The cluster-wide default shows where a broker sets none of its own.
    run("configs", "--bootstrap-server", b, "--alter", "--entity-type", "brokers", "--entity-default",
        "--add-config", "follower.replication.throttled.rate=5")
    run("configs", "--bootstrap-server", b, "--alter", "--entity-type", "brokers", "--entity-name", "0",
        "--delete-config", "follower.replication.throttled.rate,leader.replication.throttled.rate")
    assert describe("--entity-name", "0")[1:] == [
        "  follower.replication.throttled.rate=5 sensitive=false "
        "synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:follower.replication.throttled.rate=5}"]
    run("configs", "--bootstrap-server", b, "--alter", "--entity-type", "brokers", "--entity-default",
        "--delete-config", "follower.replication.throttled.rate")
    assert describe("--entity-name", "0") == ["Dynamic configs for broker 0 are:"]
    # Kafka's dynamic configs of features Tern does not have are kept (and shown), without effect.
    run("configs", "--bootstrap-server", b, "--alter", "--entity-type", "brokers", "--entity-name", "0",
        "--add-config", "sasl.kerberos.min.time.before.relogin=58000")
    assert describe("--entity-name", "0")[1:] == [
        "  sasl.kerberos.min.time.before.relogin=58000 sensitive=false "
        "synonyms={DYNAMIC_BROKER_CONFIG:sasl.kerberos.min.time.before.relogin=58000}"]
    run("configs", "--bootstrap-server", b, "--alter", "--entity-type", "brokers", "--entity-name", "0",
        "--delete-config", "sasl.kerberos.min.time.before.relogin")
    assert describe("--entity-name", "0") == ["Dynamic configs for broker 0 are:"]


def test_kafka_clients_admin_apis_change_configs(shared_broker):
    b, topic = shared_broker.bootstrap, unique_topic("cfg-admin")
    run("topics", "--bootstrap-server", b, "--create", "--topic", topic, "--partitions", "1")
    # confluent-kafka: IncrementalAlterConfigs.
    admin = AdminClient({"bootstrap.servers": b})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "120000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND)])
    for f in admin.incremental_alter_configs([resource]).values():
        f.result(10)
    assert configs(b, topic) == {"retention.ms": "120000", "cleanup.policy": "delete,compact"}
    described = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
    entries = list(described.values())[0].result(10)
    assert entries["retention.ms"].value == "120000"
    # kafka-python, forced onto AlterConfigs, which replaces the whole set of dynamic configs
    # (the client sends the other overrides along; a reset leaves one out).
    kp = KafkaAdminClient(bootstrap_servers=b)
    try:
        kp.alter_configs([KPConfigResource(ConfigResourceType.TOPIC, topic, configs={"segment.bytes": "1048576"})],
                         incremental=False)
        assert configs(b, topic) == {"retention.ms": "120000", "cleanup.policy": "delete,compact",
                                     "segment.bytes": "1048576"}
        kp.reset_configs([KPConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": None})],
                         incremental=False)
    finally:
        kp.close()
    assert configs(b, topic) == {"cleanup.policy": "delete,compact", "segment.bytes": "1048576"}


def test_kafka_dump_log_sh_prints_batches_and_reports_damage(shared_broker, tmp_path):
    b, topic = shared_broker.bootstrap, unique_topic("dump")
    run("topics", "--bootstrap-server", b, "--create", "--topic", topic, "--partitions", "1")
    run("console-producer", "--bootstrap-server", b, "--topic", topic, stdin=b"alpha\nbeta\ngamma\n")
    segment = shared_broker.log_dir / f"{topic}-0" / "00000000000000000000.log"
    out = run("dump-log", "--files", str(segment), "--print-data-log").stdout.decode().splitlines()
    assert out[0] == f"Dumping {segment}" and out[1] == "Log starting offset: 0"
    assert re.match(r"baseOffset: 0 lastOffset: 2 count: 3 .* compresscodec: none crc: \d+ isvalid: true$", out[2])
    assert [re.search(r"payload: (\S+)$", line).group(1) for line in out[3:6]] == ["alpha", "beta", "gamma"]
    assert out[-1].startswith("Health: ok: 1 batches, 3 records at offsets 0..2")

    damaged = tmp_path / "00000000000000000000.log"
    shutil.copy(segment, damaged)
    data = bytearray(damaged.read_bytes())
    data[-3] ^= 0xFF
    damaged.write_bytes(bytes(data) + b"\x00\x00\x01")  # a flipped byte and a torn tail
    r = run("dump-log", "--files", str(damaged), check=False)
    assert r.returncode == 2
    assert "isvalid: false" in r.stdout.decode()
    assert "Health: DAMAGED: CRC mismatch in the batch at position 0" in r.stdout.decode()
    missing = run("dump-log", "--files", str(tmp_path / "nope.log"), check=False)
    assert missing.returncode == 1 and "Could not read" in missing.stderr.decode()


def test_perf_tests_print_kafkas_summary_lines(shared_broker):
    b, topic = shared_broker.bootstrap, unique_topic("perf")
    out = run("producer-perf-test", "--topic", topic, "--num-records", "20000", "--record-size", "100",
              "--throughput", "-1", "--producer-props", f"bootstrap.servers={b}", "acks=all").stdout.decode()
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"20000 records sent, [\d.]+ records/sec \([\d.]+ MB/sec\), [\d.]+ ms avg latency, "
                        r"[\d.]+ ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99.9th\.", last), last
    out = run("consumer-perf-test", "--bootstrap-server", b, "--topic", topic, "--messages", "20000").stdout.decode()
    header, row = out.strip().splitlines()
    assert header.startswith("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg")
    assert row.split(", ")[4] == "20000", row
    short = run("consumer-perf-test", "--bootstrap-server", b, "--topic", topic, "--messages", "30000",
                "--timeout", "1000", check=False)
    assert short.returncode == 0 and short.stdout.decode().splitlines()[1].split(", ")[4] == "20000"
    assert "Exiting before consuming the expected number of messages" in short.stderr.decode()
    bad = run("producer-perf-test", "--topic", topic, "--num-records", "0", "--record-size", "1",
              "--throughput", "-1", "--bootstrap-server", b, check=False)
    assert bad.returncode != 0 and "--num-records must be at least 1" in bad.stderr.decode()


def test_tern_version_and_unreachable_bootstrap_say_what_they_mean():
    import subprocess
    v = subprocess.run([str(TERN_BIN), "version", "--apis"], capture_output=True, text=True, timeout=10)
    assert v.returncode == 0 and re.match(r"Tern \d+\.\d+\.\d+\n", v.stdout)
    assert "  Produce(0): 0 to " in v.stdout and "  Fetch(1): 0 to " in v.stdout
    r = run("topics", "--bootstrap-server", "127.0.0.1:1", "--list", check=False)
    err = r.stderr.decode().strip()
    assert r.returncode == 1 and len(err.splitlines()) == 1, err
    assert "could not reach any bootstrap server: tried 127.0.0.1:1 (connection refused)" in err


def test_console_consumer_and_dump_log_read_every_codec_from_both_producers(shared_broker):
    from confluent_kafka import Producer
    from kafka import KafkaProducer

    b = shared_broker.bootstrap
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        topic = unique_topic(f"codec-{codec}")
        run("topics", "--bootstrap-server", b, "--create", "--topic", topic, "--partitions", "1")
        p = Producer({"bootstrap.servers": b, "compression.type": codec, "linger.ms": 20})
        for i in range(30):
            p.produce(topic, value=f"rd-{i}-{'x' * 40}".encode())
        assert p.flush(15) == 0
        k = KafkaProducer(bootstrap_servers=b, compression_type=codec, linger_ms=20)
        for i in range(30):
            k.send(topic, value=f"kp-{i}".encode())
        k.flush()
        k.close()
        out = run("console-consumer", "--bootstrap-server", b, "--topic", topic, "--from-beginning",
                  "--max-messages", "60").stdout.decode().splitlines()
        assert out == [f"rd-{i}-{'x' * 40}" for i in range(30)] + [f"kp-{i}" for i in range(30)], (codec, out[:3])
        dump = run("dump-log", "--files", str(shared_broker.log_dir / f"{topic}-0" / "00000000000000000000.log"),
                   "--print-data-log").stdout.decode()
        assert f"compresscodec: {codec}" in dump and "payload: kp-29" in dump, codec


def test_consumer_groups_list_shows_only_groups_describe_knows(broker):
    """A consumer that joined and left without committing leaves no group behind (Kafka drops
    it too): `--list` must not show what `--describe` then calls missing, and `--describe
    --all-groups` describes every listed group."""
    from kafka import KafkaConsumer

    bootstrap = broker.bootstrap
    run("console-producer", "--bootstrap-server", bootstrap, "--topic", "lg", stdin=b"a\nb\n")
    for group, commit in [("left-without-commit", False), ("committed", True)]:
        c = KafkaConsumer("lg", bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                          enable_auto_commit=False, consumer_timeout_ms=3000)
        assert len(list(c)) == 2
        if commit:
            c.commit()
        c.close()
    listed = run("consumer-groups", "--bootstrap-server", bootstrap, "--list").stdout.decode().split()
    assert listed == ["committed"], listed
    for g in listed:
        run("consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group", g)
    everything = run("consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--all-groups")
    out = everything.stdout.decode()
    assert "Consumer group 'committed' has no active members." in out and "left-without-commit" not in out
    gone = run("consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group", "left-without-commit",
               check=False)
    assert gone.returncode == 1 and "does not exist" in gone.stderr.decode()
