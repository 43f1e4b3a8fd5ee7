"""Ingest: list every image file of a crawl tree or a manifest CSV as raw.parquet rows.

Files that cannot become raw rows (undecodable names, images outside pin folders, broken links,
non-image files in pin folders) become ingest rejections with a reason, so that every file found
ends up in clean.parquet or rejected.parquet exactly once. Oddities that are not image files
(empty pin folders, malformed board files, symlink loops, stray files) are counted and listed in
the ingest summary.
"""

import hashlib
import os
from array import array
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pinclass.boards import BOARD_FILE, USER_BOARDS_FILE, board_categories

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
PIN_INFO_FILE = "pin.json"
SNAKEMAKE_MARKER = ".snakemake_timestamp"  # Snakemake's stamp in a directory() output (the demo crawl)
RAW_COLUMNS = ["image_id", "path", "user", "board", "pin_id", "category", "bytes"]
STRING_COLUMNS = RAW_COLUMNS[:-1]
BATCH_ROWS = 10_000  # raw rows gathered as Python objects before they become Arrow arrays
REJECTED_COLUMNS = ["image_id", "path", "category", "reason", "detail"]
# Listed in the summary in full up to this many entries each; counts are always complete.
SUMMARY_LIST_LIMIT = 100


def image_id(path: str) -> str:
    """Stable id from the path relative to the data root (the same pin may sit in several boards)."""
    return hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def printable(path: str) -> str:
    """A path safe to store as UTF-8: undecodable bytes shown as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def suffix(name: str) -> str:
    """A file name's extension, by pathlib's rule (`Path(name).suffix`) without building a Path."""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def is_image_name(name: str) -> bool:
    return suffix(name).lower() in IMAGE_EXTENSIONS


class _Collector:
    """What ingest found. Raw rows, most of a crawl's memory, are gathered a batch at a time and
    each full batch becomes Arrow string arrays (the table's own storage), so Python objects are
    held for at most BATCH_ROWS rows and never for the whole crawl."""

    def __init__(self):
        self.batch = {column: [] for column in STRING_COLUMNS}
        self.chunks = {column: [] for column in STRING_COLUMNS}
        self.sizes = array("q")
        self.rejected = []
        self.notes = {key: [] for key in
                      ("empty_pin_folders", "malformed_board_files", "symlink_loops", "stray_files")}
        self.counts = {"users": 0, "boards": 0, "pins": 0}

    def note(self, key, value):
        self.notes[key].append(value)

    def add(self, rel, user, board, pin, category, size):
        for column, value in zip(STRING_COLUMNS, (image_id(rel), rel, user, board, pin, category)):
            self.batch[column].append(value)
        self.sizes.append(size)
        if len(self.batch["path"]) >= BATCH_ROWS:
            self.flush()

    def flush(self):
        for column, values in self.batch.items():
            if values:
                self.chunks[column].append(pa.array(values, type=pa.large_string()))
                values.clear()

    def raw_frame(self) -> pd.DataFrame:
        """The raw rows sorted by path, their strings in the Arrow chunks already built (no copy)."""
        self.flush()
        table = pa.table({column: pa.chunked_array(self.chunks[column], type=pa.large_string())
                          for column in STRING_COLUMNS} | {"bytes": pa.array(np.array(self.sizes, dtype=np.int64))})
        self.chunks, self.sizes = {column: [] for column in STRING_COLUMNS}, array("q")
        if not in_path_order(table["path"]):  # a crawl's walk is in path order already
            table = table.take(pc.sort_indices(table["path"]))  # stable
        return table.to_pandas(types_mapper={pa.large_string(): pd.StringDtype()}.get)

    def reject(self, rel, category, reason, detail):
        shown = printable(rel)
        self.rejected.append({"image_id": image_id(rel), "path": shown, "category": category,
                              "reason": reason, "detail": detail})

    def summary(self) -> dict:
        out = dict(self.counts)
        for key, values in self.notes.items():
            out[key] = len(values)
            out[f"{key}_list"] = sorted(values)[:SUMMARY_LIST_LIMIT]
        return out


def _subdirs_and_files(path: str, real: str, rel: str, seen: set, out: _Collector):
    """Entries of one folder, directory symlinks followed once (a loop is noted, not followed).

    `real` is the folder's resolved path; subfolders come as (entry, rel, resolved path). Only a
    symbolic link needs os.path.realpath (a dozen system calls): a plain subfolder resolves to
    `real`/name.
    """
    dirs, files = [], []
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError as error:
        out.note("stray_files", f"{printable(rel)} (unreadable folder: {error.strerror})")
        return dirs, files
    for entry in entries:
        entry_rel = f"{rel}/{entry.name}" if rel else entry.name
        try:
            is_dir = entry.is_dir()
        except OSError:  # ELOOP on a self-referencing link
            is_dir = False
        if is_dir:
            entry_real = os.path.realpath(entry.path) if entry.is_symlink() else os.path.join(real, entry.name)
            if entry_real in seen:
                out.note("symlink_loops", printable(entry_rel))
                continue
            dirs.append((entry, entry_rel, entry_real))
        else:
            files.append((entry, entry_rel))
    return dirs, files


def _add_image(entry, rel, user, board, pin, category, out: _Collector):
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        out.reject(rel, category, "bad_filename", "file or folder name is not valid UTF-8")
        return
    if entry.is_symlink() and not os.path.exists(entry.path):
        out.reject(rel, category, "broken_link", f"symbolic link to a missing target or a loop: {entry.path}")
        return
    try:
        size = entry.stat().st_size
    except OSError as error:
        out.reject(rel, category, "unreadable", f"cannot stat: {error.strerror}")
        return
    out.add(rel, user, board, pin, category, size)


def ingest_crawl(root) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Walk <root>/<user>/<board>/<pin_id>/<image>; return (raw, rejected, summary)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data.root {root} is not a folder")
    out = _Collector()
    root_real = os.path.realpath(root)
    seen = {root_real}
    users, root_files = _subdirs_and_files(str(root), root_real, "", seen, out)
    _stray(root_files, out, allowed={SNAKEMAKE_MARKER})
    for user_entry, user, user_real in users:
        seen.add(user_real)
        out.counts["users"] += 1
        boards, user_files = _subdirs_and_files(user_entry.path, user_real, user, seen, out)
        _stray(user_files, out, allowed={USER_BOARDS_FILE})
        categories, problems = board_categories(Path(user_entry.path), [entry.name for entry, _, _ in boards])
        for problem in problems:
            out.note("malformed_board_files", f"{printable(problem['file'])}: {problem['problem']}")
        for board_entry, board_rel, board_real in boards:
            seen.add(board_real)
            out.counts["boards"] += 1
            board, category = board_entry.name, categories[board_entry.name]
            pins, board_files = _subdirs_and_files(board_entry.path, board_real, board_rel, seen, out)
            _stray(board_files, out, allowed={BOARD_FILE}, category=category)
            for pin_entry, pin_rel, pin_real in pins:
                seen.add(pin_real)
                out.counts["pins"] += 1
                nested, files = _subdirs_and_files(pin_entry.path, pin_real, pin_rel, seen, out)
                for _, nested_rel, _ in nested:
                    out.note("stray_files", f"{printable(nested_rel)} (folder inside a pin folder)")
                images = [(e, r) for e, r in files if e.name != PIN_INFO_FILE]
                if not images:
                    out.note("empty_pin_folders", printable(pin_rel))
                for entry, rel in images:
                    if is_image_name(entry.name):
                        _add_image(entry, rel, user, board, pin_entry.name, category, out)
                    else:
                        out.reject(rel, category, "not_image_name",
                                   f"extension {suffix(entry.name) or '(none)'} is not an image type")
    return _frames(out)


def ingest_folder(root) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Every image file under any folder (a prediction set's `images`), unlabelled: its subfolder
    relative to root is its board ("." for files at the top), its file name without extension its
    pin. Other files are noted as stray, not rejected: a folder may hold anything."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"images folder {root} is not a folder")
    out = _Collector()
    root_real = os.path.realpath(root)
    pending = [(str(root), root_real, "")]
    seen = {root_real}
    while pending:
        path, real, rel = pending.pop()
        folders, files = _subdirs_and_files(path, real, rel, seen, out)
        for entry, entry_rel in files:
            if is_image_name(entry.name):
                _add_image(entry, entry_rel, "", rel or ".", entry.name[:len(entry.name) - len(suffix(entry.name))],
                           None, out)
            else:
                out.note("stray_files", printable(entry_rel))
        for entry, entry_rel, entry_real in reversed(folders):
            seen.add(entry_real)
            pending.append((entry.path, entry_real, entry_rel))
    return _frames(out)


def _stray(files, out: _Collector, allowed=frozenset(), category=None):
    """Files outside pin folders: images there are rejected (misplaced), anything else is noted."""
    for entry, rel in files:
        if entry.name in allowed:
            continue
        if is_image_name(entry.name):
            out.reject(rel, category, "misplaced_file", "image outside a pin folder (<user>/<board>/<pin_id>/)")
        else:
            out.note("stray_files", printable(rel))


def ingest_manifest(csv_path, labelled: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Read a manifest CSV (path, category[, user, board, pin_id]); paths relative to its folder.
    labelled=False (a prediction set): the category column may be absent."""
    csv_path = Path(csv_path)
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    needed = {"path", "category"} if labelled else {"path"}
    missing = needed - set(table.columns)
    if missing:
        raise ValueError(f"manifest {csv_path} lacks column(s) {sorted(missing)}; it needs {' and '.join(sorted(needed))}")
    base = csv_path.parent
    out = _Collector()
    seen_ids = set()
    for number, row in enumerate(table.to_dict("records"), start=1):
        rel, category = row["path"], row.get("category") or None
        if not rel:
            out.note("stray_files", f"{csv_path} row with an empty path")
            continue
        if image_id(rel) in seen_ids:  # its own id: the first listing keeps the path's id
            out.rejected.append({"image_id": image_id(f"{rel}\0row {number}"), "path": printable(rel),
                                 "category": category, "reason": "duplicate_entry",
                                 "detail": f"path listed again on data row {number} of the manifest"})
            continue
        seen_ids.add(image_id(rel))
        full = base / rel
        if not full.is_file():
            out.reject(rel, category, "missing_file", f"{full} does not exist or is not a file")
            continue
        out.add(rel, row.get("user", ""), row.get("board", ""), row.get("pin_id", ""), category, full.stat().st_size)
    return _frames(out)


def _frames(out: _Collector):
    rejected = pd.DataFrame(out.rejected, columns=REJECTED_COLUMNS).astype("string")
    return out.raw_frame(), sort_by_path(rejected), out.summary()


def in_path_order(paths) -> bool:
    """Whether a string column is already sorted (compared in Arrow: no Python string per row)."""
    paths = pa.array(paths) if not isinstance(paths, pa.ChunkedArray) else paths
    return len(paths) < 2 or pc.all(pc.less_equal(paths[:-1], paths[1:])).as_py()


def sort_by_path(table: pd.DataFrame) -> pd.DataFrame:
    """Rows in path order (stable), index 0..n-1; no copy of a table already in that order."""
    if not in_path_order(table["path"]):
        table = table.sort_values("path", kind="stable")
    return table.reset_index(drop=True)


def listing_fingerprint(data: dict) -> str:
    """A hash of every file's path, size and mtime under the data: it changes when an image does.

    Snakemake sees only the crawl folder's own mtime, which a changed image deep inside does not
    touch; carried in ingest's params, this hash makes such a change rerun ingest and what follows.
    """
    digest = hashlib.sha256()
    if data.get("manifest"):
        listed = pd.read_csv(data["manifest"], dtype=str, keep_default_na=False).get("path", [])
        paths = [Path(data["manifest"])] + [Path(data["manifest"]).parent / p for p in listed]
    else:
        paths = sorted(Path(folder) / name for folder, _, names in os.walk(data_root(data)) for name in names)
    for path in paths:
        try:
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
        except OSError:
            digest.update(f"{path}\0missing\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def data_root(data: dict) -> Path:
    """The folder raw paths are relative to: the crawl root, the manifest CSV's folder, or a
    prediction set's images folder."""
    if data.get("manifest"):
        return Path(data["manifest"]).parent
    return Path(data.get("images") or data["root"])


def ingest(data: dict, labelled: bool = True):
    """Dispatch on the config's data block or a prediction set's entry (a manifest wins over a crawl
    root); labelled=False: a prediction set's, whose manifest needs no category column."""
    if data.get("manifest"):
        return ingest_manifest(data["manifest"], labelled)
    return ingest_folder(data["images"]) if data.get("images") else ingest_crawl(data["root"])
