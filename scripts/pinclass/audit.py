"""Audit a finished results folder: does everything still agree with everything else? (Comparing
two runs with each other is pinclass.compare, `audit.py --compare`.)

`audit(workdir)` re-reads the workflow's outputs under `workdir` (the folder Snakemake ran in; every
path below is relative to it) and checks, without Snakemake and without changing anything. The cells
checked are those results/table.csv names (its rows × columns), so the files of a backbone or
classifier since removed from the config are left alone. Where a stage owns an invariant, the audit
calls that stage's own validator and turns its exception into a finding.

1. `inputs`      every input recorded in the provenance of the manifest files and of the table's
                 cells (Parquet metadata key `provenance`, JSON key `provenance`) still has the recorded
                 sha256, and so does a weights file named there (`provenance.weights.file` + `.sha256`);
2. `images`      the image files of sample.parquet (or of clean.parquet, or none) re-hashed against
                 their `sha256` column, at <data root>/<path>; the data root comes from raw.parquet's
                 provenance config (`data`, read with `pinclass.ingest.data_root`);
3. `scores`      each cell's results/scores/{backbone}/{classifier}.json recomputed from
                 results/predictions/{backbone}/{classifier}.parquet with
                 `pinclass.scoring.score_predictions` (macro_f1, accuracy, per_class, confusion_matrix,
                 n_test; floats within 1e-12), and `macro_f1_ci` where present with
                 `pinclass.uncertainty.bootstrap_ci` on the predictions in image_id order; the
                 predictions cover exactly the sample's test images with the sample's labels
                 (`pinclass.uncertainty.align_predictions`);
4. `features`    each row's results/features/{backbone}.parquet joins the sample as the classify step
                 joins it (`pinclass.joining.features_for_sample`), in the sample's order, its `dim`
                 metadata is the vector width, no value is NaN or infinite;
5. `manifest`    sample ⊂ clean (same path, sha256, category), clean ⊂ raw (same path), clean and
                 rejected disjoint, clean ∪ rejected == raw ∪ ingest_rejected, ids unique;
6. `table`       results/table.csv cells equal the score JSONs' macro_f1 (within 1e-6: the CSV has 6
                 decimals), its means are the means, each row's `weights` is its cells' weights source.

The report: {"ok", "workdir", "images", "checks": [{"check", "file", "ok", "detail"}, ...],
"problems": [one line each, starting with the file concerned], "not_in_table": [outputs left alone],
"summary": counts}.
"""

import argparse
import json
import math
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pinclass.atomic import read_metadata, write_json
from pinclass.compare import compare, parse_tolerance, write_report
from pinclass.provenance import read_provenance, sha256_file
from pinclass.table import row_weights

RESULTS = "results"
MANIFEST = f"{RESULTS}/manifest"
RAW = f"{MANIFEST}/raw.parquet"
INGEST_REJECTED = f"{MANIFEST}/ingest_rejected.parquet"
CLEAN = f"{MANIFEST}/clean.parquet"
REJECTED = f"{MANIFEST}/rejected.parquet"
SAMPLE = f"{MANIFEST}/sample.parquet"
CLEAN_SUMMARY = f"{MANIFEST}/clean_summary.json"
TABLE = f"{RESULTS}/table.csv"
DEFAULT_OUT = f"{RESULTS}/audit.json"
# Outputs that must carry a provenance record (features and scores are found by pattern).
PROVENANCE_REQUIRED = (RAW, INGEST_REJECTED, CLEAN, REJECTED, SAMPLE, CLEAN_SUMMARY)
IMAGE_MODES = ("sample", "clean", "none")
SCORE_TOLERANCE = 1e-12
TABLE_TOLERANCE = 1e-6
EXAMPLES = 3


