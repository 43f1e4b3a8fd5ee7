# Set-up and the two everyday commands. Everything installs into .venv from the pinned requirements:
# requirements.txt (CPU TensorFlow, the default) or, with GPU=1, requirements-gpu.txt (CUDA build).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
GPU ?=
FLAVOUR := $(if $(GPU),gpu,cpu)
OTHER := $(if $(GPU),cpu,gpu)
REQUIREMENTS := $(if $(GPU),requirements-gpu.txt,requirements.txt)
OTHER_TENSORFLOW := $(if $(GPU),tensorflow_cpu,tensorflow)
STAMP := $(VENV)/.installed-$(FLAVOUR)

.PHONY: setup demo test lint

# The CPU and GPU builds of TensorFlow install the same files: the other one goes first. Each target
# installs the flavour it is called with: after `make GPU=1 setup`, say `make GPU=1 test` (or demo).
$(STAMP): $(REQUIREMENTS) requirements-common.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip uninstall --quiet --yes $(OTHER_TENSORFLOW) 2>/dev/null || true
	$(BIN)/pip install --quiet -r $(REQUIREMENTS)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation --editable .
	rm -f $(VENV)/.installed-$(OTHER)
	touch $@

setup: $(STAMP)

# The whole workflow on the generated demo crawl (random weights, small input size).
demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile demo/config.yaml
	cat results/table.md

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules/
