# One entry point per chore. Each target bootstraps .venv itself on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO_DB ?= ./edgeopt-demo.db

.PHONY: all install tools sqlite3-cli lint docs test demo bench fuzz clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The real Turso sync server the replica tests run against: the `tursodb` binary from the npm
# registry, pinned (0.7.0 speaks the sync protocol of pyturso 0.8.3), installed into .tools/.
TURSO_VERSION ?= 0.7.0
TOOLS         := .tools
TURSO_STAMP   := $(TOOLS)/.tursodb-$(TURSO_VERSION)
export EDGEOPT_TURSODB ?= $(CURDIR)/$(TOOLS)/node_modules/@tursodatabase/cli-linux-x64-gnu/tursodb

$(TURSO_STAMP):
	npm install --silent --prefix $(TOOLS) --no-save --no-package-lock --no-audit --no-fund \
		@tursodatabase/cli-linux-x64-gnu@$(TURSO_VERSION)
	$(EDGEOPT_TURSODB) --version
	touch $(TURSO_STAMP)

# The sqlite3 shell: `advise --compare-expert` runs its .expert, and so do the tests. Installed
# from Debian when missing (as root, else through sudo); silent when already there.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

sqlite3-cli:
	@command -v sqlite3 >/dev/null 2>&1 || { \
		echo "installing the sqlite3 command (Debian package sqlite3)"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends sqlite3 >/dev/null && \
		sqlite3 --version; }

tools: $(TURSO_STAMP) sqlite3-cli

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The documentation site (mkdocs, strict: a broken link or a failing CLI reference fails the
# build), built into .site-build/ only to check it; `$(BIN)/mkdocs serve` to read it locally.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet --site-dir .site-build

test: lint docs tools
	$(BIN)/pytest

# The newcomer's tour (seed, bench before, apply, bench after, status, rollback) on $(DEMO_DB).
demo: $(STAMP)
	$(BIN)/edgeopt demo --db $(DEMO_DB) --chart demo.png

# Study-flow benchmarks at scale medium (seeded once, cached in .benchmarks/cache): baseline vs
# optimized for every operation, then the speedup table; JSON in .benchmarks/latest.json.
EDGEOPT_BENCH_SCALE ?= medium
bench: $(STAMP)
	mkdir -p .benchmarks
	EDGEOPT_BENCH_SCALE=$(EDGEOPT_BENCH_SCALE) $(BIN)/pytest benchmarks -s -p no:cacheprovider \
		--benchmark-json=.benchmarks/latest.json --benchmark-columns=min,median,max,rounds

# The rewrite differential test at length: 100,000 generated schemas and statements, each run
# original vs rewrite on real SQLite (make test runs 5,000, seeded); a fresh random seed each run.
FUZZ_EXAMPLES ?= 100000
fuzz: $(STAMP)
	EDGEOPT_REWRITE_EXAMPLES=$(FUZZ_EXAMPLES) EDGEOPT_REWRITE_RANDOM=1 $(BIN)/pytest \
		tests/test_rewrite_differential.py -p no:cacheprovider

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .benchmarks $(DEMO_DB) demo.png \
		.site-build site
