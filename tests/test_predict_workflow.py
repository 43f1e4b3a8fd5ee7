"""Prediction sets run by the workflow: a second labelled crawl (another seed) with the best cell, an
unlabelled folder with an ensemble; the saved models reproduce every cell; reruns stay exact."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import SMALL_CATEGORIES, planned_jobs, run_snakemake, small_config, tiny_backbones
from pinclass.demo_crawl import make_demo_crawl

CLASSIFIERS = {"knn": {"grid": {"n_neighbors": [1, 3]}}, "lsvm": {"grid": {"C": [0.1, 1.0]}},
               "nn": {"grid": {"batch_size": [8]}, "hidden_units": 16, "max_epochs": 4, "patience": 2}}
ENSEMBLES = {"vote": ["efficientnetv2_b0/knn", "convnext_tiny/lsvm"]}
CELLS = [f"{b}/{c}" for b in ("efficientnetv2_b0", "convnext_tiny") for c in CLASSIFIERS] + ["vote/ensemble"]


def predict_config(crawl, sets, **overrides):
    settings = dict(data={"root": str(crawl), "manifest": None},
                    backbones=tiny_backbones("efficientnetv2_b0", "convnext_tiny"), classifiers=CLASSIFIERS,
                    ensembles=ENSEMBLES, uncertainty={"n_boot": 100, "seed": 0, "level": 0.95}, predict=sets)
    return small_config(**(settings | overrides))


@pytest.fixture(scope="module")
def predicted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("predict")
    crawl, new_crawl, folder = workdir / "crawl", workdir / "new_crawl", workdir / "folder"
    make_demo_crawl(crawl, SMALL_CATEGORIES, ["none", "other"], images_per_category=12, seed=3, size=48)
    make_demo_crawl(new_crawl, SMALL_CATEGORIES, ["none", "other"], images_per_category=6, seed=4, size=48)
    # an unlabelled folder: images at the top and in a subfolder, a broken one, a stray text file
    images = sorted(new_crawl.glob("user_0[1-3]/*-board/*/*.jpg"))[:6]  # user_00 holds the hostile files
    (folder / "trip").mkdir(parents=True)
    for i, image in enumerate(images):
        shutil.copyfile(image, folder / ("trip" if i % 2 else ".") / f"photo_{i}.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "readme.txt").write_text("notes")
    sets = {"new_crawl": {"root": str(new_crawl), "model": "best"},
            "folder": {"images": str(folder), "model": "vote/ensemble", "top": 2}}
    config = predict_config(crawl, sets)
    result = run_snakemake(workdir, config, "--cores", "2", timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return workdir, crawl, config


def test_the_labelled_crawl_is_predicted_with_the_best_cell_by_cv(predicted):
    workdir, _, _ = predicted
    scores = {cell: json.loads((workdir / f"results/scores/{cell}.json").read_text()) for cell in CELLS[:-1]}
    cv = {cell: s["cv"]["results"][s["cv"]["best_index"]]["mean_macro_f1"] for cell, s in scores.items()}
    best = json.loads((workdir / "results/models/best.json").read_text())
    assert best["cell"] == max(cv, key=cv.get) and best["candidates"] == pytest.approx(cv)
    summary = (workdir / "results/predict/new_crawl/summary.md").read_text()
    assert f"Model `{best['cell']}`, chosen as the best cell by cross-validation macro F1" in summary


def set_outputs(predicted, name):
    """A prediction set's folder, pins, boards and rejections."""
    folder = predicted[0] / "results/predict" / name
    return folder, *(pd.read_parquet(folder / f"{table}.parquet") for table in ("pins", "boards", "rejected"))


def test_the_labelled_crawl_reports_pins_boards_rejections_and_agreement(predicted):
    folder, pins, boards, rejected = set_outputs(predicted, "new_crawl")
    clean_summary = json.loads((folder / "clean_summary.json").read_text())
    assert len(pins) + len(rejected) == clean_summary["files_found"]
    # the crawl's hostile files are rejected with the main crawl's reasons; unknown categories are not
    assert {"unreadable", "too_small", "too_large", "duplicate"} <= set(rejected["reason"])
    assert "unknown_category" not in set(rejected["reason"]) and "excluded_category" not in set(rejected["reason"])
    assert pins["category"].isin(["none", "other"]).any()  # boards of excluded categories are predicted too
    assert list(pins.columns[-6:]) == ["category_1", "probability_1", "category_2", "probability_2", "category_3",
                                       "probability_3"]
    assert (pins["probability_1"] >= pins["probability_2"]).all()
    labelled = boards[boards["known_category"]]
    assert len(labelled) >= len(SMALL_CATEGORIES)
    assert labelled["agrees"].notna().all() and boards.loc[~boards["known_category"], "agrees"].isna().all()
    np.testing.assert_array_equal(labelled["agrees"].to_numpy(bool),
                                  (labelled["predicted"] == labelled["category"]).to_numpy())
    assert (boards["pins"].sum() == len(pins)) and (boards["probability"] >= boards["runner_up_probability"]).all()
    agree = int(labelled["agrees"].sum())
    summary = (folder / "summary.md").read_text()
    assert f"| boards (mean probability of their pins) | {agree} | {len(labelled)} |" in summary


