# smartdeploy — developer entry points. `make run` and `make test` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
SHARED ?= $(abspath ../shared/data)

.PHONY: install install-dev run test test-fast lint schemas demo clean \
        bench bench-ingest bench-predict bench-kpi bench-canary bench-decision \
        bench-strategy bench-executor bench-api bench-windows bench-fleet

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py $(wildcard api/ingest/*.c api/ingest/*.h models/*.c models/*.h)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -e .
	@touch $@

install-dev: $(VENV)/.installed-dev

$(VENV)/.installed-dev: pyproject.toml setup.py $(wildcard api/ingest/*.c api/ingest/*.h models/*.c models/*.h)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

run: install
	$(VENV)/bin/smartdeploy up

demo: install
	$(VENV)/bin/smartdeploy demo

test: install-dev
	$(VENV)/bin/pytest

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy schemas models streams executor api smartdeploy

schemas: install
	$(PY) -m schemas.export

clean:
	rm -rf var bench-out .pytest_cache .mypy_cache .ruff_cache

# --- benchmarks (each prints its figures; last line `RESULT <name> k=v ...`) -------------
DATA ?=
OUT ?=

bench: bench-ingest bench-predict bench-kpi bench-canary bench-fleet bench-decision bench-strategy \
       bench-executor bench-api bench-history

bench-ingest: install-dev
	$(PY) tests/bench/bench_ingest.py

bench-strategy: install-dev
	$(PY) tests/bench/bench_strategy.py

bench-executor: install-dev
	$(PY) tests/bench/bench_executor.py

bench-history: install-dev
	$(PY) -m tests.history.bench_history --deployments 20000

deploy-sync: install-dev
	$(PY) deploy/k8s/bundled/sync_configmaps.py

bench-worker: install-dev
	$(PY) tests/bench/bench_worker.py

bench-api: install-dev
	$(PY) tests/bench/bench_api.py

bench-predict: install-dev
	$(PY) tests/bench/bench_predict.py --data $(or $(DATA),$(SHARED)/travistorrent/travistorrent_dev.csv.gz) --out $(or $(OUT),bench-out/preds.csv)

bench-kpi: install-dev
	DATA="$(or $(DATA),$(SHARED)/cloud-monitoring/data)" OUT="$(or $(OUT),bench-out/kpi)" $(PY) tests/bench/bench_kpi.py

bench-canary: install-dev
	DATA="$(or $(DATA),$(SHARED)/cloud-monitoring/data)" $(PY) tests/bench/bench_canary.py

bench-fleet: install-dev
	$(PY) tests/bench/bench_fleet.py

bench-windows: install-dev
	$(PY) tests/bench/bench_windows.py

bench-decision: install-dev
	$(PY) tests/bench/bench_decision.py