class Report:
    """Collects checks and problem lines."""

    def __init__(self):
        self.checks, self.problems, self.not_in_table = [], [], []
        self.counts = {"inputs_rehashed": 0, "images_rehashed": 0, "scores": 0, "features": 0}

    def add(self, check: str, file: str, problems: list[str], detail: str = "", lines: list[str] | None = None):
        """One check on `file`; ok when `problems` is empty.

        Each problem becomes the line `file: problem`, unless `lines` gives the lines ready-made (each
        naming its own file) — then `problems` is only the check's summary.
        """
        ok = not problems
        self.checks.append({"check": check, "file": file, "ok": ok,
                            "detail": detail if ok else "; ".join(problems)})
        self.problems.extend(lines if lines is not None else [f"{file}: {p}" for p in problems])
        return ok

    def result(self, workdir, images: str) -> dict:
        failed = sum(not c["ok"] for c in self.checks)
        by_check = {}
        for c in self.checks:
            entry = by_check.setdefault(c["check"], {"passed": 0, "failed": 0})
            entry["passed" if c["ok"] else "failed"] += 1
        return {"ok": not self.problems, "workdir": str(workdir), "images": images,
                "checks": self.checks, "problems": self.problems,
                "not_in_table": self.not_in_table,  # outputs of cells the table no longer names: not audited
                "summary": {"checks": len(self.checks), "passed": len(self.checks) - failed, "failed": failed,
                            "problems": len(self.problems), "by_check": by_check, **self.counts}}


# ---------------------------------------------------------------- small helpers

def _resolve(workdir: Path, path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else workdir / path


def _short(value, n: int = EXAMPLES) -> str:
    items = list(value)
    text = ", ".join(map(str, items[:n]))
    return f"{text}, …" if len(items) > n else text


def _num(x) -> str:
    return repr(float(x)) if isinstance(x, (int, float, np.floating, np.integer)) and not isinstance(x, bool) \
        else repr(x)


def _close(a, b, tolerance: float) -> bool:
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tolerance


def _output_files(workdir: Path, suffixes=(".parquet", ".json")) -> list[str]:
    """Every output file under results/, relative to workdir, temporary files (.name.tmp) left out."""
    root = workdir / RESULTS
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(workdir)) for p in root.rglob("*")
                  if p.is_file() and p.suffix in suffixes and not p.name.startswith("."))


def _read_parquet(report: Report, workdir: Path, rel: str, check: str, columns: tuple = ()):
    """A DataFrame, or None after recording why it could not be read."""
    path = workdir / rel
    if not path.is_file():
        report.add(check, rel, ["missing"])
        return None
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # noqa: BLE001 — any unreadable file is a finding, not a crash
        report.add(check, rel, [f"cannot be read as Parquet: {error}"])
        return None
    lacking = [c for c in columns if c not in frame.columns]
    if lacking:
        report.add(check, rel, [f"lacks column(s) {lacking}"])
        return None
    return frame


def _duplicates(series: pd.Series) -> list:
    return sorted(map(str, series[series.duplicated()].unique()))


# ---------------------------------------------------------------- 1. recorded inputs

def _of_the_table(rel: str, cells, backbones) -> bool:
    """Whether an output belongs to the results the table names (manifest files always do)."""
    parts = Path(rel).parts
    if len(parts) == 3 and parts[1] in ("features", "leakage"):  # per backbone
        return Path(parts[2]).stem in backbones
    if len(parts) == 4 and parts[1] in ("scores", "predictions"):
        return (parts[2], Path(parts[3]).stem) in cells
    # the repeats' splits and scores (results/repeats/<r>/…) are not table cells: left alone
    return parts[1] not in ("scores", "predictions", "features", "leakage", "repeats")


def check_inputs(report: Report, workdir: Path, cells, backbones) -> None:
    hashes: dict[Path, str | None] = {}

    def current(path: Path):
        if path not in hashes:
            hashes[path] = sha256_file(path) if path.is_file() else None
            report.counts["inputs_rehashed"] += hashes[path] is not None
        return hashes[path]

    for rel in _output_files(workdir):
        if rel == DEFAULT_OUT or not _of_the_table(rel, set(cells), set(backbones)):
            continue
        try:
            record = read_provenance(workdir / rel)
        except Exception as error:  # noqa: BLE001
            report.add("inputs", rel, [f"cannot be read: {error}"])
            continue
        expected = (rel in PROVENANCE_REQUIRED or rel.startswith(f"{RESULTS}/scores/")
                    or (rel.startswith(f"{RESULTS}/features/") and rel.count("/") == 2))
        if record is None:
            if expected:
                report.add("inputs", rel, ["has no provenance record"])
            continue
        if not isinstance(record, dict) or not isinstance(record.get("inputs"), dict):
            report.add("inputs", rel, ["provenance has no `inputs` mapping"])
            continue
        recorded = dict(record["inputs"])
        weights = record.get("weights")
        if isinstance(weights, dict) and weights.get("file") and weights.get("sha256"):
            recorded["weights file"] = {"path": weights["file"], "sha256": weights["sha256"]}
        problems = []
        for name, entry in sorted(recorded.items()):
            if not isinstance(entry, dict) or "path" not in entry or "sha256" not in entry:
                problems.append(f"input {name!r} lacks path or sha256 in its provenance: {entry!r}")
                continue
            actual = current(_resolve(workdir, entry["path"]))
            if actual is None:
                problems.append(f"input {name} {entry['path']} is missing (recorded sha256 {entry['sha256']})")
            elif actual != entry["sha256"]:
                problems.append(f"input {name} {entry['path']} has sha256 {actual} != {entry['sha256']} "
                                f"recorded in its provenance (changed since this output was made)")
        report.add("inputs", rel, problems, f"{len(recorded)} recorded input(s) unchanged")


