"""The near-copy check: nearest training image per test image, and scores without near-copies."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score
from sklearn.metrics.pairwise import cosine_similarity

from pinclass.leakage import cell_without_near_copies, clear_of_near_copies, leakage_markdown, nearest_table, nearest_train

NAMES = ["a", "b", "c"]


def sample_and_features(seed=0, n=90, dim=8):
    rng = np.random.default_rng(seed)
    sample = pd.DataFrame({"image_id": [f"img{i:03d}" for i in range(n)], "label": np.arange(n) % 3,
                           "split": np.where(np.arange(n) < 60, "train", "test")})
    return sample, rng.normal(0, 1, (n, dim)).astype(np.float32)


def test_the_nearest_training_image_is_the_most_cosine_similar_one():
    sample, features = sample_and_features()
    split = sample["split"].to_numpy()
    nearest, similarity = nearest_train(features, split)
    reference = cosine_similarity(features[split == "test"], features[split == "train"])
    np.testing.assert_array_equal(nearest, reference.argmax(axis=1))
    np.testing.assert_allclose(similarity, reference.max(axis=1), atol=1e-5)


def test_a_test_image_copied_into_train_shows_similarity_one_and_leaves_the_recomputed_score():
    sample, features = sample_and_features()
    features[75] = 3.0 * features[10]  # test image 75 is a (rescaled) copy of training image 10
    table = nearest_table(sample, features)
    copy = table.set_index("image_id").loc["img075"]
    assert copy["nearest_train"] == "img010" and copy["similarity"] == pytest.approx(1.0, abs=1e-6)
    assert (table.drop(index=15)["similarity"] < 0.95).all()  # no other near-copy in random rows

    test = sample[sample["split"] == "test"]
    predicted = test["label"].to_numpy().copy()
    predicted[:10] = (predicted[:10] + 1) % 3  # some errors, none on the copy
    predictions = pd.DataFrame({"image_id": test["image_id"], "label": test["label"], "predicted": predicted})
    cell = cell_without_near_copies(predictions, table, 0.95, NAMES)
    kept = predictions["image_id"] != "img075"
    assert cell["excluded"] == 1 and cell["n_test"] == 30
    assert cell["macro_f1"] == pytest.approx(f1_score(test["label"], predicted, average="macro"))
    assert cell["macro_f1_without"] == pytest.approx(
        f1_score(test["label"][kept], predicted[kept.to_numpy()], average="macro"))
    assert cell["macro_f1_without"] < cell["macro_f1"]

    text = leakage_markdown({"b0": table}, {("b0", "knn"): cell}, 0.95)
    assert "| b0 | 30 |" in text and "| 1 (3.3%) |" in text
    assert f"| b0 | knn | {cell['macro_f1']:.3f} | {cell['macro_f1_without']:.3f} (3 of 3 classes) |" in text
    assert "| 1 of 30 |" in text


def test_predictions_of_other_images_are_refused():
    sample, features = sample_and_features()
    table = nearest_table(sample, features)
    predictions = pd.DataFrame({"image_id": ["elsewhere"], "label": [0], "predicted": [0]})
    with pytest.raises(ValueError, match="nearest-neighbour table"):
        cell_without_near_copies(predictions, table, 0.95, NAMES)


def test_a_class_that_lost_all_its_test_images_is_left_out_of_the_average_not_scored_zero():
    # a perfect classifier; class 2's only test images are near-copies
    predictions = pd.DataFrame({"image_id": ["a", "b", "c", "d", "e", "f"], "label": [0, 0, 1, 1, 2, 2],
                                "predicted": [0, 0, 1, 1, 2, 2]})
    nearest = pd.DataFrame({"image_id": list("abcdef"), "similarity": [0.1, 0.2, 0.3, 0.99, 0.97, 0.98]})
    cell = cell_without_near_copies(predictions, nearest, 0.95, NAMES)
    assert cell["macro_f1"] == 1.0 and cell["excluded"] == 3
    assert (cell["macro_f1_without"], cell["classes_without"]) == (1.0, 2)  # not 0.667


def test_the_common_test_set_is_the_images_clear_under_every_backbone_so_rows_compare():
    b0 = pd.DataFrame({"image_id": list("abcd"), "similarity": [0.99, 0.1, 0.2, 0.3]})
    b1 = pd.DataFrame({"image_id": list("abcd"), "similarity": [0.1, 0.2, 0.96, 0.3]})
    common = clear_of_near_copies({"b0": b0, "b1": b1}, 0.95)
    assert common == {"b", "d"}
    predictions = pd.DataFrame({"image_id": list("abcd"), "label": [0, 1, 2, 1], "predicted": [0, 1, 0, 0]})
    cells = {(name, "knn"): cell_without_near_copies(predictions, table, 0.95, NAMES, common)
             for name, table in (("b0", b0), ("b1", b1))}
    for cell in cells.values():  # b: right, d: wrong, both class 1 → F1 of class 1 only
        assert cell["n_common"] == 2 and cell["classes_common"] == 1
        assert cell["macro_f1_common"] == pytest.approx(f1_score([1, 1], [1, 0], labels=[1], average="macro"))
    assert cells["b0", "knn"]["macro_f1_without"] != cells["b1", "knn"]["macro_f1_without"]  # per backbone, differ
    text = leakage_markdown({"b0": b0, "b1": b1}, cells, 0.95)
    assert "no backbone (2 images)" in text and "| 0.667 (1 of 3 classes) |" in text
