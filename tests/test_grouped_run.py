"""A whole run with `sample.group_by: board` and repeats: the split keeps boards together, the
intervals resample boards, the NN validates on whole boards, the comparison across repeats is the
corrected t-test, and the audit passes."""

import json

import pandas as pd

from conftest import SMALL_CATEGORIES, run_snakemake, small_config, tiny_backbones
from pinclass.audit import audit
from pinclass.demo_crawl import make_demo_crawl
from pinclass.ingest import ingest_crawl


def test_a_run_grouped_by_board_resamples_boards_and_passes_its_audit(tmp_path):
    crawl = tmp_path / "crawl"
    make_demo_crawl(crawl, SMALL_CATEGORIES, [], images_per_category=24, seed=5, size=48)
    raw, _, _ = ingest_crawl(crawl)
    # paths relative to the manifest's folder: image ids, and so the sample, do not depend on tmp_path
    manifest = pd.DataFrame({"path": [f"crawl/{path}" for path in raw["path"]], "category": raw["category"]})
    manifest = manifest[manifest["category"].isin(SMALL_CATEGORIES)].reset_index(drop=True)
    manifest["user"] = [f"u{i % 3}" for i in range(len(manifest))]
    manifest["board"] = [f"{c}-{i % 6}" for i, c in enumerate(manifest["category"])]  # 6 boards per category
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    config = small_config(data={"root": None, "manifest": str(tmp_path / "manifest.csv")},
                          backbones=tiny_backbones("efficientnetv2_b0", batch_size=16),
                          classifiers={"knn": {"grid": {"n_neighbors": [1, 3]}},
                                       "nn": {"grid": {"batch_size": [16]}, "max_epochs": 3}}, repeats=2)
    config["sample"] |= {"per_category": 18, "group_by": "board"}
    result = run_snakemake(tmp_path / "run", config, "--cores", "2", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    results = tmp_path / "run" / "results"
    sample = pd.read_parquet(results / "manifest/sample.parquet")
    assert (sample.groupby(["user", "board"])["split"].nunique() == 1).all()
    predictions = pd.read_parquet(results / "predictions/efficientnetv2_b0/nn.parquet")
    test = sample.set_index("image_id").loc[predictions["image_id"]]
    assert list(predictions["unit"]) == list(test["user"] + "/" + test["board"])
    ci = json.loads((results / "scores/efficientnetv2_b0/nn.json").read_text())["macro_f1_ci"]
    assert ci["unit"] == "board" and ci["low"] < ci["high"]
    assert "test boards resampled" in (results / "pairwise.md").read_text()
    assert "corrected resampled t-test" in (results / "pairwise.md").read_text()
    assert audit(tmp_path / "run")["ok"]
