"""The doctor (python -m pinclass.doctor, make doctor, rule doctor): what it reads from nvidia-smi,
/proc/cpuinfo and sysctl (on fixed strings), when it expects a GPU, and what it says on this machine."""

import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, run_snakemake, small_config
from pinclass import doctor
from pinclass.doctor import Measurement

NVIDIA_SMI_BANNER = """\
Thu Dec  3 14:00:00 2026
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 575.51.03              Driver Version: 575.51.03      CUDA Version: 12.9     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
|   0  NVIDIA H200                    On  |   00000000:18:00.0 Off |                    0 |
+-----------------------------------------+------------------------+----------------------+
"""
NVIDIA_SMI_CSV = "535.183.01, NVIDIA A100-SXM4-80GB, 81920 MiB\n535.183.01, NVIDIA A100-SXM4-80GB, 81920 MiB\n"
CPUINFO_X86 = """\
processor	: 0
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Platinum 8480+
flags		: fpu vme sse sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
bugs		: spectre_v1
"""
CPUINFO_X86_AVX2_ONLY = "model name\t: AMD EPYC\nflags\t\t: fpu sse2 avx avx2 fma\n"
CPUINFO_AARCH64 = """\
processor	: 0
BogoMIPS	: 2000.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid sve bf16 i8mm
CPU implementer	: 0x41
"""
SYSCTL_APPLE_M2 = """\
hw.optional.arm.FEAT_BF16: 1
hw.optional.arm.FEAT_I8MM: 1
hw.optional.arm.FEAT_SME: 0
hw.optional.arm.FEAT_SVE: 0
hw.optional.neon: 1
hw.optional.floatingpoint: 1
"""
SYSCTL_INTEL_MAC = "hw.optional.avx1_0: 1\nhw.optional.avx2_0: 1\nhw.optional.avx512f: 0\nhw.optional.x86_64: 1\n"


def test_the_driver_version_is_read_from_the_banner_or_the_csv_query():
    assert doctor.parse_driver_version(NVIDIA_SMI_BANNER) == "575.51.03"
    assert doctor.parse_driver_cuda(NVIDIA_SMI_BANNER) == "12.9"
    assert doctor.parse_driver_version(NVIDIA_SMI_CSV) == "535.183.01"
    assert doctor.parse_driver_version("470.82\n") == "470.82"
    assert doctor.parse_gpu_list(NVIDIA_SMI_CSV) == ["535.183.01, NVIDIA A100-SXM4-80GB, 81920 MiB"] * 2
    for nothing in ("", "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."):
        assert doctor.parse_driver_version(nothing) is None and doctor.parse_driver_cuda(nothing) is None


def test_the_driver_is_judged_against_cuda_12_minor_version_compatibility():
    assert doctor.driver_verdict("520.61.05").startswith("too old for the CUDA 12 libraries: they need >= 525.60.13")
    assert doctor.driver_verdict("525.60.13").startswith("runs the CUDA 12.9 libraries through minor-version")
    assert doctor.driver_verdict("535.183.01").startswith("runs the CUDA 12.9 libraries through minor-version")
    assert doctor.driver_verdict("575.51.03").startswith("OK for the CUDA 12.9 libraries")
    assert doctor.driver_verdict("580.95.05").startswith("OK")


def test_cpu_features_from_proc_cpuinfo():
    assert doctor.cpu_features(doctor.parse_cpuinfo_flags(CPUINFO_X86), "x86_64") == {
        "AVX2": True, "AVX-512": True, "bf16": True, "AMX": True}
    assert doctor.cpu_features(doctor.parse_cpuinfo_flags(CPUINFO_X86_AVX2_ONLY), "x86_64") == {
        "AVX2": True, "AVX-512": False, "bf16": False, "AMX": False}
    assert doctor.cpu_features(doctor.parse_cpuinfo_flags(CPUINFO_AARCH64), "aarch64") == {
        "NEON": True, "SVE": True, "bf16": True, "SME": False}
    assert doctor.parse_cpuinfo_flags("processor\t: 0\n") == set()


