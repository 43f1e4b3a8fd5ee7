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
STAMP := $(VENV)/.installed-$(FLAVOUR)

.PHONY: setup demo test lint

# The CPU and GPU builds of TensorFlow install the same files: switching removes the other first.
$(STAMP): $(REQUIREMENTS) requirements-common.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	if [ -e $(VENV)/.installed-$(OTHER) ]; then $(BIN)/pip uninstall --quiet --yes tensorflow tensorflow_cpu; fi
	$(BIN)/pip install --quiet -r $(REQUIREMENTS)
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
