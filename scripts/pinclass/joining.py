"""Features joined to the sample by image_id — never by position."""

import numpy as np
import pandas as pd
import pyarrow as pa

from pinclass.feature_tables import features_matrix


class JoinError(ValueError):
    pass


def features_for_sample(sample: pd.DataFrame, features: pa.Table, label_names: list[str]) -> np.ndarray:
    """The feature rows in the sample's order; a missing, extra or repeated id stops with a message."""
    ids = features.column("image_id").to_pylist()
    position = pd.Index(ids)
    if not position.is_unique:
        repeated = position[position.duplicated()].unique()[:3].tolist()
        raise JoinError(f"features file repeats image ids, e.g. {repeated}")
    wanted = pd.Index(sample["image_id"])
    missing, extra = wanted.difference(position), position.difference(wanted)
    if len(missing) or len(extra):
        raise JoinError(f"features do not match the sample: {len(missing)} sample image(s) without features "
                        f"(e.g. {missing[:3].tolist()}), {len(extra)} feature row(s) not in the sample "
                        f"(e.g. {extra[:3].tolist()})")
    names = np.asarray(label_names, dtype=object)[sample["label"].to_numpy()]
    if (names != sample["category"].to_numpy(dtype=object)).any():
        raise JoinError("sample labels do not follow the config's category order; rerun the sample step")
    return features_matrix(features)[position.get_indexer(wanted)]
