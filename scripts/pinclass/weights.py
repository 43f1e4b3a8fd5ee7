"""The backbones' ImageNet no-top weight files: where they come from, their published hashes, and
getting them onto disk verified. Keras' own cache (~/.keras) is never used: Keras deletes a cached
file whose hash is wrong and downloads it again, which a compute node without internet cannot do."""

import hashlib
import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pinclass.atomic import replace_atomically
from pinclass.provenance import sha256_file

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications"
DOWNLOAD_TIMEOUT_S = 60  # per socket operation, not for the whole file


@dataclass(frozen=True)
class WeightsFile:
    file: str
    url: str
    algo: str  # the algorithm Keras publishes the hash with: md5 or sha256
    hash: str


def _efficientnetv2(variant: str, md5: str) -> WeightsFile:
    file = f"efficientnetv2-{variant}_notop.h5"
    return WeightsFile(file, f"{BASE_URL}/efficientnet_v2/{file}", "md5", md5)


def _convnext(size: str, sha256: str) -> WeightsFile:
    file = f"convnext_{size}_notop.h5"
    return WeightsFile(file, f"{BASE_URL}/convnext/{file}", "sha256", sha256)


# The hashes are the ones in keras/src/applications/{efficientnet_v2,convnext}.py (no-top files).
WEIGHTS = {
    "efficientnetv2_b0": _efficientnetv2("b0", "893217f2bb855e2983157299931e43ff"),
    "efficientnetv2_b1": _efficientnetv2("b1", "0e80663031ca32d657f9caa404b6ec37"),
    "efficientnetv2_b3": _efficientnetv2("b3", "f6abf7b5849ac99a89b50dd3fd532856"),
    "convnext_tiny": _convnext("tiny", "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"),
    "convnext_small": _convnext("small", "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab"),
    "convnext_base": _convnext("base", "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45"),
}


class WeightsError(RuntimeError):
    """A weights file is missing, damaged, not the published one, or cannot be downloaded."""


def weights_file(backbone: str) -> WeightsFile:
    try:
        return WEIGHTS[backbone]
    except KeyError:
        raise WeightsError(f"no ImageNet weights known for backbone {backbone!r}; "
                           f"known: {sorted(WEIGHTS)}") from None


def verify_weights(path, backbone: str) -> dict:
    """Check a file against the published hash; return the record that provenance carries."""
    entry = weights_file(backbone)
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


def fetch_weights(backbone: str, dest_dir) -> Path:
    """dest_dir/<file>, downloaded once and verified; a file there that does not verify is replaced."""
    entry = weights_file(backbone)
    dest = Path(dest_dir) / entry.file
    try:
        verify_weights(dest, backbone)
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
            verify_weights(tmp, backbone)
        except WeightsError as error:
            raise WeightsError(f"the download from {entry.url} is not the published file: {error}") from None

    replace_atomically(dest, download_and_verify)
    return dest


def staged_weights(folder, backbone: str) -> Path:
    """The verified file of a pre-staged folder (config `weights: <folder>`)."""
    path = Path(folder) / weights_file(backbone).file
    verify_weights(path, backbone)
    return path
