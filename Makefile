# Set-up and the two everyday commands. Everything installs into .venv from requirements.txt.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: demo test lint clean-demo

$(BIN)/snakemake: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# The whole workflow on the generated demo crawl (random weights, small input size).
demo: $(BIN)/snakemake
	$(BIN)/snakemake --cores $(CORES) --configfile demo/config.yaml
	cat results/table.md

test: $(BIN)/snakemake
	$(BIN)/python -m pytest

lint: $(BIN)/snakemake
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules/
