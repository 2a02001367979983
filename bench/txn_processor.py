"""A consume-transform-produce loop with exactly-once processing (confluent-kafka): records of
`input` are read in group `group`, copied to `output` with "out-" before the value, and the
input offsets are committed in the same transaction. Exits after `idle` seconds without input.

Run by Tests/integration/test_transactions.py and bench/chaos.py as its own process, so it can be killed with -9.
usage: txn_processor.py BOOTSTRAP INPUT OUTPUT GROUP TXN_ID [IDLE_S] [PAUSE_S] [BATCH]

PAUSE_S sleeps inside each transaction (so faults land mid-transaction); BATCH is the most input
records a transaction takes (default 20).
"""

from __future__ import annotations

import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


def rewind(consumer: Consumer) -> None:
    """Back to the last committed offsets, so an aborted transaction's input is read again."""
    assignment = consumer.assignment()
    if not assignment:
        return
    for tp in consumer.committed(assignment, timeout=30):
        consumer.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else 0))


def main() -> int:
    bootstrap, source, sink, group, txn_id = sys.argv[1:6]
    idle_s = float(sys.argv[6]) if len(sys.argv) > 6 else 10.0
    pause_s = float(sys.argv[7]) if len(sys.argv) > 7 else 0.0
    batch = int(sys.argv[8]) if len(sys.argv) > 8 else 20
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                         "session.timeout.ms": 6000})
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5,
                         "transaction.timeout.ms": 20000})
    producer.init_transactions(60)
    consumer.subscribe([source])
    last_input = time.monotonic()
    done = 0
    while time.monotonic() - last_input < idle_s:
        msgs = [m for m in consumer.consume(num_messages=batch, timeout=0.5) if m.error() is None]
        if not msgs:
            continue
        last_input = time.monotonic()
        try:
            producer.begin_transaction()
            for m in msgs:
                producer.produce(sink, key=m.key(), value=b"out-" + m.value())
            positions = consumer.position(consumer.assignment())
            producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)
            if pause_s:
                time.sleep(pause_s)
            while True:
                try:
                    producer.commit_transaction(30)
                    break
                except KafkaException as e:
                    if not e.args[0].retriable():
                        raise
            done += len(msgs)
        except KafkaException as e:
            err = e.args[0]
            if err.fatal():
                print(f"fatal: {err}", flush=True)
                return 3
            print(f"aborting: {err}", flush=True)
            producer.abort_transaction(60)
            rewind(consumer)
    print(f"processed {done}", flush=True)
    consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
