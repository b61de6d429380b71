# Outpost: the two commands a fresh machine needs are `make run` and `make test`.
# Each creates the virtual environment in .venv and installs the project first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install lint typecheck pytest bench bench-server bench-sync bench-app translations translations-update clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Outpost needs Python 3.11 or newer (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start Outpost on the embedded default with the demo account.
run: install translations
	$(BIN)/outpost --demo

## Compile the Qt translations (.ts → .qm, next to their sources; not committed).
translations: install
	$(BIN)/pyside6-lrelease -silent resources/translations/outpost_zh_CN.ts \
		-qm resources/translations/outpost_zh_CN.qm

## After changing texts in app/: add new texts to the .ts file (then translate them).
translations-update: install
	$(BIN)/pyside6-lupdate -silent -no-obsolete -locations none app/*.py \
		-ts resources/translations/outpost_zh_CN.ts

## The whole test suite: lint, type check, every test (PostgreSQL ones when
## OUTPOST_TEST_PG_URL is set; .ci/run always sets it).
test: lint typecheck pytest

lint: install
	$(BIN)/ruff check sync server app bench tests
	$(BIN)/ruff format --check sync server app bench tests

typecheck: install
	$(BIN)/mypy sync server

pytest: install
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/replica_bench.py

## Sync server on PostgreSQL (OUTPOST_BENCH_PG_URL): bulk load, full pull, 50 pushing
## devices, exactly-once check. BENCH_ARGS="--scale 0.05 --runs 1" for a quick run.
bench-server: install
	$(BIN)/python bench/server_bench.py $(BENCH_ARGS)

## Initial sync of the same data set into an empty replica (records/s, peak client RSS,
## raw floor), 1,000 queued edits pushed, a sync with nothing to do. Same BENCH_ARGS.
bench-sync: install
	$(BIN)/python bench/sync_bench.py $(BENCH_ARGS)

## The desktop app on a 100,000-customer replica: launch to list painted, search latency.
bench-app: install translations
	QT_QPA_PLATFORM=offscreen $(BIN)/python bench/app_bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

.PHONY: package package-check

## The desktop app packaged with PyInstaller: one folder in dist/outpost/ (work files in
## build/work/). One file, Windows and macOS: see build/README.md.
package: install
	$(BIN)/python build/build.py

## `make package`, then the built app's self-test offscreen (about a minute here).
package-check: install
	QT_QPA_PLATFORM=offscreen $(BIN)/python build/build.py --check