def test_cpu_features_from_macos_sysctl():
    assert doctor.cpu_features(doctor.parse_sysctl_features(SYSCTL_APPLE_M2), "arm64") == {
        "NEON": True, "SVE": False, "bf16": True, "SME": False}
    assert doctor.cpu_features(doctor.parse_sysctl_features(SYSCTL_INTEL_MAC), "x86_64") == {
        "AVX2": True, "AVX-512": False, "bf16": False, "AMX": False}


def test_a_gpu_is_expected_when_asked_or_when_extraction_would_stop_without_one():
    assert doctor.expects_gpu(True, None, ())
    assert not doctor.expects_gpu(False, None, ("0",))
    assert doctor.expects_gpu(False, "gpu", ())
    assert doctor.expects_gpu(False, "auto", ("0",)) and not doctor.expects_gpu(False, "auto", ())
    assert not doctor.expects_gpu(False, "cpu", ("0",))


CUDA_BUILD = {"distribution": "tensorflow", "version": "2.21.0", "is_cuda_build": True,
              "cuda_version": "12.5.1", "cudnn_version": "9"}
CPU_BUILD = {"distribution": "tensorflow-cpu", "version": "2.21.0", "is_cuda_build": False,
             "cuda_version": None, "cudnn_version": None}


def test_the_cause_when_no_gpu_works(monkeypatch):
    cpu = Measurement("/device:CPU:0", "CPU", "a CPU", gflops=50.0, runs=10, seconds=1.0)
    failed = Measurement("/device:GPU:0", "GPU", "NVIDIA H200",
                         error="InternalError: CUDA_ERROR_UNSUPPORTED_PTX_VERSION")
    working = Measurement("/device:GPU:0", "GPU", "NVIDIA H200", gflops=4e5, runs=90, seconds=1.0)
    assert doctor.gpu_problem([cpu, working], CUDA_BUILD, "575.51.03", ["NVIDIA H200"], {}) is None
    problem = doctor.gpu_problem([cpu, failed], CUDA_BUILD, "535.183.01", ["NVIDIA H200"], {})
    assert "a computation on them failed (InternalError: CUDA_ERROR_UNSUPPORTED_PTX_VERSION)" in problem
    assert "NVIDIA driver 535.183.01: runs the CUDA 12.9 libraries through minor-version compatibility" in problem
    assert "is a CPU-only build; install the GPU build" in doctor.gpu_problem([cpu], CPU_BUILD, None, [], {})
    monkeypatch.setattr(doctor.devices, "_driver_loads", lambda: False)
    assert "libcuda.so.1 cannot be loaded" in doctor.gpu_problem([cpu], CUDA_BUILD, None, [], {})
    monkeypatch.setattr(doctor.devices, "_driver_loads", lambda: True)
    granted = {"CUDA_VISIBLE_DEVICES": "0"}
    assert doctor.gpu_problem([cpu], CUDA_BUILD, "520.61.05", ["NVIDIA H200"], granted).startswith(
        "NVIDIA driver 520.61.05: too old for the CUDA 12 libraries: they need >= 525.60.13")
    assert doctor.gpu_problem([cpu], CUDA_BUILD, "575.51.03", [], {"CUDA_VISIBLE_DEVICES": "-1"}) == (
        "CUDA_VISIBLE_DEVICES='-1' hides every GPU from this process")
    assert doctor.gpu_problem([cpu], CUDA_BUILD, None, [], {}).startswith("no GPU on this node (nvidia-smi lists none)")
    libraries = doctor.gpu_problem([cpu], CUDA_BUILD, "575.51.03", ["NVIDIA H200"], granted)
    assert "could not load the CUDA libraries" in libraries


def doctor_command(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pinclass.doctor", "--seconds", "0.2", *args],
                          capture_output=True, text=True, timeout=300, cwd=REPO)


no_gpu_here = pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has an NVIDIA driver")


