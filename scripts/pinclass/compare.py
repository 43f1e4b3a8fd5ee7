"""Compare a rerun of the workflow with the original, stage by stage: the same, the same within what
the method can resolve, or different — and what about the two runs could explain it.

`compare(original, rerun, tolerances)` reads the results/ folders of two workdirs and returns the
report; `write_report` writes it as results/compare.json and results/compare.md of the rerun.

- files      every file under results/ of either run (the extraction's resume stores and the
             reports of earlier comparisons and audits left out): identical bytes, same values, or
             different; a file of one run only is different. The manifests and the samples (the
             repeats' too) are compared by content, every column of every row by image id — any
             difference there is real; the features by the largest relative difference per
             backbone and by their weights; the scores and predictions as cells; the table by its values and ranking; the models follow
             their cell. Pages and figures are derived from those values: when their bytes differ
             they are `derived`, which fails nothing by itself.
- features   per backbone: the same image ids, the same weights (name, sha256 or seed of every
             extracted backbone), and max |a − b| / max |a| per row, at most `features`.
- cells      per (backbone, classifier) of the main split, and of each repeated split
             (results/repeats/<r>/, named repeats/<r>/<backbone>/<classifier>): test macro F1 of
             both runs, Δ in units of the original's interval half-width (at most `f1`), the share
             of test images predicted alike (at least `predictions`), whether the chosen grid point
             is the same. A cell of an
             `exact` classifier must be identical when its features and the sample are identical in
             value (KNN and the LSVM are deterministic given their inputs); an ensemble must be
             when its members are.
- ranking    the best cell and the order of the row and column means of results/table.csv: the same,
             changed among cells that all agree within tolerance, or changed beyond.
- provenance code hash, git commit, library versions, the machine (CPU, its vector extensions),
             the extraction device and TensorFlow build of each run, side by side: the report says
             why two runs may differ; none of it fails the comparison.
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pinclass.atomic import read_metadata, write_json
from pinclass.feature_tables import features_matrix
from pinclass.provenance import read_provenance

RESULTS = "results"
OUT_JSON, OUT_MD = f"{RESULTS}/compare.json", f"{RESULTS}/compare.md"
# Measured (docs/reproducibility.md): one run against a rerun with other thread counts, and
# TensorFlow against OpenVINO features.
TOLERANCES = {
    "features": 1e-4,          # max relative difference of a feature vector
    "f1": 0.5,                 # |Δ macro F1| in half-widths of the original cell's interval
    "predictions": 0.9,        # share of test images predicted alike, at least
    "exact": ("knn", "lsvm"),  # classifiers whose cells must be identical on identical features
}
MANIFESTS = ("raw", "ingest_rejected", "clean", "rejected", "sample")
NOT_COMPARED = ("features/resume/",)  # resumable extraction's chunk stores: intermediate
OWN_REPORTS = ("compare.json", "compare.md", "audit.json")
VOLATILE = ("timings", "provenance", "device")  # what differs between two honest runs of one cell
STATUSES = ("identical", "same values", "derived", "different")


def parse_tolerance(text: str) -> tuple[str, object]:
    """NAME=VALUE from the command line, checked against TOLERANCES."""
    name, _, value = text.partition("=")
    if name not in TOLERANCES or not value:
        raise ValueError(f"--tolerance {text!r}: expected NAME=VALUE with NAME one of {sorted(TOLERANCES)}")
    if name == "exact":
        return name, tuple(v.strip() for v in value.split(",") if v.strip())
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"--tolerance {name}: expected a number >= 0, got {value!r}")
    return name, number


class Files:
    """The status of every file, with why."""

    def __init__(self):
        self.entries: dict[str, dict] = {}

    def set(self, rel: str, status: str, detail: str = "") -> None:
        entry = self.entries.get(rel)
        if entry is None or STATUSES.index(status) > STATUSES.index(entry["status"]):
            self.entries[rel] = {"file": rel, "status": status, "detail": detail}


def _files(workdir: Path) -> set[str]:
    root = workdir / RESULTS
    found = set()
    for path in root.rglob("*") if root.is_dir() else ():
        rel = str(path.relative_to(workdir))
        if (path.is_file() and not path.name.startswith(".") and path.name not in OWN_REPORTS
                and not any(part in rel for part in NOT_COMPARED)):
            found.add(rel)
    return found


def _same_bytes(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


def _strip(value: dict) -> dict:
    return {k: v for k, v in value.items() if k not in VOLATILE}


# ---------------------------------------------------------------- manifests

def _frame_difference(a: pd.DataFrame, b: pd.DataFrame) -> str:
    """'' when two manifests hold the same rows and values, else what differs (by image id)."""
    if list(a.columns) != list(b.columns):
        return f"columns {list(a.columns)} vs {list(b.columns)}"
    key = "image_id" if "image_id" in a.columns else a.columns[0]
    a, b = a.set_index(key).sort_index(), b.set_index(key).sort_index()
    only_a, only_b = a.index.difference(b.index), b.index.difference(a.index)
    if len(only_a) or len(only_b):
        return (f"{len(only_a)} {key}(s) only in the original (e.g. {list(only_a[:3])}), {len(only_b)} only in "
                f"the rerun (e.g. {list(only_b[:3])})")
    changed = []
    for column in a.columns:
        x, y = a[column], b[column]
        equal = (x.astype(object) == y.astype(object)) | (x.isna() & y.isna())
        if not equal.all():
            changed.append(f"{column} of {int((~equal).sum())} row(s) (e.g. {list(a.index[~equal.to_numpy()][:3])})")
    return "; ".join(changed)


def _splits(workdir: Path) -> dict[str, str]:
    """{results folder of a split's cells: its sample}: the main split's, and each repeat's."""
    repeats = sorted((workdir / RESULTS / "repeats").glob("*/sample.parquet"))
    return {RESULTS: f"{RESULTS}/manifest/sample.parquet"} | {
        str(path.parent.relative_to(workdir)): str(path.relative_to(workdir)) for path in repeats}


def compare_manifests(original: Path, rerun: Path, files: Files) -> None:
    for rel in [f"{RESULTS}/manifest/{name}.parquet" for name in MANIFESTS] + list(_splits(original).values())[1:]:
        if not ((original / rel).is_file() and (rerun / rel).is_file()):
            continue
        if _same_bytes(original / rel, rerun / rel):
            files.set(rel, "identical")
            continue
        difference = _frame_difference(pd.read_parquet(original / rel), pd.read_parquet(rerun / rel))
        files.set(rel, "different" if difference else "same values",
                  difference or f"every row and value the same{_provenance_difference(original / rel, rerun / rel)}")


def _provenance_difference(a: Path, b: Path) -> str:
    """'; provenance differs in: <keys>' for two outputs whose provenance records differ."""
    x, y = read_provenance(a) or {}, read_provenance(b) or {}
    keys = sorted(key for key in set(x) | set(y) if x.get(key) != y.get(key))
    return f"; provenance differs in: {', '.join(keys)}" if keys else ""


# ---------------------------------------------------------------- features

def _weights(path: Path) -> list:
    """What the vectors were extracted with: per extracted backbone its weights (file name and
    sha256, or the seed of random ones), and the file's own weights fields."""
    meta = read_metadata(path)
    extraction = json.loads(meta.get("extraction", "[]"))
    return [meta.get("weights"), meta.get("weights_sha256"), [entry.get("weights") for entry in extraction]]


def _vectors(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(image ids, features) in image-id order."""
    table = pq.read_table(path, columns=["image_id", "features"])
    ids = np.asarray(table.column("image_id").to_pylist(), dtype=object)
    order = np.argsort(ids, kind="stable")
    return ids[order], features_matrix(table)[order]


def compare_features(original: Path, rerun: Path, files: Files, tolerance: float) -> dict:
    """{backbone: {status, max_relative_difference, weights_same, detail}}."""
    out = {}
    for path in sorted((original / RESULTS / "features").glob("*.parquet")):
        rel = str(path.relative_to(original))
        if not (rerun / rel).is_file():
            continue
        backbone = path.stem
        entry = {"backbone": backbone, "max_relative_difference": None, "weights_same": True}
        weights_a, weights_b = _weights(path), _weights(rerun / rel)
        if weights_a != weights_b:
            entry |= {"status": "different", "weights_same": False,
                      "detail": f"other weights: {json.dumps(weights_a)} vs {json.dumps(weights_b)}"}
        elif _same_bytes(path, rerun / rel):
            entry |= {"status": "identical", "max_relative_difference": 0.0, "detail": ""}
        else:
            (ids_a, A), (ids_b, B) = _vectors(path), _vectors(rerun / rel)
            if not np.array_equal(ids_a, ids_b):
                entry |= {"status": "different", "detail": f"other image ids: {len(ids_a)} vs {len(ids_b)} rows, "
                                                           f"{len(set(ids_a) ^ set(ids_b))} not in both"}
            elif A.shape != B.shape:
                entry |= {"status": "different", "detail": f"widths {A.shape[1]} vs {B.shape[1]}"}
            else:
                scale = np.maximum(np.abs(A).max(axis=1), np.finfo(np.float32).tiny)
                worst = float((np.abs(A - B).max(axis=1) / scale).max()) if len(A) else 0.0
                within = worst <= tolerance
                entry |= {"status": "same values" if within else "different", "max_relative_difference": worst,
                          "detail": f"max relative difference {worst:.3g} "
                                    f"({'within' if within else 'beyond'} {tolerance:g})"}
        files.set(rel, entry["status"], entry["detail"])
        out[backbone] = entry
    return out


# ---------------------------------------------------------------- cells

def _cells(workdir: Path, root: str) -> dict:
    return {(p.parent.name, p.stem): p for p in sorted((workdir / root / "scores").glob("*/*.json"))}


def _predictions(workdir: Path, root: str, backbone: str, classifier: str) -> pd.DataFrame | None:
    path = workdir / root / "predictions" / backbone / f"{classifier}.parquet"
    return pd.read_parquet(path).set_index("image_id").sort_index() if path.is_file() else None


def _half_width(score: dict) -> float | None:
    ci = score.get("macro_f1_ci")
    return None if not ci else (ci["high"] - ci["low"]) / 2


def compare_cells(original: Path, rerun: Path, files: Files, features: dict, sample_same: bool,
                  tolerances: dict, root: str = RESULTS) -> list[dict]:
    """The cells of one split: the main one (root results/) or a repeat's (results/repeats/<r>/,
    cell names prefixed with it)."""
    cells_a, cells_b = _cells(original, root), _cells(rerun, root)
    prefix = "" if root == RESULTS else f"{Path(root).relative_to(RESULTS)}/"
    out, status_of = [], {}
    # ensembles after the cells they are made of
    for key in sorted(set(cells_a) & set(cells_b), key=lambda k: (k[1] == "ensemble", k)):
        backbone, classifier = key
        a, b = (json.loads(p.read_text()) for p in (cells_a[key], cells_b[key]))
        pa, pb = _predictions(original, root, *key), _predictions(rerun, root, *key)
        entry = {"cell": f"{prefix}{backbone}/{classifier}", "backbone": backbone, "classifier": classifier,
                 "f1_original": a.get("macro_f1"), "f1_rerun": b.get("macro_f1"),
                 "best_params": [a.get("best_params"), b.get("best_params")],
                 "same_choice": a.get("best_params") == b.get("best_params")}
        reasons = []
        entry["delta"] = entry["f1_rerun"] - entry["f1_original"]
        half = _half_width(a)
        entry["half_width"] = half
        # an interval of width 0 (every test image right in every resample) allows no Δ at all
        ratio = abs(entry["delta"]) / half if half else (0.0 if entry["delta"] == 0 else math.inf)
        entry["delta_in_half_widths"] = ratio if math.isfinite(ratio) else None
        same_rows = pa is not None and pb is not None and pa.index.equals(pb.index)
        if not same_rows:
            reasons.append("the predictions cover other test images")
            entry["same_predictions"] = None
        else:
            entry["same_predictions"] = float((pa["predicted"] == pb["predicted"]).mean()) if len(pa) else 1.0
        identical = same_rows and _strip(a) == _strip(b) and pa.equals(pb)
        if "members" in a:
            members = [status_of.get(tuple(m.split("/"))) for m in a["members"]]
            expect_identical = all(m == "identical" for m in members)
        else:
            feature = features.get(backbone, {})
            if not feature.get("weights_same", True):
                reasons.append(f"its features have other weights ({RESULTS}/features/{backbone}.parquet)")
            expect_identical = (classifier in tolerances["exact"] and sample_same
                                and feature.get("max_relative_difference") == 0.0)
        if identical and not reasons:
            status = "identical"
        elif expect_identical and not identical:
            status = "different"
            reasons.append(f"{classifier} is exact on identical inputs, yet its results differ")
        else:
            if ratio > tolerances["f1"]:
                reasons.append(f"Δ macro F1 {entry['delta']:+.4f} is beyond {tolerances['f1']:g} half-width(s) "
                               f"of the original's interval ({_f(half)})")
            if entry["same_predictions"] is not None and entry["same_predictions"] < tolerances["predictions"]:
                reasons.append(f"{entry['same_predictions']:.1%} of test images predicted alike, below "
                               f"{tolerances['predictions']:.0%}")
            status = "different" if reasons else "same values"
        entry["status"], entry["reasons"] = status, reasons
        status_of[key] = status
        detail = f"cell {entry['cell']}: " + ("; ".join(entry["reasons"]) or status)
        for path in (cells_a[key], original / root / "predictions" / backbone / f"{classifier}.parquet"):
            rel = str(path.relative_to(original))
            if (rerun / rel).is_file():
                files.set(rel, "identical" if _same_bytes(original / rel, rerun / rel) else status, detail)
        for path in sorted((original / RESULTS / "models" / backbone / classifier).glob("*")):
            rel = str(path.relative_to(original))
            if (rerun / rel).is_file():
                same = _same_bytes(path, rerun / rel)
                files.set(rel, "identical" if same else ("same values" if status == "identical" else status),
                          "" if same else detail)
        out.append(entry)
    return out


# ---------------------------------------------------------------- the table's ranking

def _ranking(workdir: Path) -> dict | None:
    path = workdir / RESULTS / "table.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path, dtype={"backbone": str})
    body = table.iloc[:-1].set_index("backbone").drop(columns=["weights", "mean"])
    cells = body.stack()
    return {"best": "/".join(cells.idxmax()) if len(cells) else None,
            "rows": list(body.mean(axis=1).sort_values(ascending=False, kind="stable").index),
            "columns": list(body.mean(axis=0).sort_values(ascending=False, kind="stable").index)}


def compare_ranking(original: Path, rerun: Path, cells: list[dict]) -> dict:
    a, b = _ranking(original), _ranking(rerun)
    if a is None or b is None:
        return {"status": "different", "detail": "a results/table.csv is missing", "original": a, "rerun": b}
    changed = [part for part in ("best", "rows", "columns") if a[part] != b[part]]
    if not changed:
        status, detail = "identical", "the same best cell and order of the means"
    elif all(cell["status"] != "different" for cell in cells):
        status, detail = "same values", f"{', '.join(changed)} changed among cells that agree within tolerance"
    else:
        status, detail = "different", f"{', '.join(changed)} changed"
    return {"status": status, "detail": detail, "original": a, "rerun": b}


# ---------------------------------------------------------------- provenance

def _provenance(workdir: Path) -> dict:
    """What about a run could make it differ from another: from its first cell and features file."""
    found: dict = {}
    for path in sorted((workdir / RESULTS / "scores").glob("*/*.json"))[:1]:
        score = json.loads(path.read_text())
        record = score.get("provenance") or {}
        found |= {"code_sha256": record.get("code_sha256"), "git_commit": (record.get("git") or {}).get("commit"),
                  "versions": record.get("versions"), "machine": record.get("machine"),
                  "classify_device": score.get("device")}
    for path in sorted((workdir / RESULTS / "features").glob("*.parquet"))[:1]:
        meta = read_metadata(path)
        found |= {"extract_device": json.loads(meta.get("device", "null")),
                  "extract_runtime": [meta.get("runtime"), meta.get("precision")],
                  "tensorflow_build": json.loads(meta.get("tensorflow_build", "null"))}
    return found


def compare_provenance(original: Path, rerun: Path) -> dict:
    a, b = _provenance(original), _provenance(rerun)
    return {key: {"original": a.get(key), "rerun": b.get(key), "same": a.get(key) == b.get(key)}
            for key in dict.fromkeys([*a, *b])}


# ---------------------------------------------------------------- the comparison

def compare(original, rerun, tolerances: dict | None = None) -> dict:
    original, rerun = Path(original), Path(rerun)
    tolerances = TOLERANCES | (tolerances or {})
    files = Files()
    names_a, names_b = _files(original), _files(rerun)
    for rel in sorted(names_a ^ names_b):
        files.set(rel, "different", f"only in the {'original' if rel in names_a else 'rerun'}")
    compare_manifests(original, rerun, files)
    features = compare_features(original, rerun, files, tolerances["features"])
    cells, repeated = [], []
    for root, sample in _splits(original).items():
        sample_same = files.entries.get(sample, {}).get("status") in ("identical", "same values")
        (cells if root == RESULTS else repeated).extend(
            compare_cells(original, rerun, files, features, sample_same, tolerances, root))
    ranking = compare_ranking(original, rerun, cells)
    cells += repeated
    for rel in sorted(names_a & names_b):
        if rel in files.entries:
            continue
        if _same_bytes(original / rel, rerun / rel):
            files.set(rel, "identical")
        elif rel == f"{RESULTS}/table.csv":
            files.set(rel, ranking["status"] if ranking["status"] != "identical" else "same values", ranking["detail"])
        elif rel.endswith(".json") and _json_same(original / rel, rerun / rel):
            files.set(rel, "same values", "the same but for timings" + _provenance_difference(original / rel, rerun / rel))
        else:
            files.set(rel, "derived", "pages and figures made from the values compared")
    listed = sorted(files.entries.values(), key=lambda e: e["file"])
    problems = [f"{e['file']}: {e['detail'] or e['status']}" for e in listed if e["status"] == "different"]
    problems += [f"cell {c['cell']}: {'; '.join(c['reasons'])}" for c in cells if c["status"] == "different"]
    if ranking["status"] == "different":
        problems.append(f"{RESULTS}/table.csv ranking: {ranking['detail']}")
    counts = {status: sum(e["status"] == status for e in listed) for status in STATUSES}
    return {"ok": not problems, "original": str(original), "rerun": str(rerun),
            "tolerances": {k: list(v) if isinstance(v, tuple) else v for k, v in tolerances.items()},
            "summary": {"files": counts, "cells": {s: sum(c["status"] == s for c in cells) for s in STATUSES}},
            "problems": problems, "files": listed, "features": list(features.values()), "cells": cells,
            "ranking": ranking, "provenance": compare_provenance(original, rerun)}


def _json_same(a: Path, b: Path) -> bool:
    x, y = json.loads(a.read_text()), json.loads(b.read_text())
    return _strip(x) == _strip(y) if isinstance(x, dict) and isinstance(y, dict) else x == y


# ---------------------------------------------------------------- the page

def _f(value, digits=4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(report: dict) -> str:
    lines = [f"# Comparison: {'PASSED' if report['ok'] else 'FAILED'}", "",
             f"Original `{report['original']}`, rerun `{report['rerun']}`. Tolerances: "
             + ", ".join(f"{k} {v}" for k, v in report["tolerances"].items()) + " (docs/reproducibility.md).", ""]
    if report["problems"]:
        lines += ["## Beyond tolerance", "", *[f"- {line}" for line in report["problems"]], ""]
    lines += ["## Cells", "", "| cell | F1 original | F1 rerun | Δ | Δ / half-width | same predictions "
              "| same choice | status |", "|---|---|---|---|---|---|---|---|"]
    for c in report["cells"]:
        share = "–" if c["same_predictions"] is None else f"{c['same_predictions']:.1%}"
        lines.append(f"| {c['cell']} | {_f(c['f1_original'])} | {_f(c['f1_rerun'])} | {c['delta']:+.4f} "
                     f"| {_f(c['delta_in_half_widths'], 2)} | {share} | {'yes' if c['same_choice'] else 'no'} "
                     f"| {c['status']} |")
    lines += ["", "## Features", "", "| backbone | max relative difference | same weights | status |", "|---|---|---|---|"]
    for f in report["features"]:
        worst = f["max_relative_difference"]
        lines.append(f"| {f['backbone']} | {'–' if worst is None else format(worst, '.3g')} "
                     f"| {'yes' if f['weights_same'] else 'no'} | {f['status']} |")
    r = report["ranking"]
    lines += ["", f"## Ranking: {r['status']}", "", r["detail"], ""]
    lines += ["## Provenance", "", "| | original | rerun |", "|---|---|---|"]
    for key, value in report["provenance"].items():
        mark = "" if value["same"] else " **differs**"
        lines.append(f"| {key}{mark} | `{json.dumps(value['original'])}` | `{json.dumps(value['rerun'])}` |")
    counts = report["summary"]["files"]
    lines += ["", "## Files", "", ", ".join(f"{n} {s}" for s, n in counts.items()), "",
              "| file | status | detail |", "|---|---|---|"]
    lines += [f"| {e['file']} | {e['status']} | {e['detail']} |" for e in report["files"] if e["status"] != "identical"]
    return "\n".join(lines) + "\n"


def write_report(report: dict, workdir) -> tuple[Path, Path]:
    workdir = Path(workdir)
    write_json(report, workdir / OUT_JSON)
    (workdir / OUT_MD).write_text(markdown(report))
    return workdir / OUT_JSON, workdir / OUT_MD
