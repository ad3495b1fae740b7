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

GPU_VENV ?= .venv-gpu
GPU_PYTHON ?= python3
GPU_BUNDLE ?= gpu-bundle

.PHONY: demo test lint install install-test install-gpu bench gpu-check gpu-bundle clean mutate

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel

# torch first, pinned, so nothing can pull a CUDA build of it.
$(BASE_STAMP): pyproject.toml | $(PY)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[demo,cpu]"
	touch $@

$(TEST_STAMP): $(BASE_STAMP)
	$(PIP) install -q -e ".[test,cpu]"
	touch $@

install: $(BASE_STAMP)
install-test: $(TEST_STAMP)

demo: $(BASE_STAMP)
	$(PY) examples/copy_demo_clips.py $(DEMO_DIR)/videos
	$(VENV)/bin/cleverward score-dir $(DEMO_DIR)/videos --prompts examples/prompts.jsonl \
		--out $(DEMO_DIR)/scores.jsonl --overwrite --summary-json $(DEMO_DIR)/summary.json

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .

# Two pytest-xdist workers: on the 2-core machine 224 s and 252 s against 321 s in one process.
test: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -m "not gpu" -n 2 --durations=15

# Mutation testing of the core modules (slow, not part of test): tests/RESULTS_mutation.md.
# One module: make mutate MUTATE_ARGS="--only engine.sharding"
mutate: $(TEST_STAMP)
	$(PY) -m tests.mutation.mutate $(MUTATE_ARGS)

bench: $(BASE_STAMP)
	$(VENV)/bin/cleverward bench --quick

# The GPU profile in its own venv (CUDA builds of torch, faiss, onnxruntime; TensorRT, DALI):
# never beside the CPU profile's faiss-cpu / onnxruntime.
install-gpu:
	$(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/python -m pip install -q --upgrade pip setuptools wheel
	$(GPU_VENV)/bin/python -m pip install -q -e ".[gpu,test]"

# Runs from the source tree with the machine's own python (no venv, no registry needed); on a
# machine without CUDA it says so and exits 0. Writes benchmarks/RESULTS_gpu.md.
gpu-check:
	$(GPU_PYTHON) benchmarks/gpu_check.py --bundle $(GPU_BUNDLE)

# What a bare GPU machine lacks, within 64 MiB: PyAV's cp312 manylinux wheel and the
# MobileNetV2 ONNX graph. git-ignored.
gpu-bundle: $(BASE_STAMP)
	mkdir -p $(GPU_BUNDLE)
	$(PIP) download -q --no-deps --only-binary=:all: --python-version 3.12 \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 av==18.1.0 -d $(GPU_BUNDLE)
	$(PY) -c "import shutil; from cleverward.engine.encoders.mobilenet import mobilenet_onnx_path as p; shutil.copy(p(), '$(GPU_BUNDLE)/mobilenetv2-7.onnx')"
	$(PY) benchmarks/gpu_score_dir.py --prepare $(GPU_BUNDLE)/bench_prompts.json
	du -sh $(GPU_BUNDLE)

clean:
	rm -rf $(VENV) $(DEMO_DIR) $(GPU_BUNDLE) build dist *.egg-info

# Headless Chromium for the report's browser test (tests/cli/test_report.py skips without it).
# Idempotent: installs Debian's package only when /usr/bin/chromium is missing (needs root).
.PHONY: browser
browser:
	@test -x /usr/bin/chromium || (apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)
