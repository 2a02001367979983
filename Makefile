# Tern — build, run and test. `make test` works on a fresh clone with Swift 6 and Python 3.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
REQUIREMENTS := Tests/integration/requirements.txt
VENV_STAMP := $(VENV)/.installed

# Steps below depend on each other's side effects (deps before venv, build before tests).
.NOTPARALLEL:
.PHONY: build build-deps release run run-secure docker-secure stop stop-secure status venv deps test swift-test integration format lint bench bench-metadata bench-replication bench-cluster bench-storage bench-flood bench-tls bench-internode bench-acls fuzz fuzz-requests chaos stress-controller

build: build-deps
	swift build

release: build-deps
	swift build -c release

# The three-node cluster of config/server-{0,1,2}.properties, in the background
# (clients on localhost:9092-9094, data under ./data, logs and pids under ./logs).
run: release
	.build/release/tern cluster up

# The same three nodes with nothing in plaintext (config/secure/): throwaway certificates and a
# cluster id first, then each node's directory formatted with the first SCRAM users (the nodes'
# own login, the admin, bob), as Kafka's kafka-storage.sh format --add-scram does.
SEED_SCRAM = --add-scram 'SCRAM-SHA-512=[name=broker,password=broker-secret]' \
	--add-scram 'SCRAM-SHA-512=[name=admin,password=admin-secret]' \
	--add-scram 'SCRAM-SHA-256=[name=bob,password=bob-secret,iterations=8192]' \
	--add-scram 'SCRAM-SHA-512=[name=bob,password=bob-secret]'
run-secure: release
	@[ -f config/secure/certs/server.pem ] || config/secure/make-certs.sh config/secure/certs
	@[ -f config/secure/certs/cluster.id ] || .build/release/tern storage random-uuid > config/secure/certs/cluster.id
	@for n in 0 1 2; do .build/release/tern storage format --ignore-formatted -t "$$(cat config/secure/certs/cluster.id)" \
		-c config/secure/server-$$n.properties $(SEED_SCRAM); done
	.build/release/tern cluster up --config-dir config/secure --run-dir logs/secure
	@echo "clients: localhost:9092 with security.protocol=SASL_SSL, ssl.ca.location=config/secure/certs/ca.pem,"
	@echo "  sasl.mechanism=SCRAM-SHA-256 (bob / bob-secret) or PLAIN (alice / alice-secret); stop: make stop-secure"
	@echo "tools: bin/kafka-topics.sh --bootstrap-server localhost:9092 --command-config config/secure/admin.properties --list"

# config/secure's set-up in containers (docker/compose.secure.yml): certificates naming the
# Compose services first, then the three nodes.
docker-secure:
	@[ -f docker/certs/server.pem ] || config/secure/make-certs.sh docker/certs alice tern-0 tern-1 tern-2
	docker compose -f docker/compose.secure.yml up --build

stop-secure:
	@if [ -x .build/release/tern ]; then .build/release/tern cluster down --config-dir config/secure --run-dir logs/secure; fi

stop:
	@if [ -x .build/release/tern ]; then .build/release/tern cluster down; else echo "nothing built, nothing to stop"; fi

status:
	.build/release/tern cluster status

venv: $(VENV_STAMP)

