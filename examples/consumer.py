#!/usr/bin/env python3
"""The fault-tolerance lab's consumer: reads a topic as a member of a consumer group, prints
each message with its partition and offset, and commits as it goes. Kill -9 the broker that
coordinates the group, or a partition's leader, and it carries on from the committed offsets.

    python3 examples/consumer.py --topic lab --group lab-readers
"""

from __future__ import annotations

import argparse
import sys

from kafka import KafkaConsumer


def main() -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--bootstrap-server", default="localhost:9092,localhost:9093,localhost:9094")
    a.add_argument("--topic", default="lab")
    a.add_argument("--group", default="lab-readers")
    a.add_argument("--max", type=int, default=0, help="stop after this many messages (0: until Ctrl-C)")
    a.add_argument("--idle-ms", type=int, default=0, help="stop after this long without a message (0: never)")
    args = a.parse_args()
    consumer = KafkaConsumer(args.topic, bootstrap_servers=args.bootstrap_server.split(","), group_id=args.group,
                             auto_offset_reset="earliest", enable_auto_commit=True, auto_commit_interval_ms=1000,
                             consumer_timeout_ms=args.idle_ms or float("inf"))
    seen = 0
    try:
        for m in consumer:
            print(f"partition {m.partition} offset {m.offset} key {m.key.decode() if m.key else None} "
                  f"value {m.value.decode()}", flush=True)
            seen += 1
            if args.max and seen >= args.max:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()  # commits what was read and leaves the group
    print(f"read {seen} messages", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