# ---------------------------------------------------------------- 2. images

def data_root_of(workdir: Path) -> tuple[Path | None, str]:
    """The data root recorded in raw.parquet's provenance, resolved against workdir, and a reason when unknown."""
    from pinclass.ingest import data_root

    try:
        record = read_provenance(workdir / RAW)
    except Exception as error:  # noqa: BLE001
        return None, f"cannot read {RAW}: {error}"
    data = ((record or {}).get("config") or {}).get("data")
    if not isinstance(data, dict) or not (data.get("root") or data.get("manifest")):
        return None, f"{RAW} records no data root (provenance config `data`)"
    return _resolve(workdir, data_root(data)), ""


def check_images(report: Report, workdir: Path, mode: str, frames: dict) -> None:
    if mode == "none":
        return
    rel = SAMPLE if mode == "sample" else CLEAN
    frame = frames.get(rel)
    if frame is None:
        report.add("images", rel, [f"cannot re-hash images: {rel} is missing or unreadable"])
        return
    root, reason = data_root_of(workdir)
    if root is None:
        report.add("images", rel, [f"cannot re-hash images: {reason}"])
        return
    paths = [root / p for p in frame["path"]]

    def digest(path: Path):
        try:
            return sha256_file(path)
        except OSError as error:
            return error

    with ThreadPoolExecutor(max_workers=4) as pool:
        actual = list(pool.map(digest, paths))
    report.counts["images_rehashed"] += len(paths)
    lines = []
    for image_id, path, recorded, got in zip(frame["image_id"], paths, frame["sha256"], actual):
        shown = path.relative_to(workdir) if path.is_relative_to(workdir) else path
        if isinstance(got, Exception):
            lines.append(f"{shown}: image {image_id} of {rel} cannot be read: {got}")
        elif got != recorded:
            lines.append(f"{shown}: image {image_id} has sha256 {got} != {recorded} recorded in {rel}")
    summary = [f"{len(lines)} of {len(paths)} image(s) under {root} differ from their recorded sha256 or cannot "
               f"be read"] if lines else []
    report.add("images", rel, summary, f"{len(paths)} image(s) under {root} match their sha256", lines)


# ---------------------------------------------------------------- 3. scores against predictions

def _compare_scores(score: dict, recomputed: dict, labels: list[str], source: str) -> list[str]:
    problems = []
    for key in ("macro_f1", "accuracy"):
        if key not in score:
            problems.append(f"has no {key}")
        elif not _close(score[key], recomputed[key], SCORE_TOLERANCE):
            problems.append(f"{key} {_num(score[key])} != {_num(recomputed[key])} recomputed from {source}")
    per_class = score.get("per_class")
    if not isinstance(per_class, dict):
        problems.append("has no per_class mapping")
    else:
        differ = []
        if set(per_class) != set(labels):
            differ.append(f"classes {sorted(per_class)} != labels {labels}")
        for name in labels:
            ours, theirs = per_class.get(name) or {}, recomputed["per_class"][name]
            for field in ("precision", "recall", "f1"):
                if not _close(ours.get(field), theirs[field], SCORE_TOLERANCE):
                    differ.append(f"{name}.{field} {_num(ours.get(field))} != {_num(theirs[field])}")
            if ours.get("support") != theirs["support"]:
                differ.append(f"{name}.support {ours.get('support')!r} != {theirs['support']}")
        if differ:
            problems.append(f"per_class differs from {source}: {_short(differ, 5)}")
    if score.get("confusion_matrix") != recomputed["confusion_matrix"]:
        problems.append(f"confusion_matrix {score.get('confusion_matrix')} != {recomputed['confusion_matrix']} "
                        f"recomputed from {source}")
    return problems


