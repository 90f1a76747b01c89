# Two commands: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run test install install-dev lint browser java clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEVSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP) $@

install: $(STAMP)
install-dev: $(DEVSTAMP)

run: install
	$(BIN)/siyu demo

# Debian's chromium (and a CJK font) for the browser tests; never a downloaded browser.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

# Java 17 for Spark in local mode (the warehouse contract suite runs on DuckDB and on Spark); Debian's.
java:
	@if ! command -v java >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
	fi

# Control-plane tests run again on PostgreSQL when a server answers on 127.0.0.1:5432. That pass leaves out
# the browser tests (e2e) and the tests marked own_home: they run only processes of their own on a SQLite
# SIYU_HOME (or a private PostgreSQL server) of their own (DATABASE_URL removed), so they would run exactly as
# on the first pass.
PG_URL ?= postgres://postgres@127.0.0.1:5432/siyu
PG_TESTS := tests/core tests/workers tests/staff tests/customers tests/api tests/console tests/engagement tests/acquisition tests/community tests/loyalty tests/surveys tests/members tests/privacy tests/integrations

test: install-dev browser java
	$(BIN)/lint-imports
	$(BIN)/python -m pytest
	@if $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 2)" 2>/dev/null; then \
		echo "== control-plane tests on PostgreSQL ($(PG_URL))"; \
		DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest -m "not e2e and not own_home" $(wildcard $(PG_TESTS)); \
	else \
		echo "SKIPPED: control-plane tests on PostgreSQL: no server answers on 127.0.0.1:5432"; \
	fi

lint: install-dev
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
