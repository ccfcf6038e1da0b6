# newswatch: `make run` runs the service, `make test` passes the tests.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
FEEDS  ?= deploy/feeds.yaml
TOPICS ?= topics
SUBSCRIBERS ?= deploy/subscribers.console.yaml
# 1: also poll the demo reports of deploy/demo/articles.yaml, served from this machine.
DEMO   ?= 1

.PHONY: help run test test-unit lint bench lock clean tools
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

install: $(BIN)/.installed ## create .venv and install newswatch with its locked dependencies

run: $(BIN)/.installed ## run the pipeline and the console locally (FEEDS=file TOPICS=dir SUBSCRIBERS=file DEMO=0|1; starts Kafka unless NEWSWATCH_KAFKA_BOOTSTRAP is set)
	$(BIN)/newswatch up --feeds $(FEEDS) --topics $(TOPICS) --subscribers $(SUBSCRIBERS) \
	    $(if $(filter 1,$(DEMO)),--demo)

test: $(BIN)/.installed tools ## run the whole test suite against a real local Kafka broker and Prometheus
	$(BIN)/python -m pytest

tools: ## install what the deployment tests run: prometheus, promtool, kustomize, check-jsonschema, kubernetes-validate
	PYTHON=$(PYTHON) tools/install

test-unit: $(BIN)/.installed ## only the fast tests that need no broker
	$(BIN)/python -m pytest -m 'not kafka and not e2e and not chaos'

lint: $(BIN)/.installed ## ruff and mypy
	$(BIN)/ruff check monitor tests bench
	$(BIN)/mypy

bench: $(BIN)/.installed ## run every benchmark and print the tables
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lock: ## re-resolve requirements.lock from pyproject.toml
	rm -rf /tmp/newswatch-lock && $(PYTHON) -m venv /tmp/newswatch-lock
	/tmp/newswatch-lock/bin/pip install --quiet '.[dev]'
	/tmp/newswatch-lock/bin/pip freeze --exclude newswatch | grep -v '^-e' > requirements.lock

clean: ## remove .venv and caches (not the Kafka jars in ~/.cache/newswatch)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
