"""Which device a TensorFlow job runs on: the policy (`extract.device` for extraction,
`classifiers.nn.device` for the NN's classify jobs) against what the scheduler granted and what
TensorFlow can see. A job holding a GPU never runs on the CPU in silence.

`auto`: the GPUs granted to the job (CUDA_VISIBLE_DEVICES names devices, as SLURM and the local GPU
slots set it) when TensorFlow sees them; the CPU, with GPUs hidden, when none was granted (a laptop,
a CPU node, a workstation run without `--resources gpu=N`: no job takes a GPU nobody gave it); a
stop when one was granted but TensorFlow sees none. `gpu`: a stop whenever TensorFlow sees none.
`cpu`: GPUs hidden from TensorFlow.
"""

import ctypes
import os
import platform
from dataclasses import dataclass

from pinclass.machine import cpu

POLICIES = ("auto", "gpu", "cpu")
GPU_INSTALL = ("install the GPU build: `make GPU=1 setup` (requirements-gpu.txt, Linux x86_64) or run with "
               "`--sdm conda` (envs/extract.yaml); see docs/running.md, \"GPUs\"")


class DeviceError(RuntimeError):
    """The job was granted or required a GPU that TensorFlow cannot use."""


@dataclass(frozen=True)
class Facts:
    """What decides the device, gathered once per job (`gather_facts`)."""

    granted: tuple[str, ...]  # GPU ids the scheduler granted this job; () when none
    gpus_seen: int  # GPUs TensorFlow lists
    cuda_build: bool  # TensorFlow was built with CUDA (tensorflow, not tensorflow-cpu)
    driver_found: bool  # libcuda.so.1, the NVIDIA driver's library, loads
    build: str  # e.g. "tensorflow-cpu 2.21.0" or "tensorflow 2.21.0 (CUDA 12.5, cuDNN 9)"


def granted_gpus(environ=os.environ) -> tuple[str, ...]:
    """The GPU ids in CUDA_VISIBLE_DEVICES (set by SLURM for a job granted GPUs, and by the local GPU
    slots); () when it is unset, empty or hides every device ("-1", SLURM's "NoDevFiles")."""
    ids = tuple(part.strip() for part in environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if part.strip())
    return () if ids in ((), ("-1",), ("NoDevFiles",)) else ids


def extraction_policy(device: str, runtime: str) -> str:
    """The policy an extraction job runs under: extract.device, except that the OpenVINO runtime
    runs on the CPU (its job asks for no GPU and hides any; config validation refuses device gpu)."""
    return "cpu" if runtime == "openvino" else device


def classifier_policy(settings: dict) -> str:
    """The policy of a classify job: its classifier's `device` setting (the NN has one), else 'cpu'."""
    return settings.get("device", "cpu")


def choose(policy: str, facts: Facts, key: str = "extract.device", rule: str = "extract") -> str:
    """'gpu' or 'cpu' for `policy` (the config value at `key`, for jobs of `rule`), or DeviceError
    naming why a granted or required GPU is unusable."""
    if policy not in POLICIES:
        raise ValueError(f"{key} must be one of {POLICIES}, not {policy!r}")
    if policy == "cpu" or (policy == "auto" and not facts.granted):
        return "cpu"
    if facts.gpus_seen:
        return "gpu"
    held = f"this job was granted GPU {','.join(facts.granted)}" if facts.granted else "no GPU was granted"
    raise DeviceError(f"{key} is '{policy}' and {held}, but TensorFlow sees no GPU: {cause(facts, rule)}. "
                      "Stopping rather than running on the CPU.")


def settle(policy: str, log, key: str = "extract.device", rule: str = "extract") -> dict:
    """A TensorFlow job's device: the facts gathered and logged, `choose` applied and `use`d, the
    device logged and returned. A DeviceError is logged and ends the job (exit status 1) before it
    does any work. Call it after CUDA_VISIBLE_DEVICES is final."""
    facts = gather_facts()
    log.info("%s; GPUs granted: %s; GPUs TensorFlow sees: %d; policy %s=%s", facts.build,
             ",".join(facts.granted) or "none", facts.gpus_seen, key, policy)
    try:
        device = use(choose(policy, facts, key, rule))
    except DeviceError as error:
        log.error("%s", error)
        raise SystemExit(1) from None
    log.info("running on %s: %s", device["kind"], device["name"])
    return device


def cause(facts: Facts, rule: str = "extract") -> str:
    """The first reason, in the order a user can fix them, why TensorFlow sees no GPU."""
    if not facts.cuda_build:
        return f"{facts.build} is a CPU-only build; {GPU_INSTALL}"
    if not facts.driver_found:
        return ("the NVIDIA driver library libcuda.so.1 cannot be loaded on this node (no driver installed, "
                "or not on the library path)")
    if not facts.granted:
        return (f"no GPU was granted to the job: submit it to a GPU partition (profiles/slurm: set-resources "
                f"{rule}) or, on a workstation, declare the GPUs with `--resources gpu=N`")
    return (f"{facts.build} could not load the CUDA libraries (see TensorFlow's 'Cannot dlopen some GPU "
            f"libraries' above); {GPU_INSTALL}")


def gather_facts(environ=os.environ) -> Facts:
    """Ask TensorFlow and the system what decides the device. Imports TensorFlow: call it after
    CUDA_VISIBLE_DEVICES is final."""
    import tensorflow as tf

    info = build_info()
    return Facts(granted=granted_gpus(environ), gpus_seen=len(tf.config.list_physical_devices("GPU")),
                 cuda_build=info["is_cuda_build"], driver_found=_driver_loads(), build=describe_build(info))


def build_info() -> dict:
    """TensorFlow's distribution, version and CUDA/cuDNN build versions, for the log and provenance."""
    from importlib import metadata

    import tensorflow as tf

    raw = tf.sysconfig.get_build_info()
    distribution = next((name for name in ("tensorflow", "tensorflow-cpu", "tensorflow_cpu")
                         if _installed(metadata, name)), "tensorflow")
    return {"distribution": distribution, "version": tf.__version__,
            "is_cuda_build": bool(raw.get("is_cuda_build", False)),
            "cuda_version": raw.get("cuda_version"), "cudnn_version": raw.get("cudnn_version")}


def describe_build(info: dict) -> str:
    text = f"{info['distribution']} {info['version']}"
    if info["is_cuda_build"]:
        text += f" (CUDA {info['cuda_version']}, cuDNN {info['cudnn_version']})"
    return text


def use(device: str) -> dict:
    """Make TensorFlow run on `device` and describe it: GPUs get memory growth (so jobs sharing a
    node do not each reserve all GPU memory); 'cpu' hides every GPU. Returns the record stamped
    into the features file."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if device == "cpu":
        tf.config.set_visible_devices([], "GPU")
        return {"kind": "cpu", "name": cpu_name()}
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    names = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus]
    return {"kind": "gpu", "name": ", ".join(names), "count": len(gpus)}


def cpu_name() -> str:
    return cpu()["model"]


def _installed(metadata, name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def _driver_loads() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True
