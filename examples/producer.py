#!/usr/bin/env python3
"""The fault-tolerance lab's producer: sends numbered messages to a topic, one every --interval
seconds, with acks=all and retries, and prints each acknowledgement (partition and offset) as
it comes. Keep it running while you kill -9 a broker: sends pause while the partition's leader
moves, then go on, and no acknowledged message is lost.

    pip install kafka-python            # or use .venv/bin/python after make test
    python3 examples/producer.py --topic lab --count 1000
"""

from __future__ import annotations

import argparse
import sys
import time

from kafka import KafkaProducer
from kafka.errors import KafkaError


def main() -> int:
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--bootstrap-server", default="localhost:9092,localhost:9093,localhost:9094")
    a.add_argument("--topic", default="lab")
    a.add_argument("--count", type=int, default=1000, help="messages to send (0: until Ctrl-C)")
    a.add_argument("--interval", type=float, default=0.01, help="seconds between messages")
    args = a.parse_args()
    producer = KafkaProducer(bootstrap_servers=args.bootstrap_server.split(","), acks="all", retries=10,
                             retry_backoff_ms=500, request_timeout_ms=30_000, max_in_flight_requests_per_connection=1)
    acked = failed = 0

    def ok(n, meta):  # kafka-python passes the extra arguments first
        nonlocal acked
        acked += 1
        print(f"acked {n} partition {meta.partition} offset {meta.offset}", flush=True)

    def bad(n, err):
        nonlocal failed
        failed += 1
        print(f"failed {n}: {err}", file=sys.stderr, flush=True)

    n = 0
    try:
        while args.count == 0 or n < args.count:
            future = producer.send(args.topic, key=str(n % 10).encode(), value=str(n).encode())
            future.add_callback(ok, n).add_errback(bad, n)
            n += 1
            time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    finally:
        producer.flush(timeout=60)
        producer.close()
    print(f"sent {n}, acknowledged {acked}, failed {failed}", file=sys.stderr, flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
