"""The data stages through Snakemake itself, and the workflow's lint and format checks."""

import pandas as pd

from conftest import REPO, SMALL_CATEGORIES, SNAKEMAKE, small_config
import subprocess


def test_ingest_clean_sample_through_snakemake(tmp_path, snakemake_run):
    result = snakemake_run(tmp_path, small_config(), "--cores", "2", "results/manifest/sample.parquet")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    manifest = tmp_path / "results" / "manifest"
    clean = pd.read_parquet(manifest / "clean.parquet")
    rejected = pd.read_parquet(manifest / "rejected.parquet")
    raw = pd.read_parquet(manifest / "raw.parquet")
    ingest_rejected = pd.read_parquet(manifest / "ingest_rejected.parquet")
    assert set(clean["image_id"]).isdisjoint(rejected["image_id"])
    assert len(clean) + len(rejected) == len(raw) + len(ingest_rejected)
    sample = pd.read_parquet(manifest / "sample.parquet")
    assert sample["category"].value_counts().to_dict() == {c: 10 for c in SMALL_CATEGORIES}
    assert set(sample["image_id"]) <= set(clean["image_id"])
    assert not list(manifest.glob("clean_shards/*.parquet")), "shard files are temporary"


def test_snakemake_lint_is_clean():
    result = subprocess.run([str(SNAKEMAKE), "--lint", "-s", str(REPO / "Snakefile"), "--directory", str(REPO)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt_finds_nothing_to_change():
    snakefmt = SNAKEMAKE.parent / "snakefmt"
    result = subprocess.run([str(snakefmt), "--check", "Snakefile", "rules"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
