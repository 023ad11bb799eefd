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

# Issue 16's figures (RELIABILITY.md), each step bounded by `timeout`; not part of `make test`.
# The watch consistency model (WATCH_SEEDS seeds; `python -m tests.reliability --seed N`
# replays one), the idempotent-create fault matrix (upstream faults), the gateway's own
# faults (kill -9 x20 under load, SQLite full and locked, wall clock stepped +-3 h), fuzzing
# of every rpc (FUZZ_EXAMPLES per row), tenant isolation with the upstream up, failing and
# down, 2,000 watch streams at once, then the soak (SOAK_MINUTES of mixed load with upstream
# faults on). About 13 minutes on 2 idle cores; longer runs by the variables, e.g.
#   make reliability WATCH_SEEDS=20 FUZZ_EXAMPLES=1000 SOAK_MINUTES=60
WATCH_SEEDS ?= 3
FUZZ_EXAMPLES ?= 100
SOAK_MINUTES ?= 5
reliability: install
	timeout 300 $(PY) -m tests.reliability --seeds $(WATCH_SEEDS)
	timeout 180 $(PY) -m tests.reliability.faults
	timeout 600 $(PY) -m tests.reliability.faults_store
	timeout $$(( $(FUZZ_EXAMPLES) * 2 + 240 )) $(PY) -m tests.reliability.fuzz --examples $(FUZZ_EXAMPLES)
	timeout 180 $(PY) -m tests.reliability.isolation
	timeout 300 $(PY) -m tests.reliability.streams --streams 2000 --quiet
	timeout $$(( $(SOAK_MINUTES) * 60 + 300 )) $(PY) -m tests.reliability.soak --minutes $(SOAK_MINUTES)

# Mutation testing (mutmut) of the critical modules, one worker, within a time budget (default
# 22 min); prints the score per module and the surviving mutants, also written to
# tests/mutation/last-report.md. Not part of `make test`. A subset, a budget (0 = none):
#   make mutation MUTATION_MODULES=gateway/watch/_token.py,gateway/rpc/_status.py MUTATION_BUDGET=10m
# Also MUTATION_WORKERS=2 (mutants in parallel), MUTATION_CAP=45 (seconds of tests a mutant at
# most; a capped mutant counts as survived) and MUTATION_RESUME=1 (go on from the last run's
# mutants/ when the sources and tests are unchanged).
mutation: install
	$(PY) -m tests.mutation $(if $(MUTATION_MODULES),--modules '$(MUTATION_MODULES)') \
		$(if $(MUTATION_BUDGET),--budget '$(MUTATION_BUDGET)')

clean:
	rm -rf $(VENV) .pytest_cache
