# Every target bootstraps its own virtualenv from nothing (python3 + pip are all a fresh machine has):
# pip installs uv into the venv, uv installs the pinned set from the committed constraints file.
# A stamp file makes the bootstrap idempotent and re-runs it when the pins or pyproject change.
AIRFLOW_VERSION ?= 3.3.2
PYTHON ?= python3
VENV ?= .venv-$(AIRFLOW_VERSION)
CONSTRAINTS := constraints/constraints-$(AIRFLOW_VERSION).txt
STAMP := $(VENV)/.installed
PY := $(VENV)/bin/python
export UV_COMPILE_BYTECODE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv test lint unit demo bench sandbox standalone distributed clean constraints

venv: $(STAMP)

$(STAMP): $(CONSTRAINTS) pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q uv
	$(VENV)/bin/uv pip install -q --python $(PY) -c $(CONSTRAINTS) -e '.[test]' "apache-airflow==$(AIRFLOW_VERSION)"
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check airflow_provider_scrapingpros tests bench example_dags scripts
	$(VENV)/bin/ruff format --check airflow_provider_scrapingpros tests bench example_dags scripts
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

test: lint unit

# One deferrable DAG under a real scheduler + triggerer (airflow standalone on loopback).
standalone: $(STAMP)
	$(PY) -m tests.standalone.lane

# PostgreSQL + Redis + CeleryExecutor, two workers and two triggerers, killed under running tasks
# (docs/distributed.md). Installs the `distributed` extra here, and Debian's postgresql and
# redis-server packages (apt-get, as root) when their binaries are missing.
DIST_STAMP := $(VENV)/.installed-distributed

$(DIST_STAMP): $(STAMP)
	$(VENV)/bin/uv pip install -q --python $(PY) -c $(CONSTRAINTS) -e '.[test,distributed]' "apache-airflow==$(AIRFLOW_VERSION)"
	touch $(DIST_STAMP)

distributed: $(DIST_STAMP)
	$(PY) -m tests.distributed.lane $(LANE_ARGS)

demo: $(STAMP)
	$(PY) scripts/demo.py

bench: $(STAMP)
	$(PY) -m bench

sandbox: $(STAMP)
	$(VENV)/bin/scrapingpros-sandbox

# Regenerate the pinned sets (needs uv); CONTRIBUTING.md says when and with which --exclude-newer date.
constraints:
	for v in 3.3.2 3.1.8; do uv pip compile -q -p 3.11 constraints/requirements-$$v.in -o constraints/constraints-$$v.txt; done

clean:
	rm -rf .venv-* airflow-home demo-output .mypy_cache .ruff_cache .pytest_cache build dist
