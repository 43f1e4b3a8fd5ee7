"""What TensorFlow sees on this node: `python -m pinclass.doctor` (or `make doctor`, or the workflow's
rule doctor, which runs where extraction would run).

It reports TensorFlow's build and the CUDA libraries installed beside it, each device TensorFlow sees
with a one-second matmul loop on it (GFLOP/s), the NVIDIA driver (`nvidia-smi`), the CPU's vector
features (AVX2, AVX-512, bf16, AMX; NEON, SVE, bf16 on ARM), OpenVINO's devices where it is
installed, and SLURM's presence. Exit status 0, or 1 when a GPU is expected (`--expect-gpu`, or
`--device gpu`, or `--device auto` in a job granted GPUs) and none works, with the cause.

    srun --gpus=1 .venv/bin/python -m pinclass.doctor --expect-gpu
"""

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from pinclass import devices

# CUDA 12.x minor-version compatibility: the oldest Linux driver the CUDA 12 wheels run on, and the
# first driver of CUDA 12.9 (12.9 GA; the pinned nvidia-*-cu12 wheels are 12.9 Update 1's, which
# shipped 575.57.08: same CUDA 12.9 driver API and PTX ISA 8.8). Between the two, the libraries run
# with the older driver's feature set, and PTX newer than the driver cannot be JIT-compiled by it.
MIN_DRIVER = "525.60.13"
CUDA_12_9_DRIVER = "575.51.03"
MATMUL_SIZE = {"CPU": 1024, "GPU": 4096}


@dataclass
class Measurement:
    device: str  # TensorFlow's logical name, e.g. /device:GPU:0
    kind: str  # CPU or GPU
    description: str
    gflops: float | None = None
    runs: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def works(self) -> bool:
        return self.error is None and self.gflops is not None


@dataclass
class Findings:
    lines: list[str] = field(default_factory=list)
    problem: str | None = None  # why a GPU that was expected does not work

    def add(self, text: str = "") -> None:
        self.lines.append(text)


# --- parsing (pure functions: tested on fixed strings) ---------------------------------------------

def parse_driver_version(text: str) -> str | None:
    """The driver version in `nvidia-smi` output: its banner ("Driver Version: 575.51.03") or
    `--query-gpu=driver_version,... --format=csv,noheader` lines ("575.51.03, NVIDIA H200, ...")."""
    match = re.search(r"Driver Version:\s*(\d+(?:\.\d+)+)", text)
    if match:
        return match.group(1)
    match = re.search(r"^\s*(\d+\.\d+(?:\.\d+)?)\s*(?:,|$)", text, flags=re.M)
    return match.group(1) if match else None


def parse_driver_cuda(text: str) -> str | None:
    """The newest CUDA version the driver supports, from the `nvidia-smi` banner ("CUDA Version: 12.9")."""
    match = re.search(r"CUDA Version:\s*(\d+\.\d+)", text)
    return match.group(1) if match else None


def parse_gpu_list(text: str) -> list[str]:
    """GPU names from `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader`."""
    return [", ".join(part.strip() for part in line.split(",")) for line in text.splitlines() if line.strip()]


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def driver_verdict(version: str) -> str:
    """What a driver version means for the pinned CUDA 12.9 wheels."""
    if version_tuple(version) < version_tuple(MIN_DRIVER):
        return (f"too old for the CUDA 12 libraries: they need >= {MIN_DRIVER} (CUDA 12.x minor-version "
                f"compatibility); {CUDA_12_9_DRIVER} or newer is CUDA 12.9's own driver")
    if version_tuple(version) < version_tuple(CUDA_12_9_DRIVER):
        return (f"runs the CUDA 12.9 libraries through minor-version compatibility (>= {MIN_DRIVER}); "
                f"CUDA 12.9's own driver is {CUDA_12_9_DRIVER}: if a GPU computation fails with a PTX or "
                "'unsupported toolchain' error, update the driver")
    return f"OK for the CUDA 12.9 libraries (>= {CUDA_12_9_DRIVER}, CUDA 12.9's own driver)"