$(VENV_STAMP): $(REQUIREMENTS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r $(REQUIREMENTS)
	touch $@

# System packages the tests need: kcat, openssl (throwaway certificates for the TLS tests), chromium with its driver (the web console test),
# iproute2 and iptables (three nodes in network namespaces, links cut with iptables), and
# python3-venv where Debian splits it out.
deps:
	@missing=""; \
	command -v kcat >/dev/null || missing="$$missing kcat"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v strace >/dev/null || missing="$$missing strace"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v iptables >/dev/null || missing="$$missing iptables"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	$(PYTHON) -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	else \
		echo "make deps: please install:$$missing (tests that need them are skipped without them)" >&2; \
	fi

test: deps venv lint swift-test integration

# The C libraries the build links (record compression): Debian's -dev packages, installed when
# missing and this is root on a Debian system; otherwise the command to run is printed.
BUILD_PACKAGES := zlib1g-dev:zlib.h libzstd-dev:zstd.h liblz4-dev:lz4frame.h
build-deps:
	@missing=""; \
	for p in $(BUILD_PACKAGES); do [ -f /usr/include/$${p#*:} ] || missing="$$missing $${p%%:*}"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "make: installing$$missing (the compression libraries' headers)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; }; \
	else \
		echo "make: the build needs:$$missing (sudo apt-get install$$missing)" >&2; exit 1; \
	fi

swift-test: build-deps
	swift build --build-tests
	swift test

# Only the real-process tests, against the current debug build: two workers, each taking whole
# files (a file's tests share fixtures and run in order); ports are split between the workers.
# Most tests wait on session timeouts and kills, so two at once take about 14 minutes, not 23.
# PYTEST_WORKERS=0 runs them one at a time.
# The 3-minute chaos run keeps both cores busy, so it runs alone afterwards (beside it, a
# paused-broker and a cluster-CLI test once missed their deadlines).
PYTEST_WORKERS ?= 2
integration: venv
	$(VENV)/bin/pytest -q -n $(PYTEST_WORKERS) --dist loadfile --durations=25 Tests/integration \
		--ignore=Tests/integration/test_chaos.py
	$(VENV)/bin/pytest -q --durations=5 Tests/integration/test_chaos.py

format:
	swift format -i -r Sources Tests Package.swift

lint:
	@echo "swift format lint (strict): Sources Tests Package.swift"
	swift format lint --strict -r Sources Tests Package.swift

bench:
	@if [ -f bench/run.sh ]; then bash bench/run.sh; else echo "bench/run.sh not present; nothing to run"; fi

# Three nodes (RF 3) beside one node: acks=1 and acks=all throughput, consume, latency.
bench-replication: release venv
	$(VENV)/bin/python bench/replication.py

# Broker-bound: one node, three nodes (RF 3, acks=all) and Tansu under Tern's own perf-test load
# (bench/cluster.py); CPU per record, throughput and acks=all latency, as ratios in one run.
bench-cluster: release venv
	$(VENV)/bin/python bench/cluster.py

# Topic creations per second and controller fail-over time on three local nodes.
# Faults on purpose: 30 minutes of kills, pauses, restarts, isolation and slow links under load,
# then the history checker (CHAOS_SECONDS to change). Results in bench/out/chaos/.
CHAOS_SECONDS ?= 1800
chaos: build venv
	$(VENV)/bin/python bench/chaos.py --seconds $(CHAOS_SECONDS)

# PLAINTEXT, SSL and SASL_SSL (SCRAM) side by side on one release-built node (bench/tls.py).
bench-tls: build-deps venv
	swift build -c release --product tern
	$(VENV)/bin/python bench/tls.py

bench-internode: build-deps venv
	swift build -c release --product tern
	$(VENV)/bin/python bench/internode.py

# Authorization's cost: a node without an authorizer and one with 10,000 ACLs, side by side (bench/acls.py).
bench-acls: build-deps venv
	swift build -c release --product tern
	$(VENV)/bin/python bench/acls.py

# Issue 25's controller stress: ROUNDS rounds of kill -9 / SIGTERM and restart of a node (the
# active controller among them), left behind a metadata snapshot while topics are created, then a
# new RF 3 topic and the ISR expansion, each metadata change with a 30 s deadline; a miss keeps the
# node logs. Results in bench/out/controller-stress/ (TERN_BIN to run another binary).
ROUNDS ?= 200
stress-controller: build venv
	$(VENV)/bin/python bench/controller_stress.py --rounds $(ROUNDS)

# libFuzzer over the request and record-batch decoders, 10 minutes each (FUZZ_SECONDS to change).
FUZZ_SECONDS ?= 600
fuzz: build-deps
	swift build --scratch-path .build-fuzz --product tern-fuzz -Xswiftc -DFUZZING \
		-Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
	mkdir -p .build-fuzz/corpus/requests .build-fuzz/corpus/records
	cp Tests/KafkaProtocolTests/Captured/*.bin .build-fuzz/corpus/requests/
	cp Fuzz/seeds/records/* .build-fuzz/corpus/records/
	for t in requests records; do \
		TERN_FUZZ_TARGET=$$t .build-fuzz/debug/tern-fuzz .build-fuzz/corpus/$$t -max_total_time=$(FUZZ_SECONDS) \
			-rss_limit_mb=2048 -artifact_prefix=Fuzz/regressions/$$t/ || exit 1; \
	done

# The whole request path with extreme values (Tests/ServerTests/RequestPathFuzzTests.swift), client
# and CONTROLLER listeners, FUZZ_SECONDS each; CI runs their short forms in swift test.
fuzz-requests: build-deps
	swift build --build-tests
	TERN_FUZZ_SECONDS=$(FUZZ_SECONDS) swift test --filter 'RequestPathFuzzTests/clientListener'
	TERN_FUZZ_SECONDS=$(FUZZ_SECONDS) swift test --filter 'RequestPathFuzzTests/controllerListener'

# Broker RSS under a connection flood, slow readers and oversized declared frames.
bench-flood: release venv
	$(VENV)/bin/python bench/flood.py

bench-storage: release venv
	$(VENV)/bin/python bench/storage.py

bench-metadata: release venv
	$(VENV)/bin/python bench/metadata.py
