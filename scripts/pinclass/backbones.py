"""The ImageNet backbones as Keras feature extractors: one pooled feature vector per image.

Model input: RGB, float, values 0..255, shape (n, input_size, input_size, 3). Both families
normalise inside the model (EfficientNetV2 rescales and standardises, ConvNeXt standardises with
the ImageNet mean and std), so no `preprocess_input` is applied outside.
"""

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import h5py
import keras
from keras.src.legacy.saving import legacy_h5_format  # the writer of the ImageNet files' format

from pinclass.atomic import replace_atomically


@dataclass(frozen=True)
class Backbone:
    constructor: Callable[..., keras.Model]
    input_size: int  # the size it was trained at on ImageNet
    width: int  # length of the pooled feature vector


BACKBONES = {
    "efficientnetv2_b0": Backbone(keras.applications.EfficientNetV2B0, 224, 1280),
    "efficientnetv2_b1": Backbone(keras.applications.EfficientNetV2B1, 240, 1280),
    "efficientnetv2_b3": Backbone(keras.applications.EfficientNetV2B3, 300, 1536),
    "convnext_tiny": Backbone(keras.applications.ConvNeXtTiny, 224, 768),
    "convnext_small": Backbone(keras.applications.ConvNeXtSmall, 224, 768),
    "convnext_base": Backbone(keras.applications.ConvNeXtBase, 224, 1024),
}


def build_backbone(name: str, input_size: int, weights_path=None, seed: int | None = None,
                   fast: bool = True) -> keras.Model:
    """The backbone without its classifier, global-average pooled.

    weights_path: a weights file in the legacy Keras .h5 layout of the ImageNet no-top files, loaded
    by the constructor itself (`weights=<path>`); None means random weights drawn from `seed`.
    fast: compute ConvNeXt's grouped 7x7 convolutions as depthwise ones (see `depthwise_model`).
    """
    try:
        spec = BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; known: {sorted(BACKBONES)}") from None
    if weights_path is None and seed is None:
        raise ValueError(f"{name}: random weights need a seed, so that a run can be repeated")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    # No custom `name`: Keras derives the ImageNet file name and the layer names from the default.
    model = spec.constructor(include_top=False, weights=None if weights_path is None else str(weights_path),
                             pooling="avg", input_shape=(input_size, input_size, 3))
    width = model.output_shape[-1]
    if width != spec.width:
        raise RuntimeError(f"{name}: the model gives {width} features, the BACKBONES table says {spec.width}; "
                           f"keras {keras.__version__} builds this model differently")
    return depthwise_model(model) if fast else model


def _is_grouped_depthwise(layer) -> bool:
    # Conv2D kernel: (kh, kw, in_channels / groups, filters); one input channel per group and one
    # filter per group is exactly a depthwise convolution.
    return (isinstance(layer, keras.layers.Conv2D) and layer.groups > 1
            and layer.kernel.shape[2] == 1 and layer.groups == layer.filters)


def _as_depthwise(conv: keras.layers.Conv2D) -> keras.layers.DepthwiseConv2D:
    layer = keras.layers.DepthwiseConv2D(
        kernel_size=conv.kernel_size, strides=conv.strides, padding=conv.padding, data_format=conv.data_format,
        dilation_rate=conv.dilation_rate, activation=conv.activation, use_bias=conv.use_bias,
        dtype=conv.dtype_policy, name=conv.name)
    channels = conv.filters
    channels_last = conv.data_format == "channels_last"
    layer.build((None, None, None, channels) if channels_last else (None, channels, None, None))
    # Depthwise kernel: (kh, kw, in_channels, depth_multiplier=1).
    kernel = conv.kernel.numpy().swapaxes(2, 3)
    layer.set_weights([kernel, conv.bias.numpy()] if conv.use_bias else [kernel])
    return layer


def depthwise_model(model: keras.Model) -> keras.Model:
    """The same model with every Conv2D(groups=C) over C channels replaced by a DepthwiseConv2D.

    Keras builds ConvNeXt's 7x7 depthwise convolution as a grouped Conv2D, which TensorFlow runs
    through a slow grouped-convolution path on CPU (~20x slower than its depthwise kernel). The
    weights are copied unchanged; all other layers, and their weights, are shared with `model`.
    Models without such layers (EfficientNetV2) come back as they are.
    """
    if not any(_is_grouped_depthwise(layer) for layer in model.layers):
        return model
    return keras.models.clone_model(
        model, clone_function=lambda layer: _as_depthwise(layer) if _is_grouped_depthwise(layer) else layer)


def save_legacy_weights(model: keras.Model, path) -> None:
    """Write the weights in the legacy Keras .h5 layout of the ImageNet no-top files, so that any
    weights (e.g. random ones) can go through exactly the loading path the real files take.

    Save the model as Keras builds it (`fast=False`): the depthwise kernels of a converted ConvNeXt
    are laid out differently and would not load into Keras' ConvNeXt.
    """
    path = str(path)
    if not path.endswith(".h5") or path.endswith(".weights.h5"):
        raise ValueError(f"{path}: a legacy weights file needs the suffix .h5 but not .weights.h5 "
                         "(Keras reads .weights.h5 as its newer format)")
    if model.name.startswith("convnext") and any(isinstance(layer, keras.layers.DepthwiseConv2D)
                                                 for layer in model.layers):
        raise ValueError(f"{model.name} is the converted (fast) model; save the one built with fast=False")

    def write(tmp):
        with h5py.File(tmp, "w") as f, warnings.catch_warnings():
            # Keras' legacy saver converts variables with np.array(), which NumPy 2 warns about
            # once per variable (thousands of lines); the values written are unaffected.
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            legacy_h5_format.save_weights_to_hdf5_group(f, model)

    replace_atomically(path, write)