def parse_cpuinfo_flags(text: str) -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo: x86's `flags` line or ARM's `Features` line."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def parse_sysctl_features(text: str) -> set[str]:
    """macOS: the names of the `hw.optional.*` features set to 1 in `sysctl hw.optional`, as lowercase
    flags in /proc/cpuinfo's spelling where one exists (avx2, avx512f, avx512_bf16, bf16, asimd, sve)."""
    aliases = {"avx2_0": "avx2", "avx512bf16": "avx512_bf16", "arm.feat_bf16": "bf16", "neon": "asimd",
               "arm.feat_sve": "sve", "arm.feat_sme": "sme", "arm.feat_i8mm": "i8mm"}
    found = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if value.strip() == "1" and key.strip().startswith("hw.optional."):
            name = key.strip().removeprefix("hw.optional.").lower()
            found.add(aliases.get(name, name))
    return found


def cpu_features(flags: set[str], machine: str) -> dict[str, bool]:
    """The features that matter here, by name: what TensorFlow's and OpenVINO's CPU kernels use."""
    if machine.lower() in ("arm64", "aarch64"):
        return {"NEON": "asimd" in flags, "SVE": "sve" in flags, "bf16": "bf16" in flags, "SME": "sme" in flags}
    return {"AVX2": "avx2" in flags, "AVX-512": "avx512f" in flags,
            "bf16": bool({"avx512_bf16", "amx_bf16"} & flags), "AMX": "amx_tile" in flags}


def expects_gpu(expect_gpu: bool, policy: str | None, granted: tuple[str, ...]) -> bool:
    """Whether a GPU must work: asked on the command line, or the device policy (`extract.device`)
    would stop without one (`gpu`; `auto` in a job granted GPUs, see pinclass.devices)."""
    return expect_gpu or policy == "gpu" or (policy == "auto" and bool(granted))


# --- gathering ------------------------------------------------------------------------------------

def run_command(*command: str, timeout: float = 20) -> str | None:
    """A command's stdout, or None when it is missing, fails or hangs."""
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def read_cpu_flags() -> set[str]:
    if sys.platform == "darwin":
        return parse_sysctl_features(run_command("sysctl", "hw.optional") or "")
    try:
        return parse_cpuinfo_flags(Path("/proc/cpuinfo").read_text())
    except OSError:
        return set()


def cuda_wheels() -> list[str]:
    """The NVIDIA CUDA libraries installed as wheels (requirements-gpu.txt), name and version."""
    found = {dist.metadata["Name"]: dist.version for dist in metadata.distributions()
             if (dist.metadata["Name"] or "").lower().startswith("nvidia-")}
    return [f"{name} {version}" for name, version in sorted(found.items())]


def measure(tf, device: str, kind: str, description: str, seconds: float) -> Measurement:
    """Float32 n×n matmuls on `device` for about `seconds`; each result is reduced to a scalar and
    fetched, so the time includes the device finishing its work."""
    result = Measurement(device, kind, description)
    n = MATMUL_SIZE.get(kind, 1024)
    try:
        with tf.device(device):
            a = tf.random.uniform((n, n), dtype=tf.float32)
            b = tf.random.uniform((n, n), dtype=tf.float32)
            step = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
            float(step(a, b))  # trace, compile and warm up
            start = time.perf_counter()
            while True:
                float(step(a, b))
                result.runs += 1
                result.seconds = time.perf_counter() - start
                if result.seconds >= seconds:
                    break
        result.gflops = 2 * n**3 * result.runs / result.seconds / 1e9
    except Exception as error:  # any failure on a device is a finding, not a crash of the doctor
        result.error = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
    return result


