# motionzoo: the two set-up commands are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
WHEELS := $(wildcard /opt/wheels)
PIP_INSTALL := $(BIN)/pip --disable-pip-version-check install $(if $(WHEELS),--find-links $(WHEELS),)

.PHONY: install demo test smoke bench lint format clean

$(BIN)/motionzoo: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP_INSTALL) -q "torch==2.13.0"
	$(PIP_INSTALL) -q -e ".[dev]"
	touch $(BIN)/motionzoo

install: $(BIN)/motionzoo

demo: install
	$(BIN)/python -m motionzoo.demo

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider

smoke: install
	PY=$(PY) scripts/smoke_wheel.sh

bench: install
	$(BIN)/python -m benchmarks

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: install
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) lightning_logs demo_runs .pytest_cache
