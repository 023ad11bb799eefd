# Two commands on a fresh machine: `make run` and `make test`. Everything else is here too.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install generate lint test run bench reliability clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Regenerates generated/ from protos/; the only writer of generated/.
generate: install
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) protos/generate.py generated

lint: install
	cd protos && ../$(VENV)/bin/buf lint
	$(VENV)/bin/ruff check gateway tests protos

test: install
	$(PY) -m pytest

run: install
	$(PY) -m gateway serve --simulator

bench: install
	$(PY) -m tests.bench

# Seeded consistency runs of the watch (20 seeds, ~4 min); not part of `make test`.
reliability: install
	$(PY) -m tests.reliability --seeds 20

clean:
	rm -rf $(VENV) .pytest_cache
