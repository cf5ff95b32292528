# make demo: run the README story on a real reactor.   make test: every check.
# Both set themselves up on a fresh machine: .venv, the package with its extras,
# Graphviz's `dot` (Debian's package) when it is missing, and for the broker tests a
# RabbitMQ that answers on 127.0.0.1:5672 (started, or installed from Debian's packages).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo demo-cluster test lint typecheck pytest soak bench bench-count docs graphviz valgrind rabbitmq clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,docs]'
	touch $(STAMP)

graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Graphviz (Debian package 'graphviz') for the dot binary"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq graphviz >/dev/null; \
	  else \
	    echo "Graphviz's dot is missing and apt-get is not available: install Graphviz (https://graphviz.org/download/)"; exit 1; \
	  fi; }

# The benchmark's instruction counts (and their test) run the workloads under callgrind.
valgrind:
	@command -v valgrind >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Valgrind (Debian package 'valgrind') for the benchmark's instruction counts"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq valgrind >/dev/null; \
	  else \
	    echo "valgrind is missing and apt-get is not available: install Valgrind (https://valgrind.org/)"; exit 1; \
	  fi; }

# The broker tests need RabbitMQ on 127.0.0.1:5672 (guest/guest): start it if it is
# installed but down, install Debian's package if it is missing, then wait until it answers.
BROKER_UP := $(PYTHON) -c "import socket; socket.create_connection(('127.0.0.1', 5672), 2).close()"
rabbitmq:
	@$(BROKER_UP) 2>/dev/null || { \
	  if ! command -v rabbitmq-server >/dev/null 2>&1; then \
	    echo "Installing RabbitMQ (Debian package 'rabbitmq-server') for the broker tests"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq rabbitmq-server >/dev/null; \
	  fi; \
	  $(BROKER_UP) 2>/dev/null || { echo "Starting RabbitMQ (rabbitmq-server -detached)"; $(SUDO) rabbitmq-server -detached; }; \
	  for i in $$(seq 1 120); do $(BROKER_UP) 2>/dev/null && break; sleep 1; done; \
	  $(SUDO) rabbitmqctl await_startup >/dev/null; \
	  $(BROKER_UP) || { echo "RabbitMQ does not answer on 127.0.0.1:5672"; exit 1; }; }

demo: $(STAMP) graphviz
	$(PY) examples/readme_story.py
	$(PY) examples/demo.py out/demo
	mkdir -p docs/images
	cp out/demo/topology.svg out/demo/topology.png docs/images/
	@echo "docs/images/topology.svg and docs/images/topology.png updated"

# Three node processes of a shop through RabbitMQ, and the joined trace of their runs.
demo-cluster: $(STAMP) graphviz rabbitmq
	$(PY) examples/cluster/demo.py out/demo-cluster

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# Everything but the soak tests runs under branch coverage; the soak tests (a million
# events) run after, without the tracer's overhead.
# The last line make test prints is pytest's own summary of the main run.
pytest: $(STAMP) graphviz valgrind rabbitmq
	rm -f .coverage .coverage.*
	set -o pipefail; $(VENV)/bin/coverage run -m pytest -q -p no:cacheprovider -m "not soak" \
	  tests README.md docs | tee .pytest-summary.txt
	$(VENV)/bin/coverage combine -q
	$(VENV)/bin/coverage report
	@tail -n 1 .pytest-summary.txt

soak: $(STAMP)
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider -m soak tests

test: lint typecheck docs soak pytest

# Timings (W1-W7), instruction counts under callgrind, and the cluster rows (W8, W9),
# which measure through the RabbitMQ that `rabbitmq` makes answer.
bench: $(STAMP) graphviz valgrind rabbitmq
	$(PY) -m pip install --quiet -e '.[dev,bench,cluster]'
	$(PY) benchmarks/run.py

# Only the instruction counts (a few minutes; the figures do not move with the load):
# rewrites their part of benchmarks/results.md and keeps the rest.
bench-count: $(STAMP) valgrind
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) benchmarks/run.py --count

docs: $(STAMP) graphviz
	$(VENV)/bin/sphinx-build -E -n -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) .coverage .coverage.* .pytest-summary.txt .mypy_cache .ruff_cache .pytest_cache .hypothesis
