"""Shared fixtures: small crawls and a way to run the real workflow under a timeout."""

import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# The CPU build `make setup` installs: tensorflow_cpu on Linux x86_64, the plain wheel elsewhere.
CPU_TENSORFLOW = "tensorflow-cpu" if sys.platform == "linux" and platform.machine() == "x86_64" else "tensorflow"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SMALL_CATEGORIES = ["animals", "art", "food_drink", "travel"]
pytest_plugins = ["worker_groups"]  # how the tests are shared between xdist workers
PAPER_BACKBONES = yaml.safe_load((REPO / "config.yaml").read_text())["backbones"]


def tiny_backbones(*names, input_size: int = 32, batch_size: int = 16, shards: dict | None = None) -> dict:
    """The paper backbones' config entries (all six when no name is given) at a tiny input size."""
    return {name: PAPER_BACKBONES[name] | {"input_size": input_size, "batch_size": batch_size,
                                           "shards": (shards or {}).get(name, 1)}
            for name in names or PAPER_BACKBONES}


def small_config(**overrides) -> dict:
    """The repository's config.yaml cut down to a few categories and tiny images."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(
        data={"root": "resources/demo_crawl", "manifest": None},
        categories=list(SMALL_CATEGORIES),
        demo={"images_per_category": 12, "seed": 3, "image_size": 48},
        clean={"min_size": 32, "max_pixels": 20_000_000, "shards": 2},
        sample={"per_category": 10, "test_fraction": 0.2, "folds": 3, "seed": 11, "allow_fewer": False},
        weights="random",
    )
    config.update(overrides)
    return config


def run_snakemake(workdir: Path, config: dict, *args, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile in `workdir` with `config`; always under a timeout."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return subprocess.run(snakemake_command(workdir, *args), capture_output=True, text=True, timeout=timeout)


def planned_jobs(workdir, config, *args) -> dict:
    """Rule → number of jobs a dry run would execute."""
    result = run_snakemake(workdir, config, "-n", "--cores", "2", *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    if "Nothing to be done" in result.stdout + result.stderr:
        return {}
    stats = result.stdout.split("Job stats:")[1].split("\n\n")[0]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", stats, flags=re.M))
    jobs.pop("total")
    return {rule: int(n) for rule, n in jobs.items()}


def snakemake_command(workdir: Path, *args) -> list[str]:
    """The command line; --configfile comes last because it takes several values."""
    return [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args,
            "--configfile", str(workdir / "config.yaml")]


@pytest.fixture
def snakemake_run():
    return run_snakemake
