#!/usr/bin/env bash
# Kafka-compatible entry point: same arguments as Apache Kafka's kafka-console-consumer.sh.
exec "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/tern" console-consumer "$@"