def _compare_ci(score: dict, predictions: pd.DataFrame, n_classes: int, source: str) -> list[str]:
    from pinclass.uncertainty import predictions_ci

    ci = score["macro_f1_ci"]
    if not isinstance(ci, dict) or not all(k in ci for k in ("n_boot", "seed", "level")):
        return [f"macro_f1_ci lacks n_boot/seed/level: {ci!r}"]
    try:
        again = predictions_ci(predictions, n_classes, n_boot=int(ci["n_boot"]), seed=int(ci["seed"]),
                               level=float(ci["level"]), unit=ci.get("unit", "image"))
    except (TypeError, ValueError) as error:
        return [f"macro_f1_ci cannot be recomputed from {source}: {error}"]
    problems = []
    for key in ("macro_f1", "low", "high"):
        if not _close(ci.get(key), again[key], SCORE_TOLERANCE):
            problems.append(f"macro_f1_ci.{key} {_num(ci.get(key))} != {_num(again[key])} recomputed from {source} "
                            f"(n_boot {ci['n_boot']}, seed {ci['seed']}, level {ci['level']})")
    if "method" in ci and ci["method"] != again["method"]:
        problems.append(f"macro_f1_ci.method {ci['method']!r} != {again['method']!r}")
    return problems


def check_scores(report: Report, workdir: Path, sample: pd.DataFrame | None, categories, cells) -> dict:
    """The cells the table names: each score JSON recomputed from its predictions. Returns
    {(backbone, classifier): score dict} for the table check."""
    from pinclass.scoring import score_predictions

    scores = {}
    score_files = [workdir / RESULTS / "scores" / backbone / f"{classifier}.json" for backbone, classifier in cells]
    test = train_count = None
    if sample is not None:
        test = sample[sample["split"] == "test"].set_index("image_id")["label"]
        train_count = int((sample["split"] == "train").sum())
    for path in score_files:
        rel = str(path.relative_to(workdir))
        backbone, classifier = path.parent.name, path.stem
        cell = f"cell ({backbone}, {classifier})"
        predictions_rel = f"{RESULTS}/predictions/{backbone}/{classifier}.parquet"
        report.counts["scores"] += 1
        try:
            score = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            report.add("scores", rel, [f"{cell}: cannot be read as JSON: {error}"])
            continue
        if not isinstance(score, dict):
            report.add("scores", rel, [f"{cell}: not a JSON object"])
            continue
        scores[backbone, classifier] = score
        problems = []
        for key, expected in (("backbone", backbone), ("classifier", classifier)):
            if score.get(key) != expected:
                problems.append(f"{key} {score.get(key)!r} != {expected!r} of its path")
        features_input = ((score.get("provenance") or {}).get("inputs") or {}).get("features", {}).get("path")
        if features_input is not None and features_input != f"{RESULTS}/features/{backbone}.parquet":
            problems.append(f"made from {features_input}, not {RESULTS}/features/{backbone}.parquet")
        labels = score.get("labels")
        if not isinstance(labels, list) or not labels:
            problems.append("has no labels list")
            labels = list(categories or [])
        elif categories is not None and labels != list(categories):
            problems.append(f"labels {labels} != the sample's categories {list(categories)}")
        if train_count is not None and score.get("n_train") != train_count:
            problems.append(f"n_train {score.get('n_train')!r} != {train_count} train rows in {SAMPLE}")

        predictions = _read_parquet(report, workdir, predictions_rel, "predictions",
                                    ("image_id", "label", "predicted"))
        if predictions is None:
            report.add("scores", rel, [f"{cell}: {p}" for p in problems + [f"no readable {predictions_rel}"]])
            continue
        report.add("scores", rel, [f"{cell}: {p}" for p in problems], "names, labels and counts agree")
        report.add("predictions", predictions_rel,
                   [f"{cell}: {p}" for p in _check_predictions(predictions, test)],
                   "exactly the sample's test images with the sample's labels")
        source = predictions_rel
        try:
            recomputed = score_predictions(predictions["label"].to_numpy(), predictions["predicted"].to_numpy(),
                                           labels)
        except ValueError as error:
            report.add("metrics", rel, [f"{cell}: cannot be recomputed from {source}: {error}"])
            continue
        problems = _compare_scores(score, recomputed, labels, source)
        if score.get("n_test") != len(predictions):
            problems.append(f"n_test {score.get('n_test')!r} != {len(predictions)} rows of {source}")
        if "macro_f1_ci" in score:
            problems += _compare_ci(score, predictions, len(labels), source)
        report.add("metrics", rel, [f"{cell}: {p}" for p in problems],
                   f"macro_f1 {score.get('macro_f1')} and the other metrics recomputed from {source}")
    return scores


