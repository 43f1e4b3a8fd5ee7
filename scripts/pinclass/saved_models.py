"""A cell's refit model on disk: `model.json` (what it is, how it was made, and the estimators'
plain state) and `arrays.npz` (their numeric arrays), in one folder that needs nothing else.

Why not pickle, joblib or skops: loading a pickle runs code the file names, and skops would still
need our own estimators trusted one by one and the Keras network handled apart; every model here is
a few arrays and plain settings, which JSON and NumPy's .npy format hold exactly and any tool can
read. `load_model` reads the arrays with allow_pickle=False (a file carrying an object array —
a pickle — is refused), checks the arrays file against the sha256 model.json records, and builds
only the estimator types `estimator_state.TYPES` lists.

An ensemble's folder holds its members whole: their descriptions in its model.json, their arrays
in its arrays.npz under the prefix m<i>.
"""

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pinclass.atomic import replace_atomically
from pinclass.estimator_state import StateError, export_pipeline, restore_pipeline
from pinclass.probabilities import class_scores, softmax
from pinclass.provenance import sha256_file

FORMAT = "pinclass-model"
FORMAT_VERSION = 1
MODEL_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"


class ModelError(RuntimeError):
    """A model folder that is missing, damaged, refused, or does not fit the features given."""


def _write_arrays(path: Path, arrays: dict) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    replace_atomically(path, write)


def _write_json(path: Path, document: dict) -> None:
    replace_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n"))


def save_model(folder, pipeline, description: dict) -> dict:
    """Write a fitted pipeline and its `description` (labels, features, calibration, scores,
    provenance: see `cell_description`) to folder; returns model.json's document."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays: dict = {}
    steps = export_pipeline(pipeline, arrays)
    _write_arrays(folder / ARRAYS_FILE, arrays)
    document = {"format": FORMAT, "format_version": FORMAT_VERSION, **description, "kind": "cell",
                "pipeline": steps, "arrays": {"file": ARRAYS_FILE, "sha256": sha256_file(folder / ARRAYS_FILE)}}
    _write_json(folder / MODEL_FILE, document)
    return document


def save_ensemble(folder, members: list, description: dict) -> dict:
    """An ensemble's folder from its members' folders, copied in (the folder stands alone)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays, documents = {}, []
    for i, member in enumerate(members):
        document, member_arrays = _read(Path(member))
        arrays |= {f"m{i}.{key}": value for key, value in member_arrays.items()}
        documents.append({key: value for key, value in document.items() if key not in ("format", "format_version", "arrays")})
    _write_arrays(folder / ARRAYS_FILE, arrays)
    document = {"format": FORMAT, "format_version": FORMAT_VERSION, **description, "kind": "ensemble",
                "members": documents,
                "arrays": {"file": ARRAYS_FILE, "sha256": sha256_file(folder / ARRAYS_FILE)}}
    _write_json(folder / MODEL_FILE, document)
    return document


