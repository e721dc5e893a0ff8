# The whole set-up on a fresh machine: `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Reinstall only when the dependency list changes (pyproject.toml is newer than the stamp).
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint typecheck unit bench preview doctor clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(PY) -m bot run

doctor: $(RUN_STAMP)
	$(PY) -m bot doctor

preview: $(RUN_STAMP)
	$(PY) -m bot preview

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check bot cogs tests
	$(VENV)/bin/ruff format --check bot cogs tests

typecheck: $(DEV_STAMP)
	$(VENV)/bin/mypy

unit: $(DEV_STAMP)
	$(PY) -m pytest

test: lint typecheck unit

bench: $(RUN_STAMP)
	$(PY) -m bot bench ack --commands 2000

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
