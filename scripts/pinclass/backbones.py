"""Backbones as Keras feature extractors: one pooled feature vector per image.

A backbone is a config entry (schemas/config.schema.yaml, `backbones.<name>`): a keras.applications
model class, built with include_top=False and pooling="avg", and how its input is prepared. Model
input: RGB, float, values 0..255, shape (n, input_size, input_size, 3). The paper's six normalise
inside the model (EfficientNetV2 rescales and standardises, ConvNeXt standardises with the
ImageNet mean and std), so their `preprocess` is `none`; a model that expects its module's
`preprocess_input` (ResNet50: `resnet50`) gets it as the model's first layer.
"""

import warnings

import h5py
import keras
from keras.src.legacy.saving import legacy_h5_format  # the writer of the ImageNet files' format

from pinclass.atomic import replace_atomically


def build_backbone(spec: dict, input_size: int, weights_path=None, seed: int | None = None,
                   fast: bool = True) -> keras.Model:
    """The backbone of config entry `spec` (`model`, `preprocess`, optional `width`), without its
    classifier, global-average pooled.

    weights_path: a weights file in the legacy Keras .h5 layout of the ImageNet no-top files, loaded
    by the constructor itself (`weights=<path>`); None means random weights drawn from `seed`.
    fast: compute ConvNeXt's grouped 7x7 convolutions as depthwise ones (see `depthwise_model`).
    """
    constructor = getattr(keras.applications, spec["model"], None)
    if not callable(constructor):
        raise ValueError(f"keras.applications {keras.__version__} has no model {spec['model']!r} "
                         "(backbones.<name>.model names a class such as ConvNeXtTiny or ResNet50)")
    if weights_path is None and seed is None:
        raise ValueError(f"{spec['model']}: random weights need a seed, so that a run can be repeated")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    # No custom `name`: Keras derives the ImageNet file name and the layer names from the default.
    model = constructor(include_top=False, weights=None if weights_path is None else str(weights_path),
                        pooling="avg", input_shape=(input_size, input_size, 3))
    width = model.output_shape[-1]
    if "width" in spec and width != spec["width"]:
        raise RuntimeError(f"{spec['model']}: the model gives {width} features, its config entry says "
                           f"{spec['width']}; keras {keras.__version__} builds this model differently")
    model = depthwise_model(model) if fast else model
    preprocess = spec.get("preprocess", "none")
    if preprocess == "none":
        return model
    module = getattr(keras.applications, preprocess, None)
    if not hasattr(module, "preprocess_input"):
        raise ValueError(f"backbones.<name>.preprocess: keras.applications.{preprocess} has no preprocess_input")
    inputs = keras.Input((input_size, input_size, 3))
    return keras.Model(inputs, model(keras.layers.Lambda(module.preprocess_input)(inputs)))


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
