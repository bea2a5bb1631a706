# Trygg: `make demo` runs the city simulation on the local stack; `make test` runs every test.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The crew page's browser libraries (Leaflet, axe-core), pinned in hub/web/package-lock.json.
WEB := hub/web/node_modules/.package-lock.json

.PHONY: all bootstrap venv web check lint types unit test demo bench contract clean

all: test

bootstrap:
	bash scripts/bootstrap-system.sh

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY) (Python >= 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

$(WEB): hub/web/package.json hub/web/package-lock.json
	cd hub/web && npm ci --no-audit --no-fund --ignore-scripts

web: $(WEB)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check trygg edge hub sim bench tests dashboards

types: venv
	$(BIN)/mypy trygg edge hub dashboards sim tests bench

unit: venv
	$(BIN)/pytest -q -m "not integration and not slow"

# The fast inner loop: lint, types and pure unit tests.
check: lint types unit

# Everything, against real Mosquitto, InfluxDB, PostgreSQL, Chromium and ONNX models.
test: bootstrap venv web lint types
	$(BIN)/pytest -q

demo: bootstrap venv web
	$(BIN)/trygg demo $(DEMO_ARGS)

bench: bootstrap venv
	$(BIN)/python -m bench

contract: venv
	$(BIN)/trygg contract -o docs/contract.schema.json

clean:
	rm -rf $(VENV) state .mypy_cache .ruff_cache .pytest_cache
