"""The whole DAG on a tiny crawl — all six backbones, three classifiers — and exact incremental reruns."""

import json
import os
import re
import shutil

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import f1_score

from conftest import SMALL_CATEGORIES, planned_jobs, run_snakemake, small_config, tiny_backbones
from pinclass.atomic import read_metadata
from pinclass.demo_crawl import make_demo_crawl
from pinclass.feature_tables import features_matrix

# The paper's six, a seventh added by config alone (a keras.applications model that wants its module's
# preprocess_input), and a fusion of two of them (no extraction of its own).
TINY_BACKBONES = tiny_backbones(shards={"convnext_tiny": 2}) | {
    "resnet50": {"model": "ResNet50", "preprocess": "resnet50", "input_size": 32, "width": 2048, "batch_size": 16},
    "fused": {"concat": ["convnext_base", "efficientnetv2_b3"]}}
BACKBONES = list(TINY_BACKBONES)
TINY_CLASSIFIERS = {
    "knn": {"grid": {"n_neighbors": [1, 3]}},
    "lsvm": {"grid": {"C": [0.1, 1.0]}},
    "nn": {"grid": {"batch_size": [8, 16]}, "hidden_units": 32, "max_epochs": 5, "patience": 2},
    "logreg": {"grid": {"C": [0.1, 1.0]}},  # beyond the paper, switched on by listing it
}


ENSEMBLES = {"vote": ["convnext_base/knn", "efficientnetv2_b3/lsvm", "fused/logreg"]}