def _read(folder: Path):
    """(model.json's document, {key: array}), every check of the folder made."""
    model_file, arrays_file = folder / MODEL_FILE, folder / ARRAYS_FILE
    for path in (model_file, arrays_file):
        if not path.is_file():
            raise ModelError(f"model folder {folder}: {path.name} is missing (a model is {MODEL_FILE} + {ARRAYS_FILE})")
    try:
        document = json.loads(model_file.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise ModelError(f"{model_file} is not valid JSON ({error}): the file is damaged") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ModelError(f"{model_file} is not a {FORMAT} file")
    if document.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{model_file}: format version {document.get('format_version')!r}; this code reads "
                         f"{FORMAT_VERSION}")
    recorded, actual = document.get("arrays", {}).get("sha256"), sha256_file(arrays_file)
    if recorded != actual:
        raise ModelError(f"{arrays_file} is damaged or not this model's: sha256 {actual}, {MODEL_FILE} records "
                         f"{recorded}")
    try:
        with np.load(arrays_file, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except ValueError as error:  # NumPy's refusal of an object array: that is a pickle
        raise ModelError(f"{arrays_file} holds Python objects (a pickle: {error}); refused — a model holds "
                         "numbers only") from None
    except (OSError, zipfile.BadZipFile) as error:
        raise ModelError(f"{arrays_file} cannot be read: {error}") from None
    return document, arrays


@dataclass
class SavedModel:
    """A loaded model: `predict(features)` from the feature matrices of its backbones."""

    document: dict
    members: list  # [(document, pipeline)]: one for a cell, the members for an ensemble

    @property
    def labels(self) -> list[str]:
        return list(self.document["labels"])

    @property
    def backbones(self) -> list[str]:
        """The extracted backbones whose features the model needs, in first-use order."""
        names = [entry["backbone"] for document, _ in self.members for entry in document["features"]["extraction"]]
        return list(dict.fromkeys(names))

    @property
    def extraction(self) -> dict:
        """Each needed backbone's extraction entry (model, input size, preprocess, weights record)."""
        return {entry["backbone"]: entry for document, _ in self.members
                for entry in document["features"]["extraction"]}

    def predict(self, features: dict) -> tuple[np.ndarray, np.ndarray]:
        """(predicted label index per row, (n, n_labels) probabilities) from {backbone: (n, width)
        matrix}. A cell predicts as its classifier does; an ensemble's vote is its members' mean
        probability (ties to the lowest label), as in the ensemble rule."""
        rows = {len(matrix) for matrix in features.values()}
        if rows == {0}:  # every image rejected: nothing to predict (estimators refuse empty input)
            return np.zeros(0, np.int64), np.zeros((0, len(self.labels)))
        results = [_apply(document, pipeline, features) for document, pipeline in self.members]
        if self.document["kind"] == "cell":
            return results[0]
        probabilities = np.mean([p for _, p in results], axis=0)
        return probabilities.argmax(axis=1), probabilities


def _apply(document: dict, pipeline, features: dict) -> tuple[np.ndarray, np.ndarray]:
    parts = []
    for entry in document["features"]["extraction"]:
        if entry["backbone"] not in features:
            raise ModelError(f"the model needs features of backbone {entry['backbone']}")
        parts.append(np.asarray(features[entry["backbone"]], dtype=np.float32))
    X = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
    width = document["features"]["width"]
    if X.shape[1] != width:
        raise ModelError(f"model {document['cell']} was built for features of width {width}; the features given "
                         f"have width {X.shape[1]} (another backbone, input size or model version?)")
    n_labels = len(document["labels"])
    predicted = np.asarray(pipeline.predict(X)).astype(np.int64)
    scores, kind = class_scores(pipeline, X, n_labels)
    calibration = document["probabilities"]
    if kind == "margin":
        scores = softmax(scores, calibration["temperature"])
    return predicted, scores


def load_model(folder) -> SavedModel:
    """Load and check a model folder; ModelError says what is wrong with it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"{folder} is not a model folder")
    document, arrays = _read(folder)
    try:
        if document["kind"] == "cell":
            members = [(document, restore_pipeline(document["pipeline"], arrays))]
        else:
            members = [(member, restore_pipeline(member["pipeline"], arrays, f"m{i}."))
                       for i, member in enumerate(document["members"])]
    except (StateError, KeyError, TypeError, ValueError) as error:
        raise ModelError(f"{folder / MODEL_FILE} does not describe a model this code can build: "
                         f"{type(error).__name__}: {error}") from None
    return SavedModel(document, members)


def cell_description(backbone: str, result: dict, extraction: list, provenance: dict) -> dict:
    """model.json's description of a cell from its scores (`grid_search.evaluate`'s result), the
    extraction entries of its features (`extraction.extraction_entry`, one per fused member) and the
    cell's provenance record."""
    best = result["cv"]["results"][result["cv"]["best_index"]]
    return {"cell": f"{backbone}/{result['classifier']}", "backbone": backbone, "classifier": result["classifier"],
            "labels": result["labels"],
            "features": {"width": sum(entry["width"] for entry in extraction), "extraction": extraction},
            "best_params": result["best_params"], "refit_params": result["refit_params"],
            "settings": result["settings"], "seed": result["seed"], "probabilities": result["probabilities"],
            "scores": {"cv_macro_f1": best["mean_macro_f1"], "test_macro_f1": result["macro_f1"]},
            "provenance": provenance}


def ensemble_description(ensemble: str, result: dict, provenance: dict) -> dict:
    """model.json's description of an ensemble (its members' come with their folders)."""
    return {"cell": f"{ensemble}/ensemble", "backbone": ensemble, "classifier": "ensemble",
            "labels": result["labels"], "probabilities": {"source": "mean of the members' probabilities"},
            "scores": {"test_macro_f1": result["macro_f1"]}, "provenance": provenance}
