"""Features are joined to labels by image_id; a missing, extra or reordered row is caught or undone."""

import numpy as np
import pandas as pd
import pytest

from pinclass.feature_tables import features_table
from pinclass.joining import JoinError, features_for_sample

NAMES = ["animals", "art"]


def sample():
    return pd.DataFrame({"image_id": ["a", "b", "c"], "label": [0, 1, 0],
                         "category": ["animals", "art", "animals"]})


def features(ids):
    return features_table(ids, np.array([[ord(i)] * 2 for i in ids], np.float32))


def test_rows_are_matched_by_id_whatever_their_order():
    matrix = features_for_sample(sample(), features(["c", "a", "b"]), NAMES)
    np.testing.assert_array_equal(matrix[:, 0], [ord("a"), ord("b"), ord("c")])


@pytest.mark.parametrize("ids, message", [
    (["a", "b"], "1 sample image"),
    (["a", "b", "c", "d"], "1 feature row"),
    (["a", "b", "b", "c"], "repeats image ids"),
])
def test_missing_extra_or_repeated_ids_stop_the_job(ids, message):
    with pytest.raises(JoinError, match=message):
        features_for_sample(sample(), features(ids), NAMES)


def test_labels_out_of_step_with_the_config_are_refused():
    with pytest.raises(JoinError, match="category order"):
        features_for_sample(sample(), features(["a", "b", "c"]), ["art", "animals"])
