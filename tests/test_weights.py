import hashlib
import inspect
from dataclasses import replace

import pytest

from pinclass.provenance import sha256_file
from pinclass.weights import WEIGHTS, WeightsError, fetch_weights, staged_weights, verify_weights

UNREACHABLE = "http://127.0.0.1:9/weights.h5"  # discard port: refused at once, like an offline node


def register(monkeypatch, backbone, path, url=None):
    """Make `path` the published file of `backbone`, with the algorithm the real entry uses."""
    entry = WEIGHTS[backbone]
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, entry.algo).hexdigest()
    monkeypatch.setitem(WEIGHTS, backbone, replace(entry, hash=digest, url=url or entry.url))
    return digest


def fake_file(folder, backbone, content=b"weights" * 1000):
    path = folder / WEIGHTS[backbone].file
    path.write_bytes(content)
    return path


def test_table_matches_keras_published_files():
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
def test_verify_accepts_the_published_file(tmp_path, monkeypatch, backbone):
    path = fake_file(tmp_path, backbone)
    digest = register(monkeypatch, backbone, path)
    record = verify_weights(path, backbone)
    algo = WEIGHTS[backbone].algo
    assert record == {"source": "imagenet", "file": str(path), algo: digest, "sha256": sha256_file(path)}


@pytest.mark.parametrize("backbone", ["efficientnetv2_b0", "convnext_tiny"])
@pytest.mark.parametrize("damage", ["truncated", "empty", "other"])
def test_verify_rejects_a_damaged_file(tmp_path, monkeypatch, backbone, damage):
    path = fake_file(tmp_path, backbone)
    digest = register(monkeypatch, backbone, path)
    content = path.read_bytes()
    path.write_bytes({"truncated": content[: len(content) // 2], "empty": b"",
                      "other": content[:-1] + b"X"}[damage])
    with pytest.raises(WeightsError) as error:
        verify_weights(path, backbone)
    message = str(error.value)
    assert str(path) in message and WEIGHTS[backbone].algo in message and digest in message


def test_verify_says_missing(tmp_path):
    path = tmp_path / WEIGHTS["convnext_base"].file
    with pytest.raises(WeightsError, match="missing") as error:
        verify_weights(path, "convnext_base")
    assert str(path) in str(error.value) and WEIGHTS["convnext_base"].hash in str(error.value)


def test_unknown_backbone_is_named():
    with pytest.raises(WeightsError, match="resnet50"):
        verify_weights("x.h5", "resnet50")


def test_fetch_offline_explains_how_to_prestage(tmp_path, monkeypatch):
    entry = WEIGHTS["convnext_tiny"]
    monkeypatch.setitem(WEIGHTS, "convnext_tiny", replace(entry, url=UNREACHABLE))
    dest = tmp_path / "weights"
    with pytest.raises(WeightsError) as error:
        fetch_weights("convnext_tiny", dest)
    message = str(error.value)
    for part in ("offline", UNREACHABLE, str(dest / entry.file), "weights: <folder>"):
        assert part in message
    assert list(dest.iterdir()) == []


def test_fetch_keeps_a_verified_file_without_downloading(tmp_path, monkeypatch):
    path = fake_file(tmp_path, "efficientnetv2_b1")
    register(monkeypatch, "efficientnetv2_b1", path, url=UNREACHABLE)
    assert fetch_weights("efficientnetv2_b1", tmp_path) == path


def test_fetch_downloads_verifies_and_replaces_a_damaged_file(tmp_path, monkeypatch):
    source = fake_file(tmp_path, "efficientnetv2_b3")
    register(monkeypatch, "efficientnetv2_b3", source, url=source.as_uri())  # urllib reads file:// too
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / source.name).write_bytes(b"half a download")
    assert fetch_weights("efficientnetv2_b3", dest) == dest / source.name
    assert (dest / source.name).read_bytes() == source.read_bytes()
    assert [p.name for p in dest.iterdir()] == [source.name]


def test_fetch_rejects_a_wrong_download_and_leaves_nothing(tmp_path, monkeypatch):
    source = fake_file(tmp_path, "convnext_small")
    register(monkeypatch, "convnext_small", source, url=source.as_uri())
    source.write_bytes(b"something else")
    dest = tmp_path / "dest"
    with pytest.raises(WeightsError, match="not the published file"):
        fetch_weights("convnext_small", dest)
    assert list(dest.iterdir()) == []


def test_staged_weights(tmp_path, monkeypatch):
    path = fake_file(tmp_path, "convnext_base")
    register(monkeypatch, "convnext_base", path)
    assert staged_weights(tmp_path, "convnext_base") == path
    path.write_bytes(b"")
    with pytest.raises(WeightsError, match=WEIGHTS["convnext_base"].hash):
        staged_weights(tmp_path, "convnext_base")

