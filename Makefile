# pinterest-pipeline — everything a fresh machine needs, from PyPI and Maven Central only.
SHELL := /bin/bash
PY_VERSION ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
JARS := .local/jars
STAMP := .local/stamps

.PHONY: help setup venv jars test demo dev bench validate airflow stack-up stack-down clean-local

help:
	@echo "make demo   - set up if needed, run the pipeline end to end, print the reconciliation"
	@echo "make test   - set up if needed, start real services, run the whole test suite"
	@echo "make setup  - venv (.venv) with pinned packages + jars (.local/jars); idempotent"
	@echo "make bench  - run the benchmarks, write bench/results.md"
	@echo "make dev    - stack + API + emulator + Dagster webserver/daemon on 127.0.0.1:3000"
	@echo "make airflow - Airflow standalone (AIRFLOW_HOME=.local/airflow) with airflow_bridge/dags"

setup: venv jars .env

# The venv is rebuilt only when pyproject.toml or constraints.txt change.
venv: $(STAMP)/venv
$(STAMP)/venv: pyproject.toml constraints.txt
	@mkdir -p $(STAMP)
	@test -x $(PY) || $(PY_VERSION) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[test]'
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

# Dagster's CLI reads .env from the project folder: it points DAGSTER_HOME at .local/dagster_home.
.env: $(STAMP)/venv
	$(VENV)/bin/pinterest stack env --dotenv > .env

test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/pinterest demo $(DEMO_ARGS)

dev: setup
	$(VENV)/bin/pinterest dev

bench: setup
	$(PY) -m bench.run_all

validate: setup
	$(VENV)/bin/pinterest stack up
	$(VENV)/bin/dagster definitions validate -m pinterest_assets.definitions

# Airflow standalone on 127.0.0.1:8080, DAG folder airflow_bridge/dags, pointed at the local Dagster.
airflow: setup
	AIRFLOW_HOME=$(CURDIR)/.local/airflow \
	AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/airflow_bridge/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__API__HOST=127.0.0.1 \
	PINTEREST_DAGSTER_URL=$${PINTEREST_DAGSTER_URL:-http://127.0.0.1:3000} \
	$(VENV)/bin/airflow standalone

stack-up: setup
	$(VENV)/bin/pinterest stack up --s3

stack-down:
	$(VENV)/bin/pinterest stack down

clean-local:
	-$(VENV)/bin/pinterest stack down
	rm -rf .local .venv .env