def _check_predictions(predictions: pd.DataFrame, test: pd.Series | None) -> list[str]:
    """The pairwise comparison's own alignment against the sample's test rows: the same images,
    none repeated, the same true labels."""
    from pinclass.uncertainty import align_predictions

    if test is None:
        return [f"cannot be compared with the sample's test rows ({SAMPLE} unreadable)"]
    expected = pd.DataFrame({"image_id": test.index, "label": test.to_numpy(), "predicted": test.to_numpy()})
    try:
        align_predictions(predictions, expected)
    except ValueError as error:
        return [f"against the test rows of {SAMPLE}: {error}"]
    return []


# ---------------------------------------------------------------- 4. features

def check_features(report: Report, workdir: Path, sample: pd.DataFrame | None, categories, backbones) -> None:
    for path in (workdir / RESULTS / "features" / f"{backbone}.parquet" for backbone in backbones):
        rel = str(path.relative_to(workdir))
        report.counts["features"] += 1
        try:
            table = pq.read_table(path)
            meta = read_metadata(path)
        except Exception as error:  # noqa: BLE001
            report.add("features", rel, [f"cannot be read as Parquet: {error}"])
            continue
        if "image_id" not in table.column_names or "features" not in table.column_names:
            report.add("features", rel, [f"lacks image_id or features column: {table.column_names}"])
            continue
        problems = []
        if meta.get("backbone") != path.stem:
            problems.append(f"backbone metadata {meta.get('backbone')!r} != {path.stem!r} of its name")
        ids = table.column("image_id").to_pylist()
        if sample is None or categories is None:
            problems.append(f"cannot be compared with {SAMPLE} (unreadable, or no categories in its provenance)")
        else:
            from pinclass.joining import JoinError, features_for_sample

            try:  # the classify step's own join: same ids, none repeated, labels in config order
                features_for_sample(sample, table, categories)
            except (JoinError, AttributeError, KeyError, IndexError) as error:  # e.g. not a fixed-size list (below)
                problems.append(str(error))
            else:
                if ids != sample["image_id"].tolist():
                    first = next(i for i, (a, b) in enumerate(zip(ids, sample["image_id"])) if a != b)
                    problems.append(f"the sample's image ids in another order (first at row {first})")
        column = table.column("features").type
        if not pa.types.is_fixed_size_list(column):
            problems.append(f"features column is {column}, not a fixed_size_list")
        else:
            width = column.list_size
            if str(meta.get("dim")) != str(width):
                problems.append(f"dim metadata {meta.get('dim')!r} != vector width {width}")
            from pinclass.feature_tables import features_matrix

            matrix = features_matrix(table)
            bad = ~np.isfinite(matrix)
            if bad.any():
                rows = np.flatnonzero(bad.any(axis=1))
                kind = "NaN" if np.isnan(matrix).any() else "infinite"
                problems.append(f"{int(bad.sum())} {kind} value(s) in {len(rows)} row(s), e.g. image(s) "
                                f"{_short(ids[i] for i in rows)}")
        report.add("features", rel, problems, f"{len(ids)} rows in sample order, dim {meta.get('dim')}, all finite")


# ---------------------------------------------------------------- 5. manifest chain

