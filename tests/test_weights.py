import hashlib
import inspect
from dataclasses import replace

import pytest

from conftest import PAPER_BACKBONES
from pinclass.provenance import sha256_file
from pinclass.weights import WeightsError, WeightsFile, fetch_weights, staged_weights, verify_weights

WEIGHTS = {name: WeightsFile.from_entry(entry["weights"]) for name, entry in PAPER_BACKBONES.items()}

UNREACHABLE = "http://127.0.0.1:9/weights.h5"  # discard port: refused at once, like an offline node


def published(backbone, path, url=None):
    """`backbone`'s weights entry with `path` as the published file (the real entry's algorithm)."""
    entry = WEIGHTS[backbone]
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, entry.algo).hexdigest()
    return replace(entry, hash=digest, url=url or entry.url)


def fake_file(folder, backbone, content=b"weights" * 1000):
    path = folder / WEIGHTS[backbone].file
    path.write_bytes(content)
    return path


def test_the_config_entries_match_keras_published_files():
    import keras
    from keras.src.applications import convnext, efficientnet_v2

    published = {
        "efficientnetv2_b0": (keras.applications.EfficientNetV2B0, efficientnet_v2, "b0"),
        "efficientnetv2_b1": (keras.applications.EfficientNetV2B1, efficientnet_v2, "b1"),
        "efficientnetv2_b3": (keras.applications.EfficientNetV2B3, efficientnet_v2, "b3"),
        "convnext_tiny": (keras.applications.ConvNeXtTiny, convnext, "convnext_tiny"),
        "convnext_small": (keras.applications.ConvNeXtSmall, convnext, "convnext_small"),
        "convnext_base": (keras.applications.ConvNeXtBase, convnext, "convnext_base"),
    }
    assert set(WEIGHTS) == set(published)
    for backbone, (constructor, module, variant) in published.items():
        entry = WEIGHTS[backbone]
        # Keras names the no-top file after the model's default name and checks it with this hash.
        assert entry.file == inspect.signature(constructor).parameters["name"].default + "_notop.h5"
        assert entry.url == module.BASE_WEIGHTS_PATH + entry.file
        assert entry.hash == module.WEIGHTS_HASHES[variant][1]
        assert entry.algo == ("sha256" if len(entry.hash) == 64 else "md5")


@pytest.mark.parametrize("backbone", ["efficientnetv2_b0", "convnext_tiny"])  # md5 and sha256
def test_verify_accepts_the_published_file(tmp_path, backbone):
    path = fake_file(tmp_path, backbone)
    entry = published(backbone, path)
    record = verify_weights(path, entry, backbone)
    assert record == {"source": "imagenet", "file": str(path), entry.algo: entry.hash, "sha256": sha256_file(path)}


@pytest.mark.parametrize("backbone", ["efficientnetv2_b0", "convnext_tiny"])
@pytest.mark.parametrize("damage", ["truncated", "empty", "other"])
def test_verify_rejects_a_damaged_file(tmp_path, backbone, damage):
    path = fake_file(tmp_path, backbone)
    entry = published(backbone, path)
    content = path.read_bytes()
    path.write_bytes({"truncated": content[: len(content) // 2], "empty": b"",
                      "other": content[:-1] + b"X"}[damage])
    with pytest.raises(WeightsError) as error:
        verify_weights(path, entry, backbone)
    message = str(error.value)
    assert str(path) in message and entry.algo in message and entry.hash in message and backbone in message


def test_verify_says_missing(tmp_path):
    path = tmp_path / WEIGHTS["convnext_base"].file
    with pytest.raises(WeightsError, match="missing") as error:
        verify_weights(path, WEIGHTS["convnext_base"], "convnext_base")
    assert str(path) in str(error.value) and WEIGHTS["convnext_base"].hash in str(error.value)


def test_fetch_offline_explains_how_to_prestage(tmp_path):
    entry = replace(WEIGHTS["convnext_tiny"], url=UNREACHABLE)
    dest = tmp_path / "weights"
    with pytest.raises(WeightsError) as error:
        fetch_weights(entry, "convnext_tiny", dest)
    message = str(error.value)
    for part in ("offline", UNREACHABLE, str(dest / entry.file), "weights: <folder>"):
        assert part in message
    assert list(dest.iterdir()) == []


def test_fetch_keeps_a_verified_file_without_downloading(tmp_path):
    path = fake_file(tmp_path, "efficientnetv2_b1")
    entry = published("efficientnetv2_b1", path, url=UNREACHABLE)
    assert fetch_weights(entry, "efficientnetv2_b1", tmp_path) == path


def test_fetch_downloads_verifies_and_replaces_a_damaged_file(tmp_path):
    source = fake_file(tmp_path, "efficientnetv2_b3")
    entry = published("efficientnetv2_b3", source, url=source.as_uri())  # urllib reads file:// too
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / source.name).write_bytes(b"half a download")
    assert fetch_weights(entry, "efficientnetv2_b3", dest) == dest / source.name
    assert (dest / source.name).read_bytes() == source.read_bytes()
    assert [p.name for p in dest.iterdir()] == [source.name]


def test_fetch_rejects_a_wrong_download_and_leaves_nothing(tmp_path):
    source = fake_file(tmp_path, "convnext_small")
    entry = published("convnext_small", source, url=source.as_uri())
    source.write_bytes(b"something else")
    dest = tmp_path / "dest"
    with pytest.raises(WeightsError, match="not the published file"):
        fetch_weights(entry, "convnext_small", dest)
    assert list(dest.iterdir()) == []


def test_staged_weights(tmp_path):
    path = fake_file(tmp_path, "convnext_base")
    entry = published("convnext_base", path)
    assert staged_weights(tmp_path, entry, "convnext_base") == path
    path.write_bytes(b"")
    with pytest.raises(WeightsError, match=entry.hash):
        staged_weights(tmp_path, entry, "convnext_base")

