# One virtual environment (.venv) for everything; the stack lives in .stack/ (both ignored).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RS := $(BIN)/riskstream
# pytest-xdist processes for `make test`: the tests wait on Kafka, Redis and workers far more
# than they compute, so more processes than cores pay. The few tests that stop an engine the
# others share (marked `disruptive`) run after the rest, the two side by side (they stop
# different engines: a Redis Cluster master, a Kafka cluster broker).
TEST_JOBS ?= 6
# Python caches the bytecode it compiles, even where PYTHONDONTWRITEBYTECODE is set (as on
# some CI images): else every test, worker and command process compiles each module it
# imports again (a worker's start took 3.9 s of CPU instead of 1.6, pytest's collection 10 s
# instead of 3.6, in each of the test processes).
export PYTHONDONTWRITEBYTECODE :=

.PHONY: venv redis-server chromium stack stack-cluster test lint unit integration demo bench down clean

venv: $(VENV)/.installed

# --no-compile: each module is compiled (and cached) when first imported instead, not all
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --no-compile -e '.[test]'
	touch $@

# Debian's redis-server, installed when missing and we are root (as on CI).
redis-server:
	@command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else echo "redis-server missing: sudo apt-get install redis-server" >&2; exit 1; fi; }

# Debian's Chromium and chromedriver for the dashboard's browser test (no browser download).
chromium:
	@{ command -v chromium && command -v chromedriver; } >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "chromium missing: sudo apt-get install chromium chromium-driver" >&2; exit 1; fi; }

stack: venv redis-server
	$(RS) stack up

# The stack, a local Redis Cluster (3 masters, 3 replicas) and a 3-broker Kafka cluster
# (RF 3, SASL_SSL listeners): what the tests run against.
stack-cluster: venv redis-server
	$(RS) stack up --redis-cluster --kafka-cluster

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest tests/unit src/riskstream -q

integration: stack-cluster chromium
	$(BIN)/pytest tests/integration -q

# The README's test command: venv, stack, lint, types, unit and integration tests.
test: lint stack-cluster chromium
	$(BIN)/pytest -q -n $(TEST_JOBS) --dist worksteal -m "not disruptive" --durations=40
	$(BIN)/pytest -q -n 2 -m disruptive

demo: stack
	$(BIN)/python -m riskstream.cli.demo

bench: stack
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

down:
	-$(RS) stack down

clean: down
	rm -rf $(VENV) .stack
