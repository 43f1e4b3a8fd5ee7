"""What produced an output: config values, input hashes, seeds, code and library versions."""

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from pinclass.machine import machine

CODE_ROOT = Path(__file__).resolve().parents[1]  # scripts/: rule scripts and this package
REPO_ROOT = CODE_ROOT.parent
LIBRARIES = ("tensorflow-cpu", "tensorflow", "keras", "openvino", "scikit-learn", "numpy", "pandas", "pyarrow",
             "pillow", "snakemake")


def sha256_file(path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict:
    """Installed versions, read from package metadata so no heavy library gets imported."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def code_sha256() -> str:
    """One hash over every Python file under scripts/ (Snakemake itself tracks scripts by mtime only)."""
    digest = hashlib.sha256()
    for path in sorted(CODE_ROOT.rglob("*.py")):
        digest.update(str(path.relative_to(CODE_ROOT)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def git_state(repo: Path = REPO_ROOT) -> dict | None:
    """Commit and dirty flag of the workflow's checkout, or None outside a git checkout."""
    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout
    try:
        commit = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": commit, "dirty": dirty}


def provenance(config: dict, inputs: dict, seeds: dict | None = None, weights: dict | None = None) -> dict:
    """The provenance record every output carries (JSON key `provenance`, Parquet metadata)."""
    return {
        "config": config,
        "inputs": {name: {"path": str(path), "sha256": sha256_file(path)} for name, path in sorted(inputs.items())},
        "seeds": seeds or {},
        "weights": weights,
        "code_sha256": code_sha256(),
        "git": git_state(),
        "versions": library_versions(),
        "machine": machine(),
    }



def weights_source(records) -> str:
    """The weights source shared by the provenance records of an output's inputs, or "mixed"."""
    sources = {record["weights"]["source"] for record in records}
    return sources.pop() if len(sources) == 1 else "mixed"


def as_metadata(record: dict) -> dict:
    """A provenance record as the Parquet key-value metadata entry it travels in."""
    return {"provenance": json.dumps(record, sort_keys=True)}


def read_provenance(path):
    """The provenance record of an output: Parquet metadata or a JSON key; None when it has none."""
    from pinclass.atomic import read_metadata

    path = Path(path)
    if path.suffix == ".parquet":
        text = read_metadata(path).get("provenance")
        return None if text is None else json.loads(text)
    with open(path) as f:
        data = json.load(f)
    return data.get("provenance") if isinstance(data, dict) else None


def resolved_packages() -> str:
    """Every installed distribution as `name==version`, sorted, after the Python version and platform."""
    lines = sorted({f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()}, key=str.lower)
    return f"# python {platform.python_version()} on {platform.machine()}\n" + "\n".join(lines) + "\n"
