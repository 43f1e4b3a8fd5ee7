"""The machine a step runs on, as far as its results can depend on it (the provenance's `machine`).
Imports nothing heavy: every rule's provenance reads it."""

import platform

# The vector extensions that change floating-point results (the kernels TensorFlow, OpenVINO and
# BLAS choose by them sum in other orders): /proc/cpuinfo's names, x86 and ARM.
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
              "avx512_fp16", "amx_tile", "amx_bf16", "asimd", "asimddp", "sve", "sve2", "bf16", "i8mm")


def cpu() -> dict:
    """{"model", "simd": the SIMD_FLAGS this CPU has (None where /proc/cpuinfo is not there)}."""
    model, flags = None, None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model") and model is None:
                    model = value.strip()
                elif key in ("flags", "Features") and flags is None:
                    flags = set(value.split())
    except OSError:
        pass
    return {"model": model or platform.processor() or platform.machine(),
            "simd": None if flags is None else [flag for flag in SIMD_FLAGS if flag in flags]}


def machine() -> dict:
    """Architecture, system, CPU and its vector extensions: a rerun elsewhere may differ in the last
    bits (docs/reproducibility.md)."""
    return {"arch": platform.machine(), "system": platform.system(), **cpu()}
