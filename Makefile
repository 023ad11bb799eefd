# Two commands on a fresh machine: `make run` and `make test`. Everything else is here too.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install generate lint test run bench reliability mutation clean node-deps ts repeat

THIRD_PARTY := protos/third_party

install: $(STAMP) $(THIRD_PARTY)/.stamp

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# google/api and google/rpc protos from googleapis-common-protos (a Python dependency), as
# files for buf and other languages' tools; git-ignored, never edited.
$(THIRD_PARTY)/.stamp: $(STAMP)
	$(PY) protos/generate.py --third-party $(THIRD_PARTY)
	touch $@

# Regenerates generated/ from protos/; the only writer of generated/.
generate: install
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) protos/generate.py generated

# buf lint, then buf breaking against the contract's last release (protos/BASELINE).
lint: install
	cd protos && ../$(VENV)/bin/buf lint
	$(PY) protos/breaking.py
	$(VENV)/bin/ruff check gateway tests protos
	$(VENV)/bin/mypy gateway

NODE_CLIENT := tests/clients/node

# npm packages of the Node test client and the TypeScript generator, as package-lock.json
# pins them (tests/clients; skipped, with a message, where npm is absent).
node-deps: $(NODE_CLIENT)/node_modules/.package-lock.json
$(NODE_CLIENT)/node_modules/.package-lock.json: $(NODE_CLIENT)/package-lock.json $(NODE_CLIENT)/package.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix $(NODE_CLIENT) --no-audit --no-fund --ignore-scripts; \
	else echo "npm not found: the Node and TypeScript client tests will be skipped"; fi

# TypeScript stubs into protos/gen/ts (protos/buf.gen.yaml).
ts: node-deps install
	cd protos && ../$(VENV)/bin/buf generate

# The suite runs only on a tree that lints and type-checks.
test: lint node-deps
	$(PY) -m pytest

run: install
	$(PY) -m gateway serve --simulator $(ARGS)

bench: install
	$(PY) -m tests.bench

# Flakiness check (issue 10): tests/rpc and tests/watch RUNS times in a row (default 20),
# stopping at the first failing run.
RUNS ?= 20
repeat: install node-deps
	@for i in $$(seq $(RUNS)); do \
		$(PY) -m pytest -q -p no:cacheprovider tests/rpc tests/watch > .repeat.log 2>&1 \
			|| { tail -40 .repeat.log; echo "run $$i of $(RUNS) FAILED"; exit 1; }; \
		echo "run $$i of $(RUNS): $$(tail -1 .repeat.log)"; \
	done

# Seeded consistency runs of the watch (20 seeds, ~4 min); not part of `make test`.
# The watch consistency model over 20 seeds, then the idempotent-create fault matrix
# (RELIABILITY.md); each bounded by timeout so the target ends within ~10 min.
reliability: install
	timeout 420 $(PY) -m tests.reliability --seeds 20
	timeout 180 $(PY) -m tests.reliability.faults

# Mutation testing (mutmut) of the critical modules, one worker, within a time budget (default
# 22 min); prints the score per module and the surviving mutants, also written to
# tests/mutation/last-report.md. Not part of `make test`. A subset, a budget (0 = none):
#   make mutation MUTATION_MODULES=gateway/watch/_token.py,gateway/rpc/_status.py MUTATION_BUDGET=10m
mutation: install
	$(PY) -m tests.mutation $(if $(MUTATION_MODULES),--modules '$(MUTATION_MODULES)') \
		$(if $(MUTATION_BUDGET),--budget '$(MUTATION_BUDGET)')

clean:
	rm -rf $(VENV) .pytest_cache