def tensorflow_section(out: Findings, seconds: float, threads: int | None) -> tuple[list[Measurement], dict]:
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    info = devices.build_info()
    out.add(f"TensorFlow: {devices.describe_build(info)}"
            + ("" if info["is_cuda_build"] else " (a CPU-only build)"))
    if info["is_cuda_build"]:
        out.add(f"  built with CUDA {info['cuda_version']}, cuDNN {info['cudnn_version']}")
    wheels = cuda_wheels()
    out.add(f"  CUDA libraries installed: {', '.join(wheels) if wheels else 'none (no nvidia-* wheels)'}")
    physical = tf.config.list_physical_devices()
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):
            pass
    measurements = []
    out.add(f"Devices TensorFlow sees ({len(physical)}), float32 {MATMUL_SIZE['CPU']}² (CPU) / "
            f"{MATMUL_SIZE['GPU']}² (GPU) matmuls for {seconds:g} s each:")
    for index, device in enumerate(physical):
        kind = device.device_type
        if kind == "GPU":
            details = tf.config.experimental.get_device_details(device)
            capability = details.get("compute_capability")
            description = details.get("device_name", device.name) + (
                f", compute capability {capability[0]}.{capability[1]}" if capability else "")
        else:
            description = devices.cpu_name()
        logical = f"/device:{kind}:{device.name.rsplit(':', 1)[-1]}"
        measurement = measure(tf, logical, kind, description, seconds)
        measurements.append(measurement)
        result = (f"{measurement.gflops:,.1f} GFLOP/s ({measurement.runs} runs in {measurement.seconds:.2f} s)"
                  if measurement.works else f"FAILED: {measurement.error}")
        out.add(f"  {logical}  {description}: {result}")
    if not any(m.kind == "GPU" for m in measurements):
        out.add("  no GPU")
    elif tf.config.experimental.tensor_float_32_execution_enabled():
        out.add("  (GPU float32 matmuls use TF32 tensor cores where the GPU has them: TensorFlow's default)")
    return measurements, info


def driver_section(out: Findings) -> tuple[str | None, list[str]]:
    """The NVIDIA driver as nvidia-smi reports it: (version or None, GPU names)."""
    banner = run_command("nvidia-smi")
    if banner is None:
        where = "not on PATH" if shutil.which("nvidia-smi") is None else "failed"
        out.add(f"NVIDIA driver: nvidia-smi {where} (no NVIDIA driver here, or not visible to this process)")
        return None, []
    version = parse_driver_version(banner)
    gpus = parse_gpu_list(run_command("nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader") or "")
    cuda = parse_driver_cuda(banner)
    out.add(f"NVIDIA driver: {version or 'unknown version'}" + (f" (supports CUDA up to {cuda})" if cuda else ""))
    if version:
        out.add(f"  {driver_verdict(version)}")
    out.add(f"  GPUs nvidia-smi lists: {'; '.join(gpus) if gpus else 'none'}")
    return version, gpus


def cpu_section(out: Findings) -> None:
    machine = platform.machine()
    flags = read_cpu_flags()
    features = cpu_features(flags, machine)
    known = "" if flags else " (could not read the CPU's flags: shown as no)"
    out.add(f"CPU: {devices.cpu_name()} ({machine}), {os.cpu_count()} logical cores, "
            f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} usable here")
    out.add("  features: " + ", ".join(f"{name} {'yes' if present else 'no'}" for name, present in features.items())
            + known)


def openvino_section(out: Findings) -> None:
    try:
        import openvino as ov
    except ImportError:
        out.add("OpenVINO: not installed (extract.runtime: openvino is unavailable here; see requirements-common.txt)")
        return
    core = ov.Core()
    out.add(f"OpenVINO {ov.get_version().split('-')[0]}: devices {', '.join(core.available_devices) or 'none'}")
    for device in core.available_devices:
        try:
            name = core.get_property(device, "FULL_DEVICE_NAME")
            capabilities = ", ".join(core.get_property(device, "OPTIMIZATION_CAPABILITIES"))
        except Exception as error:  # a device plugin that cannot answer is reported, not fatal
            out.add(f"  {device}: {type(error).__name__}: {error}")
            continue
        out.add(f"  {device}: {name} ({capabilities})")


def slurm_section(out: Findings, environ=os.environ) -> None:
    tools = {tool: shutil.which(tool) for tool in ("sinfo", "srun")}
    found = [f"{tool} at {path}" for tool, path in tools.items() if path]
    job = environ.get("SLURM_JOB_ID")
    text = "; ".join(found) if found else "sinfo and srun not on PATH"
    if job:
        gpus = environ.get("SLURM_JOB_GPUS") or environ.get("SLURM_STEP_GPUS") or environ.get("SLURM_GPUS_ON_NODE")
        text += f"; inside SLURM job {job}" + (f" (GPUs {gpus})" if gpus else " (no GPUs in the job's environment)")
    else:
        text += "; not inside a SLURM job (SLURM_JOB_ID unset)"
    out.add(f"SLURM: {text}")


