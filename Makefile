# Two entry points: `make run` (the main job) and `make test` (everything CI runs).
# Both create .venv and install admit with its development tools on first use.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

.PHONY: setup run check test lint bench kinds
setup: $(BIN)/.installed

PORT ?= 8443
CONSOLE_PORT ?= 6060

run: setup
	$(BIN)/admit serve examples/seed --self-signed --port $(PORT) --console-port $(CONSOLE_PORT)

check: setup
	@$(BIN)/admit check examples/seed examples/seed/pods/ || \
		echo "(exit code $$?: enforced rules failed for two of the three pods, as the origin intends)"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	PYTHONPATH=. $(BIN)/lint-imports  # lint/ holds the allow-list contract type

test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python bench/bench_core.py

# The API's built-in kinds, from the installed lightkube-models (after upgrading it).
kinds: setup
	$(BIN)/python -m admit.loading.builtin_kinds
