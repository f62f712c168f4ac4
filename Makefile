# The README's commands. Every target is idempotent: a second `make demo` re-installs nothing,
# rebuilds nothing and re-assembles no model; it only re-runs the experiment (answers and judge
# verdicts then come from the DuckDB cache).
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CACHE ?= $(HOME)/.cache/ragbench
LLAMA_CPP_VERSION := 0.3.36
# A portable AVX2 build of llama.cpp. The default native build enables Intel AMX kernels when the
# CPU advertises them, and those crash (SIGSEGV) in VMs whose kernel does not grant AMX state.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF
WHEELS := $(CACHE)/wheels/llama-cpp-python-$(LLAMA_CPP_VERSION)-avx2
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | sha256sum | cut -c1-12)
DB ?= results/ragbench.duckdb
EXPERIMENT ?= experiments/quickstart.yaml

.PHONY: install models demo notebook chromium test example-notebook lint clean-results

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# llama-cpp-python has no binary wheel: build it once per machine into a cache outside the clone.
$(WHEELS)/.built: | $(BIN)/python
	mkdir -p $(WHEELS)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel --no-deps --no-cache-dir \
		"llama-cpp-python==$(LLAMA_CPP_VERSION)" -w $(WHEELS)
	touch $@

$(STAMP): pyproject.toml Makefile $(WHEELS)/.built | $(BIN)/python
	$(BIN)/pip install --find-links $(WHEELS) --prefer-binary -e '.[dev,local]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

models: install
	$(BIN)/ragbench models

demo: models
	$(BIN)/ragbench run experiments/quickstart.yaml --db $(DB)

# The run notebook, executed headlessly; the executed copy goes to results/<experiment>/.
notebook: models
	$(BIN)/ragbench notebook run $(EXPERIMENT) --db $(DB)

# Debian's Chromium for the browser tests (tests/test_browser.py drives it with Playwright; the
# browser Playwright would download is not reachable offline). Installed only when missing and only
# as root (CI); elsewhere install it yourself (`sudo apt-get install chromium`) or those tests skip.
chromium:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
				--no-install-recommends chromium fonts-liberation fonts-dejavu-core; \
		else echo "chromium missing and not root: the browser tests will skip"; fi; }

test: models chromium
	$(BIN)/ruff check ragbench tests benchmarks
	$(BIN)/ruff format --check ragbench tests benchmarks
	$(BIN)/mypy ragbench
	$(BIN)/pytest

# Re-execute the nbval example after a change to what users see, then review the diff of its
# outputs like code (tests/test_nbval.py fails until the committed outputs match).
example-notebook: install
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.record_timing=False \
		notebooks/examples/smoke-example.ipynb

lint: install
	$(BIN)/ruff check ragbench tests benchmarks
	$(BIN)/ruff format --check ragbench tests benchmarks
	$(BIN)/mypy ragbench

clean-results:
	rm -rf results/* && touch results/.gitkeep