def check_manifest(report: Report, workdir: Path, frames: dict) -> None:
    raw, ingest_rejected, clean, rejected, sample = (frames.get(k) for k in
                                                     (RAW, INGEST_REJECTED, CLEAN, REJECTED, SAMPLE))
    for rel, frame in frames.items():
        if frame is not None:
            repeated = _duplicates(frame["image_id"])
            report.add("manifest", rel, [f"repeats image_id(s) {_short(repeated)}"] if repeated else [],
                       "image_ids unique")

    def mismatches(child, parent, columns, child_rel, parent_rel):
        problems = []
        absent = sorted(map(str, set(child["image_id"]) - set(parent["image_id"])))
        if absent:
            problems.append(f"{len(absent)} image(s) not in {parent_rel}: {_short(absent)}")
        joined = child.drop_duplicates("image_id").merge(parent.drop_duplicates("image_id"), on="image_id",
                                                         suffixes=("", "__parent"))
        for column in columns:
            if column not in child.columns or column not in parent.columns:
                lacking = child_rel if column not in child.columns else parent_rel
                problems.append(f"column {column} missing in {lacking}")
                continue
            differ = joined[column].astype(str).to_numpy() != joined[f"{column}__parent"].astype(str).to_numpy()
            if differ.any():
                shown = [f"{i} ({a!r} != {b!r})" for i, a, b in zip(joined["image_id"][differ], joined[column][differ],
                                                                    joined[f"{column}__parent"][differ])]
                problems.append(f"{column} differs from {parent_rel} for {int(differ.sum())} image(s): "
                                f"{_short(shown)}")
        return problems

    if sample is not None and clean is not None:
        report.add("manifest", SAMPLE, mismatches(sample, clean, ("path", "sha256", "category"), SAMPLE, CLEAN),
                   f"every image in {CLEAN} with the same path, sha256 and category")
    if sample is not None:
        problems = []
        splits = set(sample["split"].astype(str)) - {"train", "test"}
        if splits:
            problems.append(f"split values other than train/test: {sorted(splits)}")
        if "fold" in sample.columns:
            bad_fold = sample[(sample["split"] == "test") != (sample["fold"] == -1)]
            if len(bad_fold):
                problems.append(f"{len(bad_fold)} row(s) where fold -1 does not mark exactly the test rows: "
                                f"{_short(bad_fold['image_id'])}")
        report.add("manifest", SAMPLE, problems, "split train/test, fold -1 exactly on test rows")
    if clean is not None and raw is not None:
        report.add("manifest", CLEAN, mismatches(clean, raw, ("path",), CLEAN, RAW),
                   f"every image in {RAW} with the same path")
    if clean is not None and rejected is not None:
        both = rejected[rejected["image_id"].isin(set(clean["image_id"]))]
        shown = [f"{i} (reason {r})" if "reason" in both.columns else str(i)
                 for i, r in zip(both["image_id"], both.get("reason", both["image_id"]))]
        report.add("manifest", REJECTED,
                   [f"{len(both)} row(s) rejected although kept in {CLEAN}: {_short(shown)}"] if len(both) else [],
                   f"disjoint from {CLEAN}")
    if all(f is not None for f in (raw, ingest_rejected, clean, rejected)):
        found = set(raw["image_id"]) | set(ingest_rejected["image_id"])
        filed = set(clean["image_id"]) | set(rejected["image_id"])
        problems = []
        unfiled, unknown = sorted(map(str, found - filed)), sorted(map(str, filed - found))
        if unfiled:
            problems.append(f"{len(unfiled)} image(s) of {RAW} / {INGEST_REJECTED} in neither {CLEAN} nor "
                            f"{REJECTED}: {_short(unfiled)}")
        if unknown:
            problems.append(f"{len(unknown)} image(s) of {CLEAN} / {REJECTED} in neither {RAW} nor "
                            f"{INGEST_REJECTED}: {_short(unknown)}")
        report.add("manifest", REJECTED, problems,
                   f"{CLEAN} ∪ {REJECTED} == {RAW} ∪ {INGEST_REJECTED} ({len(found)} image ids)")


# ---------------------------------------------------------------- 6. the table

def read_results_table(report: Report, workdir: Path):
    """results/table.csv read as any CSV reader reads it, or None after recording why it cannot be
    read. Its rows and columns name the cells this results folder holds; the audit checks those, so
    files of a backbone or classifier since removed from the config are left alone."""
    path = workdir / TABLE
    if not path.is_file():
        report.add("table", TABLE, ["missing"])
        return None
    try:
        table = pd.read_csv(path, dtype={"backbone": str, "weights": str})
    except Exception as error:  # noqa: BLE001
        report.add("table", TABLE, [f"cannot be read as CSV: {error}"])
        return None
    columns = list(table.columns)
    if len(columns) < 4 or columns[:2] != ["backbone", "weights"] or columns[-1] != "mean":
        report.add("table", TABLE, [f"columns {columns} are not backbone, weights, <classifiers…>, mean"])
        return None
    if not len(table) or table["backbone"].iloc[-1] != "mean":
        report.add("table", TABLE, ["last row is not `mean`"])
        return None
    return table


