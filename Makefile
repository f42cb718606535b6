# Two set-up commands: `make run` and `make test`. Everything else is a helper of those two.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
QUESTION ?= What did Truss demand?

.PHONY: run test lint bench bench-scale bench-load eval reader browser clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# Index the seeds, answer the headline question in the terminal, then serve the chat on http://$(HOST):$(PORT)/.
HOST ?= 127.0.0.1
PORT ?= 8000
run: $(VENV)/.installed
	$(BIN)/qa index seeds/
	$(BIN)/qa ask "$(QUESTION)"
	$(BIN)/qa serve --host $(HOST) --port $(PORT)

# Debian's Chromium for the browser tests (playwright's own browser download cannot work offline).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); \
	  else echo "error: /usr/bin/chromium is missing; install it: sudo apt-get install chromium"; exit 1; fi; \
	fi

# Style, types (mypy strict) and the import contracts in pyproject.toml (the core never imports a shell; no cycles).
lint: $(VENV)/.installed-test
	$(BIN)/ruff check qa indexer api eval tests bench
	$(BIN)/ruff format --check qa indexer api eval tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two workers (one per core here), each test file whole on one of them: its module fixtures (a server, a page) start
# once, and the time-boxed tests (the fuzzing, the load test) run beside the others. 8 min instead of 14. The files
# go out longest first (tests/conftest.py, FILE_SECONDS), so that no long one starts last.
TEST_WORKERS ?= 2
test: $(VENV)/.installed-test browser lint
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run.py

# Indexes of 10k, 100k and 1M chunks (synthetic vectors, real text), embedded and behind `chroma run`; the 1M build
# takes about an hour and 30 GB. Then `qa index` of growing JSON Lines files, and following change logs of 1k to 1M
# records, and the writers' wait while a catalog of 100,000 articles is compacted. Not in make test.
SIZES ?= 10000,100000,1000000
bench-scale: $(VENV)/.installed-test
	$(BIN)/python bench/scale.py --sizes $(SIZES) --modes local,server
	$(BIN)/python bench/ingest.py --runs 3
	$(BIN)/python bench/changelog.py
	$(BIN)/python bench/compaction.py

# 50 clients for 60 s (ask, chat, stream, /v1) with keys on and a writer adding and removing an article each second.
bench-load: $(VENV)/.installed-test
	$(BIN)/python bench/load.py --clients 50 --seconds 60

eval: $(VENV)/.installed-test
	$(BIN)/qa eval eval/seed_qa.jsonl --corpus seeds --report eval/reports/seed
	$(BIN)/qa eval eval/xquad_en/qa.jsonl --corpus eval/xquad_en/corpus.jsonl --withhold --report eval/reports/xquad

# Fit the span reader again (qa/assets/reader.onnx, on all of XQuAD-en), then the picker's weights (half A). About
# 30 minutes on 2 cores. The held-out figure needs a reader per half: see eval/fit_span.py (--reader-a, --reader-b).
TRAIN := .venv-train
reader: $(VENV)/.installed-test
	test -x $(TRAIN)/bin/python || $(PYTHON) -m venv $(TRAIN)
	$(TRAIN)/bin/pip install --quiet -e '.[train]'
	$(TRAIN)/bin/python -m eval.fit_reader --half AB --out qa/assets/reader.onnx
	$(BIN)/python -m eval.fit_span --write

clean:
	rm -rf $(VENV) $(TRAIN) .qa-data
