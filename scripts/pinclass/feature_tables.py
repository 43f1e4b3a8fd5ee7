"""The feature files' format: one row per image, `image_id` and a fixed_size_list<float32> column
`features` (docs/methods.md, "Feature extraction"), and the table operations on it that merge, fuse, join and
read features. Kept apart from pinclass.extraction, which runs the backbones, so that the rules that
only read or combine feature files import neither TensorFlow nor OpenVINO (tests/test_envs.py)."""

import numpy as np
import pandas as pd
import pyarrow as pa


def vector_column(matrix: np.ndarray) -> pa.FixedSizeListArray:
    """A (n, dim) matrix as a fixed_size_list<float32> column of n vectors."""
    flat = pa.array(np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1), type=pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])


def vector_matrix(table: pa.Table, name: str) -> np.ndarray:
    """The (n, dim) float32 matrix of a fixed_size_list column."""
    column = table.column(name).combine_chunks()
    return column.values.to_numpy(zero_copy_only=False).reshape(-1, column.type.list_size)


def features_table(image_ids, features: np.ndarray) -> pa.Table:
    """`image_id` and a fixed_size_list<float32> column `features` (docs/methods.md, "Feature extraction")."""
    return pa.table({"image_id": pa.array(list(image_ids), type=pa.string()), "features": vector_column(features)})


def features_matrix(table: pa.Table) -> np.ndarray:
    """The (n, dim) float32 matrix of a features table."""
    return vector_matrix(table, "features")


def merge_shards(sample_ids: pd.Series, shards: list[pa.Table]) -> pa.Table:
    """Join shard tables by image_id into sample order; any missing or extra id is an error."""
    table = pa.concat_tables(shards)
    ids = table.column("image_id").to_pylist()
    position = {image_id: i for i, image_id in enumerate(ids)}
    if len(position) != len(ids):
        raise ValueError("an image_id appears in more than one feature shard")
    wanted = list(sample_ids)
    missing = [i for i in wanted if i not in position]
    extra = set(position) - set(wanted)
    if missing or extra:
        raise ValueError(f"feature shards do not match the sample: {len(missing)} missing "
                         f"(e.g. {missing[:3]}), {len(extra)} extra (e.g. {sorted(extra)[:3]})")
    return table.take(pa.array([position[i] for i in wanted]))


def concat_features(sample_ids: pd.Series, tables: list[pa.Table]) -> pa.Table:
    """Feature tables of the same images side by side: one row per image, the vectors concatenated
    in the order given. Each table must list exactly the sample's ids in the sample's order."""
    wanted = list(sample_ids)
    for i, table in enumerate(tables):
        if table.column("image_id").to_pylist() != wanted:
            raise ValueError(f"feature table {i} does not list the sample's images in the sample's order")
    return features_table(wanted, np.concatenate([features_matrix(table) for table in tables], axis=1))
