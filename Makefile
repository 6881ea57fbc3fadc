# Two commands set everything up: `make run` and `make test`. Both create or refresh the
# virtual environment from uv.lock first, so a fresh machine needs only Python >= 3.11 and make.
# `make test` is the whole suite (what CI runs) in two pytest-xdist workers (on a 2-core machine,
# four were no faster); `make test-fast` is the feedback loop: tests/unit and tests/api, no real
# processes. PYTEST_ARGS goes to pytest after XDIST (`PYTEST_ARGS="-n 0"` runs in one process;
# `XDIST="-n auto"` gives one worker per core).
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
XDIST ?= -n 2 --dist worksteal
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: setup run test test-fast lint format clean screenshots

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Prorata needs Python >= 3.11")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --extra embedded --python $(PYTHON)
	@touch $@

setup: $(VENV)/.synced

run: setup
	$(VENV)/bin/prorata up

test: setup
	$(VENV)/bin/pytest $(XDIST) $(PYTEST_ARGS)

test-fast: setup
	$(VENV)/bin/pytest $(XDIST) $(PYTEST_ARGS) tests/unit tests/api

# The console's main pages as PNGs (the browser journey saves them), for the README.
screenshots: setup
	PRORATA_SCREENSHOTS=$(CURDIR)/docs/screenshots $(VENV)/bin/pytest -n 0 tests/system/test_browser_console.py tests/system/test_browser_portal.py tests/unit/test_letters.py

lint: setup
	$(VENV)/bin/ruff check src tests bench tools
	$(VENV)/bin/ruff format --check src tests bench tools
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: setup
	$(VENV)/bin/ruff check --fix src tests bench tools
	$(VENV)/bin/ruff format src tests bench tools

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
