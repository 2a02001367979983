#!/usr/bin/env bash
# Older Kafka tutorials start ZooKeeper first. Tern has none: say what to do instead.
echo "Tern needs no ZooKeeper: each broker runs its own metadata controller (KRaft mode). Skip this step and start a broker with bin/kafka-server-start.sh config/server.properties (one node) or make run (three nodes)."
exit 0