def table_cells(table: pd.DataFrame | None) -> list[tuple[str, str]]:
    """The filled cells (an ensemble row fills only its `ensemble` column)."""
    if table is None:
        return []
    body = table.iloc[:-1].set_index("backbone")
    return [(backbone, column) for backbone in body.index for column in table.columns[2:-1]
            if not pd.isna(body.loc[backbone, column])]


def check_table(report: Report, table: pd.DataFrame, scores: dict) -> None:
    columns = list(table.columns[2:-1])
    body = table.iloc[:-1].set_index("backbone")
    means = table.iloc[-1]
    rows = list(body.index)
    problems = []
    if len(set(rows)) != len(rows):
        problems.append(f"repeats backbone row(s) {_duplicates(pd.Series(rows))}")
    filled = set(table_cells(table))
    for row in rows:  # a backbone row fills every classifier column, an ensemble row only `ensemble`
        ensemble_row = "ensemble" in columns and (row, "ensemble") in filled
        wanted = {(row, "ensemble")} if ensemble_row else {(row, c) for c in columns if c != "ensemble"}
        if {cell for cell in filled if cell[0] == row} != wanted:
            problems.append(f"row {row} has empty or extra cells: filled {sorted(c for r, c in filled if r == row)}")
    values = {}
    for backbone, classifier in sorted(filled):
        score_rel = f"{RESULTS}/scores/{backbone}/{classifier}.json"
        cell_value = body.loc[backbone, classifier]
        if isinstance(cell_value, pd.Series):
            cell_value = cell_value.iloc[0]
        score = scores.get((backbone, classifier))
        if score is None or "macro_f1" not in score:
            problems.append(f"cell ({backbone}, {classifier}) {cell_value} has no readable {score_rel}")
            continue
        values[backbone, classifier] = float(score["macro_f1"])
        if not _close(cell_value, score["macro_f1"], TABLE_TOLERANCE):
            problems.append(f"cell ({backbone}, {classifier}) {cell_value} != macro_f1 "
                            f"{_num(score['macro_f1'])} of {score_rel}")
    if len(values) == len(filled) and not problems:
        for row in rows:
            expected = float(np.mean([v for (r, _), v in values.items() if r == row]))
            got = body.loc[row, "mean"]
            if not _close(got, expected, TABLE_TOLERANCE):
                problems.append(f"row mean of {row} {got} != {_num(expected)}, the mean of its cells")
        for column in columns:
            expected = float(np.mean([v for (_, c), v in values.items() if c == column]))
            if not _close(means[column], expected, TABLE_TOLERANCE):
                problems.append(f"column mean of {column} {means[column]} != {_num(expected)}, the mean "
                                f"of its cells")
        if not pd.isna(means["mean"]):
            problems.append(f"the (mean, mean) cell holds {means['mean']}, expected empty")
    sources = {cell: ((scores[cell].get("provenance") or {}).get("weights") or {}).get("source")
               for cell in filled if cell in scores}
    if len(sources) == len(filled) and None not in sources.values():
        expected = row_weights(sources)
        stated = dict(zip(table["backbone"], table["weights"]))
        for row in [*rows, "mean"]:
            if stated.get(row) != expected[row]:
                problems.append(f"row {row} says weights {stated.get(row)!r}, its score JSONs "
                                f"{expected[row]!r}")
    report.add("table", TABLE, problems, f"{len(filled)} cells equal the score JSONs' macro_f1, means agree")


# ---------------------------------------------------------------- the audit