def tiny_config(crawl, **overrides):
    settings = dict(data={"root": str(crawl), "manifest": None}, backbones=TINY_BACKBONES,
                    classifiers=TINY_CLASSIFIERS, ensembles=ENSEMBLES,
                    uncertainty={"n_boot": 200, "seed": 0, "level": 0.95})
    return small_config(**(settings | overrides))


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory):
    """One complete run on a crawl of the user's own (not the demo rule's), for the DAG and rerun tests."""
    workdir = tmp_path_factory.mktemp("dag")
    crawl = workdir / "crawl"
    make_demo_crawl(crawl, SMALL_CATEGORIES, ["none", "other"], images_per_category=12, seed=3, size=48)
    result = run_snakemake(workdir, tiny_config(crawl), "--cores", "2", timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return workdir, crawl


def test_the_whole_dag_ends_with_the_full_table(complete_run):
    workdir, _ = complete_run
    table = pd.read_csv(workdir / "results/table.csv")
    assert list(table["backbone"]) == BACKBONES + ["vote", "mean"] and len(BACKBONES) == 8
    assert list(table.columns) == ["backbone", "weights", "knn", "lsvm", "nn", "logreg", "ensemble", "mean"]
    assert set(table["weights"]) == {"random"}
    vote = table.set_index("backbone").loc["vote"]
    assert vote[["knn", "lsvm", "nn", "logreg"]].isna().all() and vote["ensemble"] == vote["mean"]
    assert table.drop(columns=["backbone", "weights"]).iloc[:len(BACKBONES), :4].notna().all().all()
    first_line = (workdir / "results/table.md").read_text().splitlines()[0]
    assert "RANDOM weights" in first_line
    for name in ("table.tex", "table.png", "paper_comparison.md", "pairwise.md", "pairwise.csv"):
        assert (workdir / "results" / name).stat().st_size > 0


def test_a_fusion_concatenates_its_members_features_row_by_row(complete_run):
    workdir, _ = complete_run
    features = {name: pq.read_table(workdir / f"results/features/{name}.parquet")
                for name in ("fused", "convnext_base", "efficientnetv2_b3")}
    np.testing.assert_array_equal(features_matrix(features["fused"]), np.hstack(
        [features_matrix(features["convnext_base"]), features_matrix(features["efficientnetv2_b3"])]))
    assert features["fused"].column("image_id").to_pylist() == features["convnext_base"].column("image_id").to_pylist()
    assert read_metadata(workdir / "results/features/fused.parquet")["dim"] == str(1024 + 1536)
    assert not (workdir / "logs/extract/fused").exists()


def test_an_ensemble_is_the_soft_vote_of_its_cells(complete_run):
    workdir, _ = complete_run
    cells = [pq.read_table(workdir / f"results/predictions/{cell}.parquet") for cell in ENSEMBLES["vote"]]
    mean = np.mean([features_matrix(t.select(["image_id", "label", "predicted", "probabilities"])
                                    .rename_columns(["image_id", "label", "predicted", "features"]))
                    for t in cells], axis=0)
    vote = pd.read_parquet(workdir / "results/predictions/vote/ensemble.parquet")
    assert list(vote["predicted"]) == list(mean.argmax(axis=1))
    score = json.loads((workdir / "results/scores/vote/ensemble.json").read_text())
    assert score["members"] == ENSEMBLES["vote"] and score["macro_f1"] == pytest.approx(
        f1_score(vote["label"], vote["predicted"], average="macro", labels=range(len(SMALL_CATEGORIES)),
                 zero_division=0), abs=1e-12)
    assert score["macro_f1_ci"]["low"] <= score["macro_f1"] <= score["macro_f1_ci"]["high"]
    for cell in ENSEMBLES["vote"]:  # every cell's probabilities say how they were made
        made = json.loads((workdir / f"results/scores/{cell}.json").read_text())["probabilities"]
        assert made["source"] == ("decision_function" if cell.endswith("lsvm") else "predict_proba")


def test_every_cell_is_recomputable_from_its_predictions(complete_run):
    workdir, _ = complete_run
    for backbone in BACKBONES:
        for classifier in TINY_CLASSIFIERS:
            score = json.loads((workdir / f"results/scores/{backbone}/{classifier}.json").read_text())
            predictions = pd.read_parquet(workdir / f"results/predictions/{backbone}/{classifier}.parquet")
            expected = f1_score(predictions["label"], predictions["predicted"], average="macro",
                                labels=range(len(SMALL_CATEGORIES)), zero_division=0)
            assert score["macro_f1"] == pytest.approx(expected, abs=1e-12)
            assert score["macro_f1_ci"]["low"] <= score["macro_f1"] <= score["macro_f1_ci"]["high"]
            assert score["provenance"]["weights"]["source"] == "random"
            assert score["device"]["kind"] == "cpu"


def downstream_of_sample(backbones=TINY_BACKBONES, classifiers=TINY_CLASSIFIERS, extract="extract_gpu"):
    """The jobs from extraction on; `extract`: the extraction rule's name, extract_gpu where the jobs ask
    for a GPU (the default config), extract where they ask for none (device cpu, the OpenVINO runtime)."""
    extracted = [b for b in backbones.values() if "concat" not in b]
    return {extract: sum(b.get("shards", 1) for b in extracted), "merge_features": len(extracted),
            "fuse_features": len(backbones) - len(extracted),
            "classify": len(backbones) * len(classifiers), "plots": 1,
            "ensemble": len(ENSEMBLES), "aggregate": 1, "nearest_train": len(backbones), "leakage": 1, "boards": 1, "summary": 1, "all": 1}


def test_nothing_changed_nothing_to_do(complete_run):
    workdir, crawl = complete_run
    assert planned_jobs(workdir, tiny_config(crawl)) == {}


@pytest.mark.parametrize("change", [{"grid": {"C": [0.1, 1.0, 10.0]}}, {"solver": "liblinear"}])
def test_a_new_lsvm_grid_or_solver_reruns_only_the_lsvm_jobs(complete_run, change):
    workdir, crawl = complete_run
    classifiers = json.loads(json.dumps(TINY_CLASSIFIERS))
    classifiers["lsvm"] |= change
    jobs = planned_jobs(workdir, tiny_config(crawl, classifiers=classifiers))
    # the vote holds an LSVM cell: it reruns too
    assert jobs == {"classify": len(BACKBONES), "plots": 1, "ensemble": 1, "aggregate": 1,
                    "leakage": 1, "boards": 1, "summary": 1, "all": 1}
    result = run_snakemake(workdir, tiny_config(crawl, classifiers=classifiers), "-n", "--cores", "2")
    assert set(re.findall(r"classifier=(\w+)", result.stdout)) == {"lsvm"}


def test_the_nn_on_a_gpu_reruns_only_the_nn_jobs_as_gpu_jobs(complete_run):
    workdir, crawl = complete_run
    classifiers = json.loads(json.dumps(TINY_CLASSIFIERS))
    classifiers["nn"]["device"] = "gpu"
    jobs = planned_jobs(workdir, tiny_config(crawl, classifiers=classifiers))
    assert jobs == {"classify_gpu": len(BACKBONES), "plots": 1, "aggregate": 1, "leakage": 1,
                    "boards": 1, "summary": 1, "all": 1}
    result = run_snakemake(workdir, tiny_config(crawl, classifiers=classifiers), "-n", "--cores", "2")
    assert set(re.findall(r"classifier=(\w+)", result.stdout)) == {"nn"}


@pytest.mark.parametrize("change", [{"seed": 12}, {"group_by": "board"}])
def test_a_new_sample_seed_or_grouping_reruns_sample_and_everything_after(complete_run, change):
    workdir, crawl = complete_run
    config = tiny_config(crawl)
    assert config["sample"]["seed"] != change.get("seed")
    config["sample"] |= change
    assert planned_jobs(workdir, config) == {"sample": 1, **downstream_of_sample()}


@pytest.mark.parametrize("change", [{"near_duplicates": "drop"}, {"near_duplicate_colour_distance": 100},
                                    {"near_duplicate_candidates": 32}, {"near_duplicate_similarity": 0.5}])
def test_dropping_near_duplicates_or_their_rule_reruns_cleaning_and_everything_after_but_not_ingest(complete_run,
                                                                                                     change):
    workdir, crawl = complete_run
    config = tiny_config(crawl)
    assert all(config["clean"].get(key) != value for key, value in change.items())
    config["clean"] = config["clean"] | change
    # the clean_shard jobs too: the merge needs their check tables, which are temporary
    assert planned_jobs(workdir, config) == {"clean_shard": 2, "clean": 1, "sample": 1, **downstream_of_sample()}


def test_more_repeats_split_and_classify_again_from_the_same_features(complete_run):
    workdir, crawl = complete_run
    config = tiny_config(crawl) | {"repeats": 3}
    cells = len(BACKBONES) * len(TINY_CLASSIFIERS)
    assert planned_jobs(workdir, config) == {"resplit": 2, "classify_repeat": 2 * cells, "aggregate": 1,
                                             "summary": 1, "all": 1}  # no ingest, clean, sample or extract


def test_run_shape_values_rerun_nothing(complete_run):
    """How often extraction saves a chunk and how many GPUs a workstation declares change no result."""
    workdir, crawl = complete_run
    config = tiny_config(crawl)
    config["extract"] = config.get("extract", {}) | {"chunk_size": 3}
    assert planned_jobs(workdir, config, "--resources", "gpu=2") == {}


def test_another_device_policy_reruns_extraction_and_everything_after(complete_run):
    workdir, crawl = complete_run
    config = tiny_config(crawl)
    config["extract"] = config.get("extract", {}) | {"device": "cpu"}
    assert planned_jobs(workdir, config) == downstream_of_sample(extract="extract")


def test_another_runtime_or_precision_reruns_extraction_and_everything_after(complete_run, tmp_path):
    workdir, crawl = complete_run
    openvino = tiny_config(crawl)
    openvino["extract"] = openvino.get("extract", {}) | {"runtime": "openvino"}
    assert planned_jobs(workdir, openvino) == downstream_of_sample(extract="extract")
    # precision alone: a copy marked current for OpenVINO f32 (bf16 is refused with TensorFlow)
    copy = tmp_path / "copy"
    shutil.copytree(workdir, copy, symlinks=True)
    touched = run_snakemake(copy, openvino, "--touch", "--cores", "2")
    assert touched.returncode == 0, touched.stdout[-3000:] + touched.stderr[-3000:]
    assert planned_jobs(copy, openvino) == {}
    openvino["extract"]["precision"] = "bf16"
    assert planned_jobs(copy, openvino) == downstream_of_sample(extract="extract")


def test_a_new_backbone_runs_its_extraction_its_classifiers_and_aggregation(complete_run, tmp_path):
    workdir, crawl = complete_run
    copy = tmp_path / "copy"
    shutil.copytree(workdir, copy, symlinks=True)
    for path in [copy / "results/features/convnext_small.parquet", *copy.glob("results/*/convnext_small/*")]:
        shutil.rmtree(path) if path.is_dir() else path.unlink()  # a cell's model is a folder
    jobs = planned_jobs(copy, tiny_config(crawl))
    n = len(TINY_CLASSIFIERS)
    assert jobs == {"extract_gpu": 1, "merge_features": 1, "classify": n, "plots": 1, "aggregate": 1,
                    "nearest_train": 1, "leakage": 1, "boards": 1, "summary": 1, "all": 1}


def test_a_changed_input_image_reruns_from_ingest_on(complete_run):
    workdir, crawl = complete_run
    image = next(crawl.rglob("*.png"))
    original, stat = image.read_bytes(), image.stat()
    try:
        image.write_bytes(original + b"\0")
        jobs = planned_jobs(workdir, tiny_config(crawl))
    finally:  # leave the crawl exactly as the complete run saw it
        image.write_bytes(original)
        os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert jobs == {"ingest": 1, "clean_shard": 2, "clean": 1, "sample": 1, **downstream_of_sample()}
    assert planned_jobs(workdir, tiny_config(crawl)) == {}


def test_the_report_builds_with_every_stage(complete_run):
    workdir, crawl = complete_run
    result = run_snakemake(workdir, tiny_config(crawl), "--report", str(workdir / "report.html"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = (workdir / "report.html").read_text()
    for text in ("1. Data", "3. Classifiers", "4. Results", "5. Reproducibility", "table.png",
                 "confusion.png", "per_class_f1.png", "paired-bootstrap"):
        assert text in html, text
