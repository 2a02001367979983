#!/usr/bin/env bash
# Kafka-compatible entry point: same arguments as Apache Kafka's kafka-transactions.sh.
exec "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/tern" transactions "$@"
