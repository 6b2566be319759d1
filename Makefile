# The one entry point: make demo, make test, make lint, make bench, make fuzz, make samples, make docs.
# Every target creates .venv and installs what it needs; system packages (nginx for the
# lab, tcpdump, chromium for the HTML tests) are installed by tools/system-deps.sh when
# running as root.

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TZ_TEST := Asia/Kolkata

.PHONY: demo test lint bench fuzz samples docs system-deps clean

# editable_mode=compat: a plain path in a .pth, not setuptools' import hook, which costs every
# python start (logcorr --help included) 15-45 ms of imports (pathlib, importlib.util, ...).
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,spark]' --config-settings editable_mode=compat
	touch $@

system-deps:
	@bash tools/system-deps.sh

demo: $(STAMP)
	rm -rf out/demo-data
	$(BIN)/logcorr ingest sample_logs --data out/demo-data
	$(BIN)/logcorr report --data out/demo-data --window 5m
	$(BIN)/logcorr report --data out/demo-data --window 5m --format html --output out/report.html
	@echo "HTML report: out/report.html"

# Tests run in a non-UTC zone so that local-time leaks fail.
test: $(STAMP) system-deps
	TZ=$(TZ_TEST) $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check logcorr tests tools bench
	$(BIN)/mypy

# Throughput against baselines, then peak RSS at 1M/5M/10M access lines (flat: bounded commits);
# last, bench/results/results.md: the side-by-side table against issue 11's targets.
bench: $(STAMP)
	@bash tools/system-deps.sh bench
	$(BIN)/python bench/run.py
	-$(BIN)/python bench/memory.py --sizes 1,5,10
	$(BIN)/python bench/watch_throughput.py --rate 10000 --seconds 240 --every 10s --last 1m --window 30s
	$(BIN)/python bench/table.py

# Coverage-guided fuzzing (atheris) of every reader, the log_format compiler, nginx.conf and
# whole-file ingest, FUZZ_SECONDS per target; crashes land in tests/fuzz/crashes/, which
# make test replays. Then a soak: the live-writer rotation suite with 30 rotations per test.
FUZZ_SECONDS ?= 60
fuzz: $(STAMP)
	TZ=$(TZ_TEST) PYTHONPATH=. $(BIN)/python tests/fuzz/run.py --seconds $(FUZZ_SECONDS)
	TZ=$(TZ_TEST) LOGCORR_ROTATION_CYCLES=30 $(BIN)/python -m pytest -q tests/test_rotation.py

samples: $(STAMP) system-deps
	TZ=$(TZ_TEST) $(BIN)/python tools/make_samples.py

docs: demo system-deps
	$(BIN)/python tools/screenshot.py out/report.html docs/report.png
	$(BIN)/python tools/watch_view.py --out docs/watch.svg

clean:
	rm -rf $(VENV) out bench/results bench/data logcorr-data
