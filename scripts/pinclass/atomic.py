"""Atomic writers: every output appears whole under its final name or not at all."""

import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def replace_atomically(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet(data, path, metadata: dict | None = None) -> None:
    """Write a DataFrame or Arrow table, with string key-value metadata, atomically."""
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    if metadata:
        merged = dict(table.schema.metadata or {})
        merged.update({k.encode(): str(v).encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(merged)
    replace_atomically(path, lambda tmp: pq.write_table(table, tmp))


def read_metadata(path) -> dict:
    """The key-value metadata this project wrote into a Parquet file (pandas' own entry left out)."""
    raw = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items() if k != b"pandas"}


def write_json(obj, path) -> None:
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"
    replace_atomically(path, lambda tmp: Path(tmp).write_text(text))


def read_table(path) -> pd.DataFrame:
    return pd.read_parquet(path)