def gpu_problem(measurements: list[Measurement], info: dict, driver: str | None, smi_gpus: list[str],
                environ=os.environ) -> str | None:
    """None when a GPU works, else the first cause a user can act on."""
    gpus = [m for m in measurements if m.kind == "GPU"]
    if any(m.works for m in gpus):
        return None
    if gpus:
        failure = gpus[0].error
        hint = f" NVIDIA driver {driver}: {driver_verdict(driver)}." if driver else ""
        return f"TensorFlow lists {len(gpus)} GPU(s) but a computation on them failed ({failure}).{hint}"
    facts = devices.Facts(granted=devices.granted_gpus(environ), gpus_seen=0, cuda_build=info["is_cuda_build"],
                          driver_found=devices._driver_loads(), build=devices.describe_build(info))
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if not facts.cuda_build or not facts.driver_found:
        return devices.cause(facts)
    if visible is not None and not facts.granted:
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU from this process"
    if driver and version_tuple(driver) < version_tuple(MIN_DRIVER):
        return f"NVIDIA driver {driver}: {driver_verdict(driver)}"
    if not smi_gpus and not facts.granted:
        return ("no GPU on this node (nvidia-smi lists none) and none granted: run it on a GPU node, e.g. "
                "`srun --gpus=1 .venv/bin/python -m pinclass.doctor --expect-gpu`")
    return devices.cause(facts)


def diagnose(expect_gpu: bool = False, policy: str | None = None, seconds: float = 1.0,
             threads: int | None = None, environ=os.environ) -> Findings:
    out = Findings()
    out.add(f"pinclass doctor on {platform.node()}: {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}")
    granted = devices.granted_gpus(environ)
    out.add(f"GPUs granted (CUDA_VISIBLE_DEVICES): {','.join(granted) or 'none'}")
    measurements, info = tensorflow_section(out, seconds, threads)
    driver, smi_gpus = driver_section(out)
    cpu_section(out)
    openvino_section(out)
    slurm_section(out, environ)
    problem = gpu_problem(measurements, info, driver, smi_gpus, environ)
    expected = expects_gpu(expect_gpu, policy, granted)
    if problem is None:
        out.add("Verdict: OK, a GPU works" + (" (expected)" if expected else ""))
    elif expected:
        out.problem = problem
        why = "--expect-gpu" if expect_gpu else f"the device policy is '{policy}'" + (
            f" and GPU {','.join(granted)} was granted" if policy == "auto" else "")
        out.add(f"Verdict: FAILED: a GPU was expected ({why}) but none works: {problem}")
    else:
        out.add(f"Verdict: OK, no GPU expected; no GPU works here: {problem}")
    return out


def run(expect_gpu: bool = False, policy: str | None = None, seconds: float = 1.0, threads: int | None = None,
        output: str | None = None, echo=print) -> int:
    """Diagnose, print (`echo`) and optionally write the report; the exit status."""
    findings = diagnose(expect_gpu, policy, seconds, threads)
    text = "\n".join(findings.lines) + "\n"
    for line in findings.lines:
        echo(line)
    if output:
        from pinclass.atomic import replace_atomically

        replace_atomically(output, lambda tmp: Path(tmp).write_text(text))
    return 1 if findings.problem else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pinclass.doctor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--expect-gpu", action="store_true",
                        help="exit 1, with the cause, unless a GPU works (make GPU=1 doctor)")
    parser.add_argument("--device", choices=devices.POLICIES, default=None,
                        help="judge as extraction with this extract.device would: gpu (or auto in a job granted "
                             "GPUs) expects a GPU")
    parser.add_argument("--seconds", type=float, default=1.0, help="matmul time per device (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow's CPU threads (default: all)")
    parser.add_argument("--output", help="also write the report to this file")
    args = parser.parse_args(argv)
    status = run(args.expect_gpu, args.device, args.seconds, args.threads, args.output)
    if status:
        print("pinclass doctor: a GPU was expected but none works (see the Verdict line)", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
