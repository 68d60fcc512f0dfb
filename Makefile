# Two commands on a fresh machine: `make demo` (all the set-up + the main job) and `make test`.
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
# Meltano lives in its own virtualenv: its dependencies must not steer the tap's.
MVENV   ?= .venv-meltano
MELTANO := $(MVENV)/bin/meltano
MELTANO_VERSION := 4.4.1
export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: setup test lint demo clean

setup: $(VENV)/.installed .meltano/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(MELTANO):
	$(PYTHON) -m venv $(MVENV)
	$(MVENV)/bin/python -m pip install --quiet --upgrade pip
	$(MVENV)/bin/python -m pip install --quiet meltano==$(MELTANO_VERSION)

# The tap (editable) and every loader of meltano.yml, each in its own plugin venv.
.meltano/.installed: meltano.yml pyproject.toml $(MELTANO)
	$(MELTANO) install
	touch $@

demo: setup
	$(BIN)/python scripts/demo.py --meltano $(MELTANO)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	MELTANO_BIN=$(abspath $(MELTANO)) $(BIN)/pytest

clean:
	rm -rf $(VENV) $(MVENV) .meltano output .mypy_cache .ruff_cache .pytest_cache .hypothesis
