"""Comparing a rerun with the original (pinclass.compare, `scripts/audit.py --compare`): two real
demo-sized runs of one config on other thread counts agree within tolerance, and a changed
prediction, split or weights hash is a real difference that names the file and the cell."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import REPO, run_snakemake, tiny_backbones

from pinclass.compare import TOLERANCES, compare, parse_tolerance

BACKBONES = ("efficientnetv2_b0", "convnext_tiny")
CLASSIFIERS = {"knn": {"grid": {"n_neighbors": [1, 3]}}, "lsvm": {"grid": {"C": [0.1, 1]}},
               "nn": {"grid": {"batch_size": [16]}, "hidden_units": 32, "max_epochs": 8, "patience": 2}}
SAMPLE = "results/manifest/sample.parquet"
N_CLASSES = 32


def merged(base: dict, extra: dict) -> dict:
    """`extra` over `base`, dict by dict, as Snakemake lays a --configfile over the Snakefile's."""
    return {key: merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
            for key, value in {**base, **extra}.items()}


def demo_sized_config() -> dict:
    """`make demo`'s config — its crawl, 32 categories, 768 images sampled, 5 folds — with two
    backbones at a tiny input size and short grids."""
    config = merged(yaml.safe_load((REPO / "config.yaml").read_text()),
                    yaml.safe_load((REPO / "demo/config.yaml").read_text()))
    assert len(config["categories"]) == N_CLASSES and config["sample"]["per_category"] == 24
    return config | {"backbones": tiny_backbones(*BACKBONES, batch_size=32), "classifiers": CLASSIFIERS}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """The original on 2 threads per job, the rerun of the same config on 1."""
    config = demo_sized_config()
    folders = []
    for cores in ("2", "1"):
        workdir = tmp_path_factory.mktemp(f"cores{cores}")
        result = run_snakemake(workdir, config, "--cores", cores, "results/table.csv", timeout=1200)
        assert result.returncode == 0, result.stderr[-4000:]
        folders.append(workdir)
    return tuple(folders)


def private_copy(run: Path, target: Path) -> Path:
    shutil.copytree(run, target, ignore=shutil.ignore_patterns(".snakemake"))
    return target


@pytest.fixture
def rerun(runs, tmp_path) -> Path:
    """A private copy of the rerun to change."""
    return private_copy(runs[1], tmp_path / "rerun")


def status(report: dict, file: str) -> str:
    return next(entry["status"] for entry in report["files"] if entry["file"] == file)


def cell(report: dict, name: str) -> dict:
    return next(entry for entry in report["cells"] if entry["cell"] == name)


def rewrite_parquet(path: Path, change, metadata=None) -> None:
    table = pq.read_table(path)
    new = type(table).from_pandas(change(table.to_pandas()), preserve_index=False)
    pq.write_table(new.replace_schema_metadata(metadata or table.schema.metadata), path)


def test_a_rerun_on_other_thread_counts_agrees(runs):
    """Measured: the manifests are byte-identical; TensorFlow's features differ in the last bits
    with its thread count (within the tolerance); KNN on them still gives the same numbers; the
    NN's probabilities move (its F1 within the tolerance, every difference reported per cell)."""
    report = compare(*runs)
    assert report["ok"], report["problems"]
    for name in ("raw", "ingest_rejected", "clean", "rejected", "sample"):
        assert status(report, f"results/manifest/{name}.parquet") == "identical"
    for features in report["features"]:
        assert features["weights_same"] and features["max_relative_difference"] <= TOLERANCES["features"]
        assert status(report, f"results/features/{features['backbone']}.parquet") in ("identical", "same values")
    cells = {entry["cell"]: entry for entry in report["cells"]}
    assert sorted(cells) == sorted(f"{b}/{c}" for b in BACKBONES for c in CLASSIFIERS)
    for entry in cells.values():
        assert entry["status"] in ("identical", "same values") and entry["same_choice"]
        assert entry["delta_in_half_widths"] <= TOLERANCES["f1"]
        assert entry["same_predictions"] >= TOLERANCES["predictions"]
    assert report["ranking"]["status"] in ("identical", "same values")
    provenance = report["provenance"]
    assert provenance["code_sha256"]["same"] and provenance["machine"]["same"]
    assert provenance["machine"]["original"]["model"]
    threads = provenance["classify_device"]  # shown beside the cells: KNN's exact ties depend on it
    assert (threads["original"]["threads"], threads["rerun"]["threads"], threads["same"]) == (2, 1, False)
    page = (runs[1] / "results/compare.md")
    assert not page.exists()  # compare() only reports; the command line writes


@pytest.fixture
def copy(runs, tmp_path) -> Path:
    """A private copy of the original: every input of every cell identical in value."""
    return private_copy(runs[0], tmp_path / "copy")


def flip(rows: int):
    """Rewrite the first `rows` test predictions to another class."""
    def change(frame):
        frame.loc[:rows - 1, "predicted"] = (frame.loc[:rows - 1, "predicted"] + 1) % N_CLASSES
        return frame
    return change


def test_a_changed_prediction_of_an_exact_cell_is_a_real_difference_naming_file_and_cell(runs, copy):
    """KNN is exact: on identical features and sample, one changed prediction is different."""
    predictions = "results/predictions/efficientnetv2_b0/knn.parquet"
    rewrite_parquet(copy / predictions, flip(1))
    report = compare(runs[0], copy)
    assert not report["ok"]
    assert cell(report, "efficientnetv2_b0/knn")["status"] == "different"
    assert status(report, predictions) == "different"
    assert any("efficientnetv2_b0/knn" in line and predictions in line and "is exact" in line
               for line in report["problems"])
    assert cell(report, "convnext_tiny/knn")["status"] == "identical"


