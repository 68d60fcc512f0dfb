# Two commands on a fresh machine: `make demo` (all the set-up + the main job) and `make test`.
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
# Meltano lives in its own virtualenv: its dependencies must not steer the tap's.
MVENV   ?= .venv-meltano
MELTANO := $(MVENV)/bin/meltano
export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false
# The tap's dev environment comes from uv.lock (every package pinned, with hashes), so that
# every machine gets the same versions. uv itself is pinned here and installed with pip.
UV_VERSION := 0.13.9
UV      := UV_PROJECT_ENVIRONMENT=$(abspath $(VENV)) $(BIN)/uv
# Byte-compile what is installed: where PYTHONDONTWRITEBYTECODE is set (as on CI), nothing is
# ever cached, and each Python process (Meltano, a loader, a pytest worker) would compile
# every module it imports again (seconds each). A file that does not compile is never
# imported (test data, other Python versions' code), hence `|| true`.
COMPILE  = compileall -qq -j0

.PHONY: setup test test-quick lint demo clean lock

setup: $(VENV)/.installed .meltano/.installed .meltano/.fakesnow

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)

# --locked: refuse a uv.lock that no longer matches pyproject.toml (run `make lock`).
# --inexact: keep pip and uv, which the venv had before uv.lock.
$(VENV)/.installed: pyproject.toml uv.lock $(BIN)/uv
	$(UV) sync --quiet --locked --extra dev --inexact --compile-bytecode
	touch $@

# After changing a dependency in pyproject.toml or requirements/*.in: pin the new set in
# uv.lock and requirements/*.txt, and commit them.
lock: $(BIN)/uv
	$(UV) lock
	$(BIN)/uv pip compile --quiet --universal --python-version 3.10 --generate-hashes \
		--custom-compile-command "make lock" --annotation-style line \
		requirements/meltano.in -o requirements/meltano.txt
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --annotation-style line \
		requirements/snowflake-offline.in -o requirements/snowflake-offline.txt

# Meltano and its dependencies at the versions (and hashes) of requirements/meltano.txt. An
# existing MVENV is kept as it is (it may be shared): remove it to install a new lock.
$(MELTANO): | $(BIN)/uv
	$(PYTHON) -m venv $(MVENV)
	$(BIN)/uv pip install --quiet --python $(MVENV)/bin/python --require-hashes \
		--compile-bytecode -r requirements/meltano.txt

# The tap (editable) and every loader of meltano.yml, each in its own plugin venv.
.meltano/.installed: meltano.yml pyproject.toml $(MELTANO)
	$(MELTANO) install
	for python in $(MVENV)/bin/python .meltano/*/*/venv/bin/python; do \
		$$python -m $(COMPILE) $$($$python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') \
			|| true; \
	done
	touch $@

# fakesnow beside target-snowflake in its Meltano venv, with the loader's own dependencies at
# the versions and hashes of requirements/snowflake-offline.txt, for the offline Snowflake test
# (tests/test_snowflake_offline.py). fakesnow needs Python >= 3.11: on 3.10 nothing is
# installed and that test skips.
SNOWFLAKE_PY := .meltano/loaders/target-snowflake/venv/bin/python
.meltano/.fakesnow: requirements/snowflake-offline.txt .meltano/.installed
	if $(SNOWFLAKE_PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then \
		$(BIN)/uv pip install --quiet --python $(SNOWFLAKE_PY) --require-hashes \
			--compile-bytecode -r requirements/snowflake-offline.txt; \
	fi
	touch $@

demo: setup
	$(BIN)/python scripts/demo.py --meltano $(MELTANO)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Tests run on parallel workers (pytest-xdist; `auto` is two a core, see tests/conftest.py);
# a group of tests runs on one worker (--dist loadgroup, groups of tests/xdist_groups.py).
# `make test PYTEST_ARGS=-n0` runs them in this process, one after another.
PYTEST_ARGS ?= -n auto --dist loadgroup

test: lint
	MELTANO_BIN=$(abspath $(MELTANO)) $(BIN)/pytest $(PYTEST_ARGS)

# The tap and the sandbox alone: no test marked slow (Meltano, loaders, package builds), no lint.
test-quick: setup
	$(BIN)/pytest $(PYTEST_ARGS) -m "not slow"

# output/ itself stays: it ships (meltano.yml's DuckDB file goes there), only its files go.
clean:
	rm -rf $(VENV) $(MVENV) .meltano .mypy_cache .ruff_cache .pytest_cache .hypothesis
	[ ! -d output ] || find output -mindepth 1 ! -name .gitignore -delete
