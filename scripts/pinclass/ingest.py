"""Ingest: list every image file of a crawl tree or a manifest CSV as raw.parquet rows.

Files that cannot become raw rows (undecodable names, images outside pin folders, broken links,
non-image files in pin folders) become ingest rejections with a reason, so that every file found
ends up in clean.parquet or rejected.parquet exactly once. Oddities that are not image files
(empty pin folders, malformed board files, symlink loops, stray files) are counted and listed in
the ingest summary.
"""

import hashlib
import os
from pathlib import Path

import pandas as pd

from pinclass.boards import BOARD_FILE, USER_BOARDS_FILE, board_categories

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
PIN_INFO_FILE = "pin.json"
SNAKEMAKE_MARKER = ".snakemake_timestamp"  # Snakemake's stamp in a directory() output (the demo crawl)
RAW_COLUMNS = ["image_id", "path", "user", "board", "pin_id", "category", "bytes"]
REJECTED_COLUMNS = ["image_id", "path", "category", "reason", "detail"]
# Listed in the summary in full up to this many entries each; counts are always complete.
SUMMARY_LIST_LIMIT = 100


def image_id(path: str) -> str:
    """Stable id from the path relative to the data root (the same pin may sit in several boards)."""
    return hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def printable(path: str) -> str:
    """A path safe to store as UTF-8: undecodable bytes shown as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


class _Collector:
    def __init__(self):
        self.raw, self.rejected = [], []
        self.notes = {key: [] for key in
                      ("empty_pin_folders", "malformed_board_files", "symlink_loops", "stray_files")}
        self.counts = {"users": 0, "boards": 0, "pins": 0}

    def note(self, key, value):
        self.notes[key].append(value)

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


def _subdirs_and_files(path: Path, rel: str, seen: set, out: _Collector):
    """Entries of one folder, directory symlinks followed once (a loop is noted, not followed)."""
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
            real = os.path.realpath(entry.path)
            if real in seen:
                out.note("symlink_loops", printable(entry_rel))
                continue
            dirs.append((entry, entry_rel))
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
    out.raw.append({"image_id": image_id(rel), "path": rel, "user": user, "board": board,
                    "pin_id": pin, "category": category, "bytes": size})


def ingest_crawl(root) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Walk <root>/<user>/<board>/<pin_id>/<image>; return (raw, rejected, summary)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data.root {root} is not a folder")
    out = _Collector()
    seen = {os.path.realpath(root)}
    users, root_files = _subdirs_and_files(root, "", seen, out)
    _stray(root_files, out, allowed={SNAKEMAKE_MARKER})
    for user_entry, user in users:
        seen.add(os.path.realpath(user_entry.path))
        out.counts["users"] += 1
        boards, user_files = _subdirs_and_files(Path(user_entry.path), user, seen, out)
        _stray(user_files, out, allowed={USER_BOARDS_FILE})
        categories, problems = board_categories(Path(user_entry.path), [entry.name for entry, _ in boards])
        for problem in problems:
            out.note("malformed_board_files", f"{printable(problem['file'])}: {problem['problem']}")
        for board_entry, board_rel in boards:
            seen.add(os.path.realpath(board_entry.path))
            out.counts["boards"] += 1
            board, category = board_entry.name, categories[board_entry.name]
            pins, board_files = _subdirs_and_files(Path(board_entry.path), board_rel, seen, out)
            _stray(board_files, out, allowed={BOARD_FILE}, category=category)
            for pin_entry, pin_rel in pins:
                seen.add(os.path.realpath(pin_entry.path))
                out.counts["pins"] += 1
                nested, files = _subdirs_and_files(Path(pin_entry.path), pin_rel, seen, out)
                for _, nested_rel in nested:
                    out.note("stray_files", f"{printable(nested_rel)} (folder inside a pin folder)")
                images = [(e, r) for e, r in files if e.name != PIN_INFO_FILE]
                if not images:
                    out.note("empty_pin_folders", printable(pin_rel))
                for entry, rel in images:
                    if is_image_name(entry.name):
                        _add_image(entry, rel, user, board, pin_entry.name, category, out)
                    else:
                        out.reject(rel, category, "not_image_name",
                                   f"extension {Path(entry.name).suffix or '(none)'} is not an image type")
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


def ingest_manifest(csv_path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Read a manifest CSV (path, category[, user, board, pin_id]); paths relative to its folder."""
    csv_path = Path(csv_path)
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    missing = {"path", "category"} - set(table.columns)
    if missing:
        raise ValueError(f"manifest {csv_path} lacks column(s) {sorted(missing)}; it needs path and category")
    base = csv_path.parent
    out = _Collector()
    seen_ids = set()
    for number, row in enumerate(table.to_dict("records"), start=1):
        rel, category = row["path"], row["category"] or None
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
        out.raw.append({"image_id": image_id(rel), "path": rel, "user": row.get("user", ""),
                        "board": row.get("board", ""), "pin_id": row.get("pin_id", ""),
                        "category": category, "bytes": full.stat().st_size})
    return _frames(out)


def _frames(out: _Collector):
    raw = pd.DataFrame(out.raw, columns=RAW_COLUMNS).astype(
        {c: "string" for c in RAW_COLUMNS if c != "bytes"} | {"bytes": "int64"})
    raw = raw.sort_values("path", kind="stable").reset_index(drop=True)
    rejected = pd.DataFrame(out.rejected, columns=REJECTED_COLUMNS).astype("string")
    rejected = rejected.sort_values("path", kind="stable").reset_index(drop=True)
    return raw, rejected, out.summary()


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
        paths = sorted(Path(folder) / name for folder, _, names in os.walk(data["root"]) for name in names)
    for path in paths:
        try:
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
        except OSError:
            digest.update(f"{path}\0missing\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def data_root(data: dict) -> Path:
    """The folder raw paths are relative to: the crawl root, or the manifest CSV's folder."""
    return Path(data["manifest"]).parent if data.get("manifest") else Path(data["root"])


def ingest(data: dict):
    """Dispatch on the config's data block (a manifest wins over a crawl root)."""
    return ingest_manifest(data["manifest"]) if data.get("manifest") else ingest_crawl(data["root"])