@no_gpu_here
def test_here_the_doctor_reports_the_cpu_and_no_gpu_and_exits_0(tmp_path):
    result = doctor_command("--output", str(tmp_path / "doctor.txt"))
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    out = result.stdout
    assert (tmp_path / "doctor.txt").read_text() == out
    assert re.search(r"^TensorFlow: tensorflow(-cpu)? 2\.21\.0", out, flags=re.M)
    assert re.search(r"^  /device:CPU:0  .*: [\d,.]+ GFLOP/s \(\d+ runs in ", out, flags=re.M)
    assert "\n  no GPU\n" in out and "NVIDIA driver: nvidia-smi not on PATH" in out
    features = re.search(r"^  features: (.*)$", out, flags=re.M).group(1)
    arm = doctor.platform.machine() in ("arm64", "aarch64")
    names = ("NEON", "SVE", "bf16") if arm else ("AVX2", "AVX-512", "bf16")
    assert all(re.search(rf"\b{re.escape(name)} (yes|no)\b", features) for name in names), features
    assert re.search(r"^OpenVINO( [\d.]+: devices .*| ?: not installed.*)$", out, flags=re.M)
    assert re.search(r"^SLURM: .*(not inside a SLURM job|inside SLURM job)", out, flags=re.M)
    assert re.search(r"^Verdict: OK, no GPU expected; no GPU works here: \S", out, flags=re.M)


@no_gpu_here
def test_with_expect_gpu_the_doctor_exits_1_with_the_cause():
    result = doctor_command("--expect-gpu")
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    verdict = re.search(r"^Verdict: FAILED: a GPU was expected \(--expect-gpu\) but none works: (.+)$",
                        result.stdout, flags=re.M)
    assert verdict, result.stdout
    if "tensorflow-cpu" in result.stdout:  # this venv's CPU build: the first cause a user can fix
        assert "tensorflow-cpu 2.21.0 is a CPU-only build; install the GPU build: `make GPU=1 setup`" in (
            verdict.group(1))
    assert "a GPU was expected but none works" in result.stderr


def test_make_doctor_expects_a_gpu_with_gpu_1():
    def plan(*args):
        # --no-print-directory: under `make test` this make is a sub-make, which would add "Leaving directory"
        return subprocess.run(["make", "--no-print-directory", "-n", *args, "doctor"], cwd=REPO, capture_output=True,
                              text=True, timeout=60).stdout.splitlines()[-1]

    assert plan() == ".venv/bin/python -m pinclass.doctor "
    assert plan("GPU=1") == ".venv/bin/python -m pinclass.doctor --expect-gpu"


def doctor_config(device: str, runtime: str = "tensorflow") -> dict:
    config = small_config()
    config["extract"] = {**config["extract"], "device": device, "runtime": runtime, "gpus": 1}
    return config


@pytest.mark.parametrize("device, runtime, gpus", [("auto", "tensorflow", "1"), ("gpu", "tensorflow", "1"),
                                                    ("cpu", "tensorflow", "0"), ("auto", "openvino", "0")])
def test_the_doctor_rule_asks_for_the_gpus_an_extraction_job_would(tmp_path, device, runtime, gpus):
    plan = run_snakemake(tmp_path, doctor_config(device, runtime), "-n", "--cores", "2", "doctor")
    assert plan.returncode == 0, plan.stdout[-2000:] + plan.stderr[-2000:]
    assert re.search(r"resources: .*\bgpu=(\d+)", plan.stdout.split("rule doctor:")[1]).group(1) == gpus


@no_gpu_here
def test_the_doctor_rule_fails_with_the_cause_where_extraction_would_stop(tmp_path):
    result = run_snakemake(tmp_path, doctor_config("gpu"), "--cores", "2", "doctor")
    assert result.returncode != 0, result.stdout[-2000:]
    log = (tmp_path / "logs/doctor/doctor.log").read_text()
    assert "Verdict: FAILED: a GPU was expected (the device policy is 'gpu') but none works: " in log
    assert "a GPU was expected (extract.device 'gpu') but none works" in log
    assert not (tmp_path / "results/doctor.txt").exists()
