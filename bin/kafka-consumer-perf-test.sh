#!/usr/bin/env bash
# Kafka-compatible entry point: same arguments as Apache Kafka's kafka-consumer-perf-test.sh.
exec "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/tern" consumer-perf-test "$@"