def audit(workdir=".", rehash_images: str = "sample") -> dict:
    """Check the outputs under `workdir` against each other and against their inputs; return the report."""
    if rehash_images not in IMAGE_MODES:
        raise ValueError(f"rehash_images must be one of {IMAGE_MODES}, got {rehash_images!r}")
    workdir = Path(workdir)
    report = Report()
    parsed = read_results_table(report, workdir)
    cells = table_cells(parsed)
    backbones = list(dict.fromkeys(backbone for backbone, column in cells if column != "ensemble"))
    check_inputs(report, workdir, cells, backbones)
    report.not_in_table = [rel for rel in _output_files(workdir) if not _of_the_table(rel, set(cells), set(backbones))]
    frames = {
        RAW: _read_parquet(report, workdir, RAW, "manifest", ("image_id", "path")),
        INGEST_REJECTED: _read_parquet(report, workdir, INGEST_REJECTED, "manifest", ("image_id",)),
        CLEAN: _read_parquet(report, workdir, CLEAN, "manifest", ("image_id", "path", "sha256")),
        REJECTED: _read_parquet(report, workdir, REJECTED, "manifest", ("image_id",)),
        SAMPLE: _read_parquet(report, workdir, SAMPLE, "manifest",
                              ("image_id", "path", "sha256", "label", "split")),
    }
    sample = frames[SAMPLE]
    check_images(report, workdir, rehash_images, frames)
    check_manifest(report, workdir, frames)
    categories = None
    try:
        categories = ((read_provenance(workdir / SAMPLE) or {}).get("config") or {}).get("categories")
    except Exception:  # noqa: BLE001 — already reported by the inputs check
        pass
    check_features(report, workdir, sample, categories, backbones)
    scores = check_scores(report, workdir, sample, categories, cells)
    if parsed is not None:
        check_table(report, parsed, scores)
    return report.result(workdir, rehash_images)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="audit.py", description="Check a results folder: recorded input hashes, image hashes, scores "
                                     "recomputed from predictions, features, the manifest chain and the table.")
    parser.add_argument("workdir", nargs="?", default=".",
                        help="the folder the workflow ran in (holding results/); default: .")
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help=f"where the JSON report goes; a relative path is taken inside WORKDIR "
                             f"(default: {DEFAULT_OUT})")
    parser.add_argument("--images", choices=IMAGE_MODES, default="sample",
                        help="re-hash the images of sample.parquet (default), of clean.parquet, or none")
    parser.add_argument("--compare", metavar="ORIGINAL",
                        help="instead: compare WORKDIR, a rerun, with the ORIGINAL run's folder (or its results/) "
                             "and write results/compare.json and .md in WORKDIR (pinclass.compare)")
    parser.add_argument("--tolerance", action="append", default=[], metavar="NAME=VALUE",
                        help="with --compare: a tolerance other than its default, e.g. features=1e-4, f1=0.5, "
                             "predictions=0.9, exact=knn,lsvm (docs/reproducibility.md)")
    return parser.parse_args(argv)


def _workdir_of(path: Path) -> Path:
    """A run's workdir, given it or its results/ folder."""
    return path.parent if path.name == RESULTS and not (path / RESULTS).is_dir() else path


def main(argv=None) -> int:
    """CLI: print each problem on its own line, write the report, return 0 when all is well and 1 otherwise."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    workdir = Path(args.workdir)
    if not workdir.is_dir():
        print(f"{workdir}: not a folder", file=sys.stderr)
        return 2
    if args.compare is not None:
        return compare_main(_workdir_of(Path(args.compare)), _workdir_of(workdir), args.tolerance)
    report = audit(workdir, args.images)
    out = _resolve(workdir, args.out)
    write_json(report, out)
    for line in report["problems"]:
        print(line)
    s = report["summary"]
    print(f"audit {'passed' if report['ok'] else 'FAILED'}: {s['checks']} checks, {s['failed']} failed, "
          f"{s['problems']} problem(s), {s['images_rehashed']} image(s) and {s['inputs_rehashed']} input file(s) "
          f"re-hashed; report in {out}", file=sys.stderr)
    return 0 if report["ok"] else 1


def compare_main(original: Path, rerun: Path, tolerance_args: list[str]) -> int:
    """CLI of --compare: the lines beyond tolerance, the report's place; 0 when the runs agree."""
    try:
        tolerances = dict(map(parse_tolerance, tolerance_args))
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if not (original / RESULTS).is_dir():
        print(f"{original}: holds no {RESULTS}/ folder", file=sys.stderr)
        return 2
    report = compare(original, rerun, tolerances)
    json_path, md_path = write_report(report, rerun)
    for line in report["problems"]:
        print(line)
    files, cells = report["summary"]["files"], report["summary"]["cells"]
    print(f"comparison {'passed' if report['ok'] else 'FAILED'}: files "
          + ", ".join(f"{n} {s}" for s, n in files.items()) + "; cells "
          + ", ".join(f"{n} {s}" for s, n in cells.items() if s != "derived")
          + f"; ranking {report['ranking']['status']}; report in {md_path} and {json_path}", file=sys.stderr)
    return 0 if report["ok"] else 1
