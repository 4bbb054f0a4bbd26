# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint check-schemas docs clean lock .venv

LOCK := requirements.lock
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check

# The exact versions and hashes of everything the hub and its tests run on (refresh: `make lock`).
$(VENV)/.installed: pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Fengqiao Hub needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) --require-hashes -r $(LOCK)
	$(PIP) --no-deps -e .
	@touch $@

# Pin again after changing a dependency in pyproject.toml: newest versions within its ranges.
lock:
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PIP) pip-tools
	$(BIN)/pip-compile -q --extra dev --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o $(LOCK) pyproject.toml

# Set up only: create .venv and install the hub with its test tools.
.venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/fengqiao demo

lint: $(VENV)/.installed
	$(BIN)/ruff check .

check-schemas: $(VENV)/.installed
	$(BIN)/fengqiao schemas check

test: lint check-schemas
	$(BIN)/python -m pytest -q --durations=15

docs: $(VENV)/.installed
	$(BIN)/fengqiao schemas docs

clean:
	rm -rf $(VENV) .fengqiao .pytest_cache .ruff_cache *.egg-info
