# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint check-schemas docs clean .venv

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Fengqiao Hub needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

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