def test_where_features_differ_the_predictions_alike_decide(runs, rerun):
    """On features within tolerance but not identical (the rerun on 1 thread), with no classifier
    held exact: one changed prediction of 154 stays within tolerance; a fifth changed is beyond it."""
    predictions = "results/predictions/efficientnetv2_b0/knn.parquet"
    loose = {"exact": ()}
    assert compare(runs[0], rerun, loose)["ok"]
    original = pd.read_parquet(rerun / predictions)
    rewrite_parquet(rerun / predictions, flip(1))
    entry = cell(compare(runs[0], rerun, loose), "efficientnetv2_b0/knn")
    assert entry["status"] == "same values" and entry["same_predictions"] < 1.0
    rewrite_parquet(rerun / predictions, lambda _: flip(len(original) // 5)(original))
    report = compare(runs[0], rerun, loose)
    entry = cell(report, "efficientnetv2_b0/knn")
    assert not report["ok"] and entry["status"] == "different" and status(report, predictions) == "different"
    assert any("predicted alike, below 90%" in reason for reason in entry["reasons"])


def test_a_different_split_is_a_real_difference(runs, rerun):
    def move(frame):
        train, test = frame.index[frame["split"] == "train"][0], frame.index[frame["split"] == "test"][0]
        for column in ("split", "fold"):
            frame.loc[train, column], frame.loc[test, column] = frame.loc[test, column], frame.loc[train, column]
        return frame

    rewrite_parquet(rerun / SAMPLE, move)
    report = compare(runs[0], rerun)
    assert not report["ok"] and status(report, SAMPLE) == "different"
    assert any(line.startswith(SAMPLE) and "split of 2 row(s)" in line and "fold of 2 row(s)" in line
               for line in report["problems"])


def test_other_weights_are_a_real_difference_naming_the_features_and_their_cells(runs, rerun):
    features = rerun / "results/features/convnext_tiny.parquet"
    metadata = dict(pq.read_schema(features).metadata)
    metadata[b"weights"], metadata[b"weights_sha256"] = b"imagenet", b"0" * 64
    rewrite_parquet(features, lambda frame: frame, metadata)
    report = compare(runs[0], rerun)
    assert not report["ok"]
    assert status(report, "results/features/convnext_tiny.parquet") == "different"
    assert any(line.startswith("results/features/convnext_tiny.parquet: other weights") for line in report["problems"])
    for classifier in CLASSIFIERS:
        entry = cell(report, f"convnext_tiny/{classifier}")
        assert entry["status"] == "different" and "other weights" in " ".join(entry["reasons"])
    assert all(cell(report, f"efficientnetv2_b0/{c}")["status"] != "different" for c in CLASSIFIERS)


def test_a_repeats_split_and_cells_are_compared_as_the_main_ones(copy, rerun):
    original = copy
    for run in (original, rerun):  # a repeat laid out as the workflow lays it out: the main split's files
        repeat = run / "results/repeats/2"
        repeat.mkdir(parents=True)
        shutil.copy(run / SAMPLE, repeat / "sample.parquet")
        for stage in ("scores", "predictions"):
            shutil.copytree(run / "results" / stage, repeat / stage)
    assert compare(original, rerun)["ok"]
    rewrite_parquet(rerun / "results/repeats/2/predictions/convnext_tiny/lsvm.parquet",
                    lambda frame: frame.assign(predicted=(frame["predicted"] + 1) % N_CLASSES))
    rewrite_parquet(rerun / "results/repeats/2/sample.parquet", lambda frame: frame.iloc[1:])
    report = compare(original, rerun)
    assert status(report, "results/repeats/2/sample.parquet") == "different"
    assert cell(report, "repeats/2/convnext_tiny/lsvm")["status"] == "different"
    assert cell(report, "convnext_tiny/lsvm")["status"] != "different"
    assert report["ranking"]["status"] != "different"  # the table is the main split's


def test_a_file_of_one_run_only_is_a_difference(runs, rerun):
    (rerun / "results/scores/efficientnetv2_b0/nn.json").unlink()
    report = compare(runs[0], rerun)
    assert not report["ok"]
    assert "results/scores/efficientnetv2_b0/nn.json: only in the original" in report["problems"]


def test_the_command_line_writes_both_reports_and_exits_by_the_tolerances(runs, rerun):
    command = [sys.executable, str(REPO / "scripts/audit.py"), str(rerun), "--compare", str(runs[0] / "results")]
    passed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "comparison passed" in passed.stderr
    page = (rerun / "results/compare.md").read_text()
    assert page.startswith("# Comparison: PASSED") and "| efficientnetv2_b0/knn |" in page
    assert json.loads((rerun / "results/compare.json").read_text())["ok"] is True

    strict = subprocess.run(command + ["--tolerance", "predictions=1.01"], capture_output=True, text=True,
                            timeout=120)  # no cell can have more than all its predictions alike
    nn_identical = all(entry["status"] == "identical" for entry in compare(*runs)["cells"])
    assert strict.returncode == (0 if nn_identical else 1), strict.stdout + strict.stderr

    bad = subprocess.run(command + ["--tolerance", "speed=3"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "NAME one of" in bad.stderr


def test_tolerances_parse_and_refuse_nonsense():
    assert parse_tolerance("f1=0.25") == ("f1", 0.25)
    assert parse_tolerance("exact=knn, lsvm,") == ("exact", ("knn", "lsvm"))
    for text in ("f1", "f1=-1", "f1=nan", "speed=1", "f1=fast"):
        with pytest.raises(ValueError):
            parse_tolerance(text)
