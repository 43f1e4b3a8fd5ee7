"""Getting a backbone's ImageNet no-top weights file onto disk, verified against the hash Keras
publishes (file, URL and hash are the backbone's `weights` config entry). Keras' own cache (~/.keras) is never used: Keras deletes a cached
file whose hash is wrong and downloads it again, which a compute node without internet cannot do."""

import hashlib
import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pinclass.atomic import replace_atomically
from pinclass.provenance import sha256_file

DOWNLOAD_TIMEOUT_S = 60  # per socket operation, not for the whole file


@dataclass(frozen=True)
class WeightsFile:
    """A backbone's `weights` config entry: file name, where it is published, and its hash as Keras
    publishes it (`md5:...` for the EfficientNetV2 files, `sha256:...` for ConvNeXt)."""

    file: str
    url: str
    algo: str  # md5 or sha256
    hash: str

    @classmethod
    def from_entry(cls, entry: dict) -> "WeightsFile":
        algo, _, digest = entry["hash"].partition(":")
        return cls(entry["file"], entry["url"], algo, digest)


class WeightsError(RuntimeError):
    """A weights file is missing, damaged, not the published one, or cannot be downloaded."""


def verify_weights(path, entry: WeightsFile, backbone: str) -> dict:
    """Check a file against the published hash; return the record that provenance carries."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file for {backbone} is missing: {path} "
                           f"(expected {entry.algo} {entry.hash}, published at {entry.url})")
    sha256 = sha256_file(path)
    if entry.algo == "sha256":
        actual = sha256
    else:
        with open(path, "rb") as f:
            actual = hashlib.file_digest(f, entry.algo).hexdigest()
    if actual != entry.hash:
        raise WeightsError(f"weights file {path} ({path.stat().st_size} bytes) for {backbone} is truncated or "
                           f"not the published file: {entry.algo} expected {entry.hash}, actual {actual}")
    return {"source": "imagenet", "file": str(path), entry.algo: entry.hash, "sha256": sha256}


def fetch_weights(entry: WeightsFile, backbone: str, dest_dir) -> Path:
    """dest_dir/<file>, downloaded once and verified; a file there that does not verify is replaced."""
    dest = Path(dest_dir) / entry.file
    try:
        verify_weights(dest, entry, backbone)
        return dest
    except WeightsError as problem:
        local = f" The file already there was rejected: {problem}" if dest.exists() else ""

    def download_and_verify(tmp):
        try:
            with urllib.request.urlopen(entry.url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(tmp, "wb") as out:
                while block := response.read(1 << 20):
                    out.write(block)
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as error:
            raise WeightsError(
                f"cannot download the ImageNet weights of {backbone} from {entry.url}: {error}. "
                f"This machine seems to be offline. Pre-stage the file: download {entry.url} on a machine "
                f"with internet and put it at {dest}, or set config `weights: <folder>` to a folder holding "
                f"the files under their published names ({entry.file} here).{local}"
            ) from error
        try:
            verify_weights(tmp, entry, backbone)
        except WeightsError as error:
            raise WeightsError(f"the download from {entry.url} is not the published file: {error}") from None

    replace_atomically(dest, download_and_verify)
    return dest


def staged_weights(folder, entry: WeightsFile, backbone: str) -> Path:
    """The verified file of a pre-staged folder (config `weights: <folder>`)."""
    path = Path(folder) / entry.file
    verify_weights(path, entry, backbone)
    return path
