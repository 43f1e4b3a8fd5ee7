"""Sampling: counts, stratification, folds, and byte-identical determinism."""

import pandas as pd
import pytest

from pinclass.atomic import write_parquet
from pinclass.sampling import SampleError, draw_sample

CATEGORIES = ["animals", "art", "travel"]


def clean_table(counts: dict) -> pd.DataFrame:
    rows = [{"image_id": f"{c}-{i:04d}", "path": f"{c}/{i}.jpg", "category": c}
            for c, n in counts.items() for i in range(n)]
    return pd.DataFrame(rows).astype("string")


def draw(counts=None, **kw):
    args = dict(categories=CATEGORIES, per_category=20, test_fraction=0.2, folds=4, seed=5) | kw
    return draw_sample(clean_table(counts or {"animals": 50, "art": 31, "travel": 20, "none": 9}), **args)


def test_counts_split_and_folds_are_stratified():
    sample = draw()
    assert len(sample) == 60 and sample["image_id"].is_unique
    per = sample.groupby(["category", "split"]).size().unstack()
    assert (per["test"] == 4).all() and (per["train"] == 16).all()
    assert (sample.loc[sample["split"] == "test", "fold"] == -1).all()
    folds = sample[sample["split"] == "train"].groupby(["category", "fold"]).size().unstack()
    assert list(folds.columns) == [0, 1, 2, 3] and (folds == 4).all().all()
    assert dict(zip(sample["category"], sample["label"])) == {"animals": 0, "art": 1, "travel": 2}
    assert str(sample["label"].dtype) == "int32" and str(sample["fold"].dtype) == "int8"


def test_the_same_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path):
    paths = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        paths.append(tmp_path / f"{name}.parquet")
        write_parquet(draw(seed=seed), paths[-1])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_sample_does_not_depend_on_the_clean_tables_row_order():
    clean = clean_table({"animals": 50, "art": 31, "travel": 20})
    args = dict(categories=CATEGORIES, per_category=20, test_fraction=0.2, folds=4, seed=5)
    shuffled = clean.sample(frac=1, random_state=0)
    pd.testing.assert_frame_equal(draw_sample(clean, **args).reset_index(drop=True),
                                  draw_sample(shuffled, **args).reset_index(drop=True))


def test_a_short_category_stops_the_run_naming_it_and_its_count():
    with pytest.raises(SampleError, match=r"'travel' has 12 .*allow_fewer"):
        draw({"animals": 50, "art": 31, "travel": 12})


def test_allow_fewer_takes_all_of_a_short_category():
    sample = draw({"animals": 50, "art": 31, "travel": 12}, allow_fewer=True)
    assert sample["category"].value_counts().to_dict() == {"animals": 20, "art": 20, "travel": 12}
    travel = sample[sample["category"] == "travel"]
    assert (travel["split"] == "test").sum() == round(12 * 0.2)


def test_too_few_for_the_folds_is_a_clear_error():
    with pytest.raises(SampleError, match="'travel' has 3 images"):
        draw({"animals": 50, "art": 31, "travel": 3}, allow_fewer=True)
