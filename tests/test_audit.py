"""The audit (scripts/audit.py, pinclass.audit) on a real workflow run: it passes as made, and fails,
naming the file, after each kind of tampering."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import REPO, run_snakemake, small_config, tiny_backbones

from pinclass.atomic import write_json
from pinclass.audit import audit, main
from pinclass.uncertainty import bootstrap_ci

BACKBONE, CLASSIFIER = "efficientnetv2_b0", "knn"
SAMPLE = "results/manifest/sample.parquet"
FEATURES = f"results/features/{BACKBONE}.parquet"
SCORES = f"results/scores/{BACKBONE}/{CLASSIFIER}.json"
PREDICTIONS = f"results/predictions/{BACKBONE}/{CLASSIFIER}.parquet"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """One real run of the workflow up to the table: random weights, tiny images, KNN and a one-point
    linear SVM (aggregate's pairwise comparison needs two cells)."""
    workdir = tmp_path_factory.mktemp("audit_run")
    config = small_config(backbones=tiny_backbones(BACKBONE, batch_size=8),
                          classifiers={CLASSIFIER: {"grid": {"n_neighbors": [1, 3]}}, "lsvm": {"grid": {"C": [1]}}},
                          ensembles={"both": [f"{BACKBONE}/{CLASSIFIER}", f"{BACKBONE}/lsvm"]})
    result = run_snakemake(workdir, config, "--cores", "2", "results/table.csv", timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


@pytest.fixture
def copy(finished_run, tmp_path) -> Path:
    """A private copy of the finished run to tamper with (the data root is relative, so it moves along)."""
    target = tmp_path / "run"
    shutil.copytree(finished_run, target, ignore=shutil.ignore_patterns(".snakemake"))
    return target


def rewrite_parquet(path: Path, change) -> None:
    """Rewrite a Parquet file through `change(DataFrame) -> DataFrame`, keeping its key-value metadata."""
    table = pq.read_table(path)
    frame = change(table.to_pandas())
    new = type(table).from_pandas(frame, preserve_index=False)
    pq.write_table(new.replace_schema_metadata(table.schema.metadata), path)


def problems_naming(report: dict, *words: str) -> list[str]:
    return [line for line in report["problems"] if all(word in line for word in words)]


def assert_fails_with(report: dict, *words: str) -> None:
    assert not report["ok"]
    assert problems_naming(report, *words), f"no problem naming {words} in {report['problems']}"


def test_a_fresh_run_passes(finished_run):
    report = audit(finished_run)
    assert report["ok"], report["problems"]
    assert report["problems"] == [] and all(check["ok"] for check in report["checks"])
    assert {c["check"] for c in report["checks"]} >= {"inputs", "images", "metrics", "predictions", "features",
                                                      "manifest", "table"}
    n_sample = len(pd.read_parquet(finished_run / SAMPLE))
    assert report["summary"]["images_rehashed"] == n_sample
    assert report["summary"]["scores"] == 3 and report["summary"]["features"] == 1  # knn, lsvm, the ensemble
    clean = audit(finished_run, rehash_images="clean")
    assert clean["ok"] and clean["summary"]["images_rehashed"] > n_sample
    assert audit(finished_run, rehash_images="none")["summary"]["images_rehashed"] == 0


def test_an_altered_input_image_is_named(copy):
    row = pd.read_parquet(copy / SAMPLE).iloc[3]
    image = copy / "resources/demo_crawl" / row["path"]
    image.write_bytes(image.read_bytes() + b"\0")
    report = audit(copy)
    assert_fails_with(report, f"resources/demo_crawl/{row['path']}", row["image_id"], "sha256", SAMPLE)
    assert [c["file"] for c in report["checks"] if not c["ok"]] == [SAMPLE]
    assert audit(copy, rehash_images="none")["ok"]  # the image check alone saw it


def test_an_altered_prediction_is_named(copy):
    labels = json.loads((copy / SCORES).read_text())["labels"]

    def flip(frame):
        frame.loc[0, "predicted"] = (frame.loc[0, "predicted"] + 1) % len(labels)
        return frame

    rewrite_parquet(copy / PREDICTIONS, flip)
    report = audit(copy)
    assert_fails_with(report, SCORES, f"({BACKBONE}, {CLASSIFIER})", "confusion_matrix", PREDICTIONS)
    assert_fails_with(report, SCORES, "macro_f1", "recomputed from", PREDICTIONS)


def test_a_dropped_features_row_is_named(copy):
    table = pq.read_table(copy / FEATURES)  # kept in Arrow: the fixed_size_list column stays one
    pq.write_table(table.take([i for i in range(table.num_rows) if i != 5]), copy / FEATURES)
    report = audit(copy)
    assert_fails_with(report, FEATURES, "features do not match the sample", "1 sample image(s) without features")
    # the score made from the features no longer matches its recorded input hash
    assert_fails_with(report, SCORES, f"input features {FEATURES}", "sha256")


def test_an_edited_score_json_is_named(copy):
    score = json.loads((copy / SCORES).read_text())
    recorded = score["macro_f1"]
    score["macro_f1"] = recorded + 0.01
    write_json(score, copy / SCORES)
    report = audit(copy)
    assert_fails_with(report, SCORES, f"macro_f1 {score['macro_f1']!r} != {recorded!r} recomputed from "
                                      f"{PREDICTIONS}")
    assert_fails_with(report, "results/table.csv", f"({BACKBONE}, {CLASSIFIER})", SCORES)


def test_a_table_that_hides_random_weights_or_holds_a_comment_line_is_named(copy):
    table = pd.read_csv(copy / "results/table.csv")
    assert set(table["weights"]) == {"random"}  # a plain read: the first line is the header
    table.loc[0, "weights"] = "imagenet"
    table.to_csv(copy / "results/table.csv", index=False)
    assert_fails_with(audit(copy), "results/table.csv", f"row {table.loc[0, 'backbone']} says weights 'imagenet'",
                      "'random'")
    text = (copy / "results/table.csv").read_text()
    (copy / "results/table.csv").write_text("# Features from RANDOM weights\n" + text.replace("imagenet", "random"))
    assert_fails_with(audit(copy), "results/table.csv", "columns")


def test_a_dropped_sample_row_is_named(copy):
    sample = pd.read_parquet(copy / SAMPLE)
    dropped = sample[sample["split"] == "test"].iloc[0]["image_id"]
    rewrite_parquet(copy / SAMPLE, lambda frame: frame[frame["image_id"] != dropped])
    report = audit(copy)
    assert_fails_with(report, FEATURES, f"input sample {SAMPLE}", "sha256")
    assert_fails_with(report, FEATURES, "features do not match the sample", "1 feature row(s) not in the sample",
                      dropped)
    assert_fails_with(report, PREDICTIONS, f"against the test rows of {SAMPLE}", "different test images", dropped)


def test_features_in_another_order_are_named(copy):
    table = pq.read_table(copy / FEATURES)
    pq.write_table(table.take(list(range(1, table.num_rows)) + [0]).replace_schema_metadata(table.schema.metadata),
                   copy / FEATURES)
    assert_fails_with(audit(copy), FEATURES, "the sample's image ids in another order (first at row 0)")


def test_files_of_a_backbone_removed_from_the_config_are_left_alone(copy):
    """After a backbone leaves the config, its old features, scores and predictions stay on disk
    while the table no longer names it: the audit checks the cells the table names."""
    for kind, suffix in (("scores", ".json"), ("predictions", ".parquet")):
        (copy / f"results/{kind}/convnext_tiny").mkdir()
        for name in (CLASSIFIER, "lsvm"):
            shutil.copy(copy / f"results/{kind}/{BACKBONE}/{name}{suffix}",
                        copy / f"results/{kind}/convnext_tiny/{name}{suffix}")
    shutil.copy(copy / FEATURES, copy / "results/features/convnext_tiny.parquet")  # names itself b0: stale
    report = audit(copy)
    assert report["ok"], report["problems"]
    assert not any("convnext_tiny" in check["file"] for check in report["checks"])
    assert report["not_in_table"] == ["results/features/convnext_tiny.parquet",
                                      "results/predictions/convnext_tiny/knn.parquet",
                                      "results/predictions/convnext_tiny/lsvm.parquet",
                                      "results/scores/convnext_tiny/knn.json", "results/scores/convnext_tiny/lsvm.json"]


def test_a_bootstrap_interval_is_recomputed(copy):
    score = json.loads((copy / SCORES).read_text())
    predictions = pd.read_parquet(copy / PREDICTIONS).sort_values("image_id")
    score["macro_f1_ci"] = bootstrap_ci(predictions["label"], predictions["predicted"], len(score["labels"]),
                                        n_boot=200, seed=5)
    write_json(score, copy / SCORES)
    assert audit(copy, rehash_images="none")["ok"]
    score["macro_f1_ci"]["high"] += 0.01
    write_json(score, copy / SCORES)
    report = audit(copy, rehash_images="none")
    assert_fails_with(report, SCORES, "macro_f1_ci.high", "recomputed from", PREDICTIONS, "n_boot 200, seed 5")


def test_the_command_line_exits_1_names_the_problem_and_writes_the_report(copy):
    script = str(REPO / "scripts" / "audit.py")
    passed = subprocess.run([sys.executable, script, str(copy)], capture_output=True, text=True, timeout=120)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert json.loads((copy / "results/audit.json").read_text())["ok"] is True

    row = pd.read_parquet(copy / SAMPLE).iloc[0]
    (copy / "resources/demo_crawl" / row["path"]).write_bytes(b"not the image")
    failed = subprocess.run([sys.executable, script, str(copy), "--out", "results/audit_after.json"],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert f"resources/demo_crawl/{row['path']}: image {row['image_id']} has sha256" in failed.stdout
    report = json.loads((copy / "results/audit_after.json").read_text())
    assert report["ok"] is False and any(row["path"] in line for line in report["problems"])
    # the report of the earlier, passing audit is not an output that the audit itself checks
    assert main([str(copy), "--images", "none", "--out", str(copy / "none.json")]) == 0


def test_snakemake_audit_target_passes_then_fails_loudly(finished_run, tmp_path):
    """`snakemake results/audit.json`: the workflow's own audit rule, on a copy of the finished run."""
    run = tmp_path / "run"
    shutil.copytree(finished_run, run, symlinks=True)
    config = yaml.safe_load((run / "config.yaml").read_text())
    passed = run_snakemake(run, config, "--cores", "1", "results/audit.json")
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    assert json.loads((run / "results/audit.json").read_text())["ok"] is True

    write_json(json.loads((run / SCORES).read_text()) | {"accuracy": 0.0}, run / SCORES)
    failed = run_snakemake(run, config, "--cores", "1", "results/audit.json")
    assert failed.returncode != 0
    assert f"{SCORES}: cell ({BACKBONE}, {CLASSIFIER}): accuracy 0.0 !=" in (run / "logs/audit/audit.log").read_text()


def test_two_runs_give_identical_results_but_for_timings(finished_run, tmp_path):
    config = yaml.safe_load((finished_run / "config.yaml").read_text())
    second = tmp_path / "second"
    result = run_snakemake(second, config, "--cores", "2", "results/table.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    made = [p for p in sorted((second / "results").rglob("*")) if p.is_file()]
    assert len(made) > 15
    for path in made:
        rel = path.relative_to(second)
        first = finished_run / rel
        if rel.parts[1] == "scores":
            a, b = (json.loads(p.read_text()) for p in (first, path))
            del a["timings"], b["timings"]  # the one run-specific part
            assert a == b, rel
        else:
            assert first.read_bytes() == path.read_bytes(), rel


def test_an_ensemble_is_audited_like_any_cell(copy):
    assert audit(copy)["ok"]
    ensemble_scores = "results/scores/both/ensemble.json"
    score = json.loads((copy / ensemble_scores).read_text())
    assert score["members"] == [f"{BACKBONE}/{CLASSIFIER}", f"{BACKBONE}/lsvm"]
    score["accuracy"] += 0.01
    write_json(score, copy / ensemble_scores)
    assert_fails_with(audit(copy), ensemble_scores, "(both, ensemble)", "accuracy", "results/predictions/both/")
