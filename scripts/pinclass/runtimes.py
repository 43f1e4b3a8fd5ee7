"""How a built Keras backbone runs on fixed-size batches (`extract.runtime`).

tensorflow: the model as one compiled tf.function (CPU or GPU; float16 on a GPU with
extract.mixed_precision). openvino: the very same Keras model converted by `openvino.convert_model`
and compiled for the CPU at `extract.precision` (f32, or bf16 where the CPU has native bf16).
Either way a `Runner` maps a float32 batch (batch_size, size, size, 3) of RGB 0..255 to its features;
decoding, batching, padding and the saved chunks stay in pinclass.extraction.
"""

import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

RUNTIMES = ("tensorflow", "openvino")
PRECISIONS = ("f32", "bf16")
_TF_RUNNERS = weakref.WeakKeyDictionary()  # model → its runner: one trace per model and batch shape


class UnsupportedPrecision(RuntimeError):
    """extract.precision asks for arithmetic this CPU does not have natively."""


class RuntimeUnavailable(UnsupportedPrecision):
    """extract.runtime names a runtime that is not installed here. A kind of UnsupportedPrecision so
    that the callers that stop cleanly on a setting this machine cannot run (scripts/extract.py) stop
    as cleanly on this one: a message, no traceback."""


OPENVINO_INSTALL = ("requirements-common.txt installs it on Linux x86_64 and macOS arm64; on Linux aarch64 "
                    "(glibc >= 2.35) `pip install openvino==2026.4.1 openvino-telemetry==2025.2.0`")


def import_openvino():
    """The openvino module, or RuntimeUnavailable naming the setting that asked for it."""
    try:
        import openvino
    except ImportError as error:
        raise RuntimeUnavailable(f"extract.runtime is 'openvino' but OpenVINO cannot be imported here ({error}); "
                                 f"{OPENVINO_INSTALL}, or set extract.runtime: tensorflow") from None
    return openvino


@dataclass(frozen=True)
class Runner:
    run: Callable[[np.ndarray], np.ndarray]  # a full batch → its features, float32 (batch, width)
    width: int


def tensorflow_runner(model) -> Runner:
    """`model` as a compiled tf.function, traced once per model and input shape."""
    import tensorflow as tf

    if model not in _TF_RUNNERS:
        infer = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        _TF_RUNNERS[model] = Runner(lambda batch: np.asarray(infer(tf.constant(batch)), dtype=np.float32),
                                    model.output_shape[-1])
    return _TF_RUNNERS[model]


def check_precision(precision: str, capabilities: Sequence[str], cpu: str = "this CPU") -> None:
    """Refuse bf16 on a CPU whose OpenVINO capabilities lack BF16: the hint would not be honoured
    (emulated or dropped), so the features would not be what their metadata says."""
    if precision not in PRECISIONS:
        raise ValueError(f"extract.precision must be one of {PRECISIONS}, not {precision!r}")
    if precision == "bf16" and "BF16" not in capabilities:
        raise UnsupportedPrecision(
            f"extract.precision is 'bf16' but {cpu} has no native bf16 (OpenVINO CPU capabilities: "
            f"{', '.join(capabilities)}); set extract.precision: f32, or run on a CPU with AVX512_BF16 or AMX")


def openvino_runner(model, batch_size: int, precision: str, threads: int,
                    capabilities: Sequence[str] | None = None) -> Runner:
    """`model` converted to OpenVINO, reshaped to the fixed batch and compiled for the CPU.

    The precision and thread count are always given: without a hint OpenVINO silently runs bf16 on
    CPUs that have it, and takes every core of the node. `capabilities`: the CPU's, asked of
    OpenVINO when None (a test passes a list).
    """
    ov = import_openvino()
    core = ov.Core()
    if capabilities is None:
        capabilities = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    check_precision(precision, capabilities, core.get_property("CPU", "FULL_DEVICE_NAME"))
    with warnings.catch_warnings():  # Keras complains that the converter's trace call passes a tuple
        warnings.filterwarnings("ignore", "The structure of `inputs` doesn't match", UserWarning)
        converted = ov.convert_model(model)
    converted.reshape([batch_size, *model.input_shape[1:]])
    compiled = core.compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": precision,
                                                     "INFERENCE_NUM_THREADS": threads})
    used = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    if used != precision:
        raise UnsupportedPrecision(f"OpenVINO compiled the model for {used}, not the {precision} asked for")
    # One synchronous request: async requests and CPU_DENORMALS_OPTIMIZATION measured no gain on
    # 2 cores (docs/benchmarks.md), and decoding already overlaps in the extraction's threads.
    request = compiled.create_infer_request()
    return Runner(lambda batch: np.asarray(request.infer(batch)[0], dtype=np.float32), model.output_shape[-1])


def make_runner(runtime: str, model, batch_size: int, precision: str, threads: int) -> Runner:
    """The runner of `extract.runtime` for a built backbone."""
    if runtime == "tensorflow":
        if precision != "f32":  # TensorFlow's float16 is extract.mixed_precision, set on Keras' policy
            raise ValueError(f"extract.precision {precision!r} needs extract.runtime 'openvino'")
        return tensorflow_runner(model)
    if runtime == "openvino":
        return openvino_runner(model, batch_size, precision, threads)
    raise ValueError(f"extract.runtime must be one of {RUNTIMES}, not {runtime!r}")