def test_an_unlabelled_folder_is_predicted_with_an_ensemble(predicted):
    folder, pins, boards, rejected = set_outputs(predicted, "folder")
    assert len(pins) == 6 and pins["category"].isna().all()
    assert list(rejected["path"]) == ["broken.jpg"]
    assert sorted(boards["board"]) == [".", "trip"] and boards["agrees"].isna().all()
    assert list(pins.columns[-4:]) == ["category_1", "probability_1", "category_2", "probability_2"]
    assert "Model `vote/ensemble`" in (folder / "summary.md").read_text()


def test_every_saved_model_reproduces_its_cells_test_predictions_in_a_fresh_process(predicted):
    workdir, _, _ = predicted
    script = (
        "import sys, json, numpy as np, pandas as pd, pyarrow.parquet as pq\n"
        "from pinclass.feature_tables import features_matrix\n"
        "from pinclass.saved_models import load_model\n"
        "workdir, cell = sys.argv[1], sys.argv[2]\n"
        "model = load_model(f'{workdir}/results/models/{cell}')\n"
        "ids = pq.read_table(f'{workdir}/results/predictions/{cell}.parquet').column('image_id').to_pylist()\n"
        "features = {}\n"
        "for backbone in model.backbones:\n"
        "    table = pq.read_table(f'{workdir}/results/features/{backbone}.parquet')\n"
        "    position = pd.Index(table.column('image_id').to_pylist()).get_indexer(ids)\n"
        "    features[backbone] = features_matrix(table)[position]\n"
        "predicted, probabilities = model.predict(features)\n"
        "np.save(f'{workdir}/reproduced.npy', np.column_stack([predicted, probabilities]))\n")
    for cell in CELLS:
        done = subprocess.run([sys.executable, "-c", script, str(workdir), cell], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        reproduced = np.load(workdir / "reproduced.npy")
        table = pq.read_table(workdir / f"results/predictions/{cell}.parquet")
        probabilities = np.stack(table.column("probabilities").to_pylist())
        np.testing.assert_array_equal(reproduced[:, 0], table.column("predicted").to_numpy(), err_msg=cell)
        np.testing.assert_allclose(reproduced[:, 1:], probabilities, atol=1e-6, rtol=0, err_msg=cell)


def test_nothing_changed_nothing_to_do(predicted):
    workdir, _, config = predicted
    assert planned_jobs(workdir, config) == {}


def test_a_new_prediction_set_runs_only_its_own_jobs(predicted, tmp_path):
    workdir, _, config = predicted
    more = tmp_path / "more"
    more.mkdir()
    for i, image in enumerate(sorted((workdir / "crawl").glob("user_0[45]/*/*/*.png"))[:3]):
        shutil.copyfile(image, more / f"{i}.png")
    extended = config | {"predict": config["predict"] | {"more": {"images": str(more), "model": "convnext_tiny/nn"}}}
    assert planned_jobs(workdir, extended) == {"predict_ingest": 1, "predict_clean_shard": 1, "predict_clean": 1,
                                               "predict_extract_gpu": 1, "predict_merge_features": 1, "predict": 1,
                                               "all": 1}


def test_a_changed_model_reruns_its_predictions(predicted):
    workdir, crawl, config = predicted
    classifiers = json.loads(json.dumps(CLASSIFIERS))
    classifiers["lsvm"]["grid"]["C"] = [0.1, 1.0, 10.0]
    jobs = planned_jobs(workdir, predict_config(crawl, config["predict"], classifiers=classifiers))
    # the LSVM cells, the vote holding one, the choice of the best cell, and both sets' predictions
    assert {rule: jobs.get(rule) for rule in ("classify", "ensemble", "best_model", "predict")} == {
        "classify": 2, "ensemble": 1, "best_model": 1, "predict": 2}
    assert not {"predict_ingest", "predict_clean", "predict_extract", "predict_extract_gpu"} & set(jobs)
