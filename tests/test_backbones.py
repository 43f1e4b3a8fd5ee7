import hashlib
from dataclasses import replace

import keras
import numpy as np
import pytest

from conftest import PAPER_BACKBONES
from pinclass.backbones import build_backbone, depthwise_model, save_legacy_weights
from pinclass.weights import WeightsFile, staged_weights, verify_weights

SIZE = 32  # the smallest input all six accept; keeps ConvNeXt-Base cheap
CONVNEXT_BLOCKS = {"convnext_tiny": 18, "convnext_small": 36, "convnext_base": 36}


def images(n=4, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, SIZE, SIZE, 3)).astype("float32")


def features(model, x):
    return np.asarray(model(x, training=False))  # eager call: no predict() compilation per model


def all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):  # ConvNeXt nests its stem and downsampling as Sequential models
            yield from all_layers(layer)


def grouped_convs(model):
    return [layer for layer in all_layers(model) if isinstance(layer, keras.layers.Conv2D) and layer.groups > 1]


def randomise_constants(model, rng):
    """Random init leaves biases and normalisation parameters constant and ConvNeXt's layer scale at
    1e-6, which hides whole blocks; random values make a weight that is not loaded or not copied
    change the output."""
    for variable in model.weights:
        value = variable.numpy()
        if np.all(value == value.flat[0]):
            variable.assign(rng.uniform(0.5, 1.5, value.shape).astype(value.dtype))


@pytest.fixture(scope="module", params=list(PAPER_BACKBONES))
def saved(request, tmp_path_factory):
    """(name, model built as Keras builds it, legacy .h5 file of its weights under the published name)."""
    name = request.param
    model = build_backbone(PAPER_BACKBONES[name], SIZE, seed=0, fast=False)
    randomise_constants(model, np.random.default_rng(0))
    path = tmp_path_factory.mktemp(name) / PAPER_BACKBONES[name]["weights"]["file"]
    save_legacy_weights(model, path)
    return name, model, path


def test_legacy_file_verifies_and_loads_identically(saved):
    name, model, path = saved
    entry = WeightsFile.from_entry(PAPER_BACKBONES[name]["weights"])
    with open(path, "rb") as f:
        entry = replace(entry, hash=hashlib.file_digest(f, entry.algo).hexdigest())
    assert verify_weights(path, entry, name)[entry.algo] == entry.hash

    # Another seed: only loading can make the weights equal.
    spec = PAPER_BACKBONES[name]
    loaded = build_backbone(spec, SIZE, weights_path=staged_weights(path.parent, entry, name), seed=1, fast=False)
    assert loaded.output_shape == (None, spec["width"])
    assert len(loaded.weights) == len(model.weights)
    for mine, theirs in zip(loaded.weights, model.weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy(), err_msg=mine.path)
    x = images()
    out = features(loaded, x)
    assert out.shape == (len(x), spec["width"])
    np.testing.assert_array_equal(out, features(model, x))


def test_fast_model_computes_the_same_without_grouped_convs(saved):
    name, model, _ = saved
    fast = depthwise_model(model)
    assert grouped_convs(fast) == []
    expected_blocks = CONVNEXT_BLOCKS.get(name, 0)
    assert len(grouped_convs(model)) == expected_blocks  # or the comparison below would prove nothing
    x = images(seed=1)
    assert np.abs(features(fast, x) - features(model, x)).max() <= 1e-5
    if expected_blocks:
        with pytest.raises(ValueError, match="fast=False"):
            save_legacy_weights(fast, "fast.h5")


def test_convnext_is_fast_by_default_and_seeded():
    first = build_backbone(PAPER_BACKBONES["convnext_tiny"], SIZE, seed=7)
    again = build_backbone(PAPER_BACKBONES["convnext_tiny"], SIZE, seed=7)
    other = build_backbone(PAPER_BACKBONES["convnext_tiny"], SIZE, seed=8)
    assert grouped_convs(first) == []
    x = images()
    np.testing.assert_array_equal(features(first, x), features(again, x))
    assert not np.allclose(features(first, x), features(other, x))


def test_random_weights_need_a_seed():
    with pytest.raises(ValueError, match="seed"):
        build_backbone(PAPER_BACKBONES["efficientnetv2_b0"], SIZE)


def test_unknown_model():
    with pytest.raises(ValueError, match="has no model 'ResNet5'"):
        build_backbone({"model": "ResNet5"}, SIZE, seed=0)


def test_width_is_checked():
    with pytest.raises(RuntimeError, match="1280 features, its config entry says 1000"):
        build_backbone(PAPER_BACKBONES["efficientnetv2_b0"] | {"width": 1000}, SIZE, seed=0)


def test_a_model_outside_the_paper_gets_its_modules_preprocessing():
    """ResNet50 expects caffe-style input (BGR, mean subtracted): `preprocess: resnet50` puts
    keras.applications.resnet50.preprocess_input in front of it."""
    spec = {"model": "ResNet50", "preprocess": "resnet50", "width": 2048}
    wrapped = build_backbone(spec, SIZE, seed=3)
    bare = build_backbone(spec | {"preprocess": "none"}, SIZE, seed=3)
    x = images()
    expected = features(bare, keras.applications.resnet50.preprocess_input(x.copy()))
    np.testing.assert_allclose(features(wrapped, x), expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(features(bare, x), expected)
    with pytest.raises(ValueError, match="keras.applications.nope has no preprocess_input"):
        build_backbone(spec | {"preprocess": "nope"}, SIZE, seed=3)


def test_legacy_save_refuses_the_keras3_suffix(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=".weights.h5"):
        save_legacy_weights(model, tmp_path / "x.weights.h5")
    assert list(tmp_path.iterdir()) == []
