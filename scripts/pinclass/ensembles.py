"""Ensembles: a soft vote of cells on the same test images."""

import numpy as np
import pandas as pd
import pyarrow as pa

from pinclass.feature_tables import vector_matrix
from pinclass.uncertainty import align_predictions


def soft_vote(tables: list[pa.Table]) -> tuple[pd.DataFrame, np.ndarray]:
    """Average the cells' class probabilities per test image (the first table's row order); the
    vote is the most probable label (ties to the lowest). Returns (image_id, label, predicted, unit) and the
    averaged probabilities. The cells must cover the same test images with the same true labels."""
    frames = [table.select(["image_id", "label", "predicted", "unit"]).to_pandas() for table in tables]
    first = frames[0]
    total = np.zeros((len(first), vector_matrix(tables[0], "probabilities").shape[1]))
    for frame, table in zip(frames, tables):
        align_predictions(first, frame)  # raises unless the same images with the same labels
        position = pd.Index(frame["image_id"]).get_indexer(first["image_id"])
        total += vector_matrix(table, "probabilities")[position]
    probabilities = total / len(tables)
    votes = first[["image_id", "label", "unit"]].assign(predicted=probabilities.argmax(axis=1).astype("int32"))
    return votes[["image_id", "label", "predicted", "unit"]].astype(
        {"image_id": "string", "label": "int32", "unit": "string"}), probabilities
