# Set-up and the two everyday commands. Everything installs into .venv from the pinned requirements:
# requirements.txt (CPU TensorFlow, the default) or, with GPU=1, requirements-gpu.txt (CUDA build).
# Platforms: Linux x86_64 and aarch64 (glibc >= 2.28), macOS 12+ on Apple silicon; environment
# markers in the requirement files pick each one's TensorFlow wheel (tests/test_requirements.py).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Snakemake's cores for `make demo`: every core this machine lets us use (override: make CORES=4 demo).
CORES ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)
GPU ?=
FLAVOUR := $(if $(GPU),gpu,cpu)
OTHER := $(if $(GPU),cpu,gpu)
REQUIREMENTS := $(if $(GPU),requirements-gpu.txt,requirements.txt)
# The build of the other flavour, removed first. Only Linux x86_64 has two (tensorflow_cpu and the CUDA
# tensorflow); elsewhere requirements.txt installs plain tensorflow, the build GPU=1 would keep.
LINUX_X86_64 := $(filter Linux-x86_64,$(shell uname -s)-$(shell uname -m))
OTHER_TENSORFLOW := $(if $(GPU),tensorflow_cpu,$(if $(LINUX_X86_64),tensorflow))
STAMP := $(VENV)/.installed-$(FLAVOUR)

.PHONY: setup demo test lint doctor

# Refusals before pip, in words: TensorFlow 2.21 has no wheel for macOS on Intel, and the CUDA build
# (GPU=1) exists for Linux only. Asked of the venv's Python, as pip's environment markers are.
NO_INTEL_MAC := import platform, sys; sys.exit(sys.platform == "darwin" and platform.machine() == "x86_64" and \
	"TensorFlow 2.21 publishes no wheels for macOS on Intel (x86_64): use Linux or a Mac with Apple silicon \
	(and an arm64 Python there, not one running under Rosetta)")
GPU_LINUX_ONLY := import sys; sys.exit(sys.platform != "linux" and "GPU=1 installs the CUDA build of \
	TensorFlow (requirements-gpu.txt), which exists for Linux only: say make setup (the CPU build)")

# The CPU and GPU builds of TensorFlow install the same files: the other one goes first. Each target
# installs the flavour it is called with: after `make GPU=1 setup`, say `make GPU=1 test` (or demo).
$(STAMP): $(REQUIREMENTS) requirements-common.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c '$(NO_INTEL_MAC)'
	$(if $(GPU),@$(BIN)/python -c '$(GPU_LINUX_ONLY)')
	$(if $(OTHER_TENSORFLOW),$(BIN)/pip uninstall --quiet --yes $(OTHER_TENSORFLOW) 2>/dev/null || true)
	$(BIN)/pip install --quiet -r $(REQUIREMENTS)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation --editable .
	rm -f $(VENV)/.installed-$(OTHER)
	touch $@

setup: $(STAMP)

# The whole workflow on the generated demo crawl (random weights, small input size).
demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile demo/config.yaml
	cat results/table.md

# Two test workers (pytest-xdist), each module whole on one, SLURM first (tests/worker_groups.py).
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules/

# What TensorFlow sees here: build, devices (a 1 s matmul on each), driver, CPU features, OpenVINO,
# SLURM. With GPU=1 it exits non-zero, with the cause, unless a GPU works. On a cluster's GPU node:
# srun --gpus=1 .venv/bin/python -m pinclass.doctor --expect-gpu
doctor: $(STAMP)
	$(BIN)/python -m pinclass.doctor $(if $(GPU),--expect-gpu)
