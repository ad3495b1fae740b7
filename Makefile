# Two commands on a fresh machine:  make demo  |  make test
# Both create .venv and install what they need, idempotently (a stamp file per pyproject hash).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# DeepSpeed: no ahead-of-time op builds; its JIT ops are cached inside the venv.
export DS_BUILD_OPS := 0
export TORCH_EXTENSIONS_DIR := $(abspath $(VENV))/torch_extensions
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
STAMP_HASH := $(shell cat pyproject.toml | sha256sum | cut -c1-12)
BASE_STAMP := $(VENV)/.installed-base-$(STAMP_HASH)
TEST_STAMP := $(VENV)/.installed-test-$(STAMP_HASH)
DEMO_DIR ?= demo-out

.PHONY: demo test lint install install-test bench clean mutate

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel

# torch first, pinned, so nothing can pull a CUDA build of it.
$(BASE_STAMP): pyproject.toml | $(PY)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[demo]"
	touch $@

$(TEST_STAMP): $(BASE_STAMP)
	$(PIP) install -q -e ".[test]"
	touch $@

install: $(BASE_STAMP)
install-test: $(TEST_STAMP)

demo: $(BASE_STAMP)
	$(PY) examples/copy_demo_clips.py $(DEMO_DIR)/videos
	$(VENV)/bin/cleverward score-dir $(DEMO_DIR)/videos --prompts examples/prompts.jsonl \
		--out $(DEMO_DIR)/scores.jsonl --overwrite --summary-json $(DEMO_DIR)/summary.json

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .

test: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -m "not gpu" --durations=15

# Mutation testing of the core modules (slow, not part of test): tests/RESULTS_mutation.md.
# One module: make mutate MUTATE_ARGS="--only engine.sharding"
mutate: $(TEST_STAMP)
	$(PY) -m tests.mutation.mutate $(MUTATE_ARGS)

bench: $(BASE_STAMP)
	$(VENV)/bin/cleverward bench --quick

clean:
	rm -rf $(VENV) $(DEMO_DIR) build dist *.egg-info
