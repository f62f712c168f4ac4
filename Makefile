# The README's commands. Every target is idempotent: a second `make demo` re-installs nothing,
# rebuilds nothing and re-assembles no model; it only re-runs the experiment (answers and judge
# verdicts then come from the DuckDB cache).
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CACHE ?= $(HOME)/.cache/ragbench
LLAMA_CPP_VERSION := 0.3.36
# llama.cpp built for this CPU's instruction sets, named explicitly and never AMX: the default
# native build enables Intel AMX kernels when the CPU advertises them, and those crash (SIGSEGV) in
# VMs whose kernel does not grant AMX state. AVX-512 (with VNNI, VBMI, BF16) when the CPU has all of
# it: prompt evaluation ~1.5x and decoding ~1.1x faster than AVX2 here (docs/judging.md); else AVX2.
LLAMA_BASE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
AVX512_NEEDS := avx512f avx512cd avx512vl avx512dq avx512bw avx512vbmi avx512_vnni avx512_bf16 avx_vnni
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
LLAMA_VARIANT ?= $(if $(filter $(words $(AVX512_NEEDS)),$(words $(filter $(AVX512_NEEDS),$(CPU_FLAGS)))),avx512,avx2)
LLAMA_CMAKE_ARGS.avx2 := $(LLAMA_BASE_ARGS) -DGGML_AVX512=OFF
LLAMA_CMAKE_ARGS.avx512 := $(LLAMA_BASE_ARGS) -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON \
	-DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON
LLAMA_CMAKE_ARGS := $(LLAMA_CMAKE_ARGS.$(LLAMA_VARIANT))
WHEELS := $(CACHE)/wheels/llama-cpp-python-$(LLAMA_CPP_VERSION)-$(LLAMA_VARIANT)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | sha256sum | cut -c1-12)
DB ?= results/ragbench.duckdb
EXPERIMENT ?= experiments/quickstart.yaml

.PHONY: install models demo notebook chromium docs test example-notebook lint clean-results

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# llama-cpp-python has no binary wheel: build it once per machine into a cache outside the clone.
$(WHEELS)/.built: | $(BIN)/python
	mkdir -p $(WHEELS)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel --no-deps --no-cache-dir \
		"llama-cpp-python==$(LLAMA_CPP_VERSION)" -w $(WHEELS)
	touch $@

# The same llama-cpp-python version may be installed from another variant's wheel (an older venv):
# the second pip puts this machine's in place.
$(STAMP): pyproject.toml Makefile $(WHEELS)/.built | $(BIN)/python
	$(BIN)/pip install --find-links $(WHEELS) --prefer-binary -e '.[dev,local,ray]'
	$(BIN)/pip install --no-deps --force-reinstall $(WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl
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

# The reference manual (docs/, mkdocs.yml) as a site under results/site/, never committed. Strict:
# a broken link or anchor, or a page missing from the nav, fails. NO_MKDOCS_2_WARNING silences
# mkdocs-material's end-of-life notice printed on every build (docs/status.md).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir results/site

test: models chromium docs
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
