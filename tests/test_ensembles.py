"""The soft vote behind `ensembles`: probabilities averaged per test image, matched by image_id."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pinclass.ensembles import soft_vote
from pinclass.feature_tables import vector_column


def cell(ids, labels, probabilities):
    probabilities = np.asarray(probabilities, dtype=np.float32)
    frame = pd.DataFrame({"image_id": ids, "label": labels, "predicted": probabilities.argmax(axis=1),
                          "unit": [f"board-{i}" for i in ids]})
    return pa.Table.from_pandas(frame, preserve_index=False).append_column("probabilities",
                                                                          vector_column(probabilities))


def test_the_vote_averages_probabilities_of_the_same_images_in_any_row_order():
    a = cell(["x", "y", "z"], [0, 1, 2], [[0.6, 0.4, 0], [0.5, 0.5, 0], [0.1, 0.1, 0.8]])
    b = cell(["z", "x", "y"], [2, 0, 1], [[0.7, 0.1, 0.2], [0.2, 0.8, 0], [0.1, 0.9, 0]])  # another order
    votes, probabilities = soft_vote([a, b])
    np.testing.assert_allclose(probabilities, [[0.4, 0.6, 0], [0.3, 0.7, 0], [0.4, 0.1, 0.5]], atol=1e-6)
    assert list(votes["image_id"]) == ["x", "y", "z"] and list(votes["label"]) == [0, 1, 2]
    assert list(votes["predicted"]) == [1, 1, 2]  # neither cell alone predicted x as 1 and z as 2
    assert list(votes["unit"]) == ["board-x", "board-y", "board-z"]  # the unit the intervals resample


def test_cells_of_different_images_or_labels_are_refused():
    a = cell(["x", "y"], [0, 1], [[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="different test images"):
        soft_vote([a, cell(["x", "w"], [0, 1], [[1, 0], [0, 1]])])
    with pytest.raises(ValueError, match="true labels differ"):
        soft_vote([a, cell(["x", "y"], [0, 0], [[1, 0], [0, 1]])])
