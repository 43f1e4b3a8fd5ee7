"""The pinned installs: every line an exact pin (with an environment marker where a platform needs
another wheel), the CPU and GPU sets agree (the conda envs: tests/test_envs.py), and each supported
platform's set resolves from the package index with every package pinned — a pin without a wheel
there fails here, not on a laptop or a cluster's GPU node.

Platforms, each at its oldest supported release: Linux x86_64 and aarch64 with glibc 2.28, macOS 12
on Apple silicon (requirements.txt), and Linux x86_64 for the CUDA set (requirements-gpu.txt). pip
evaluates environment markers against the interpreter it runs in, not against --platform, so each
platform's markers are evaluated here and pip resolves the filtered list. What is left out where
(TensorFlow on macOS x86_64, OpenVINO on Linux aarch64 below glibc 2.35) is checked to have no wheel.

The resolutions need the package index: without it they skip, except in CI (CI=true), where they fail.
"""

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from packaging.markers import Marker

from conftest import REPO
from pinned import (LINUX_AARCH64, LINUX_X86_64, MACOS_ARM64, MACOS_X86_64, Platform, normalise, pins,
                    requirement_lines)

INSTALLER_TOOLS = {"pip", "setuptools"}  # come with the virtual environment, not from our files
# The pip that resolves: newer than the venv's (23.2), it fetches only metadata on a dry run (the
# venv's downloads every wheel: gigabytes for the CUDA set). Installed into a temporary folder.
RESOLVER_PIP = "pip==26.3"
# Pins published as an sdist only: built here into a wheel that must be pure Python (then it installs
# on every platform) and offered to the resolver, which takes wheels only (--platform needs that).
SDIST_ONLY = {"connection-pool"}
RESOLVED = [("requirements.txt", LINUX_X86_64), ("requirements.txt", LINUX_AARCH64),
            ("requirements.txt", MACOS_ARM64), ("requirements-gpu.txt", LINUX_X86_64)]
# (platform, requirement named by its pin, what leaves it out, why): it must have no wheel there.
LEFT_OUT = [(MACOS_X86_64, "tensorflow", "the Makefile (the platform)", "TensorFlow 2.21 has no macOS x86_64 wheel"),
            (LINUX_AARCH64, "openvino", "a marker", "OpenVINO's aarch64 wheel needs glibc 2.35, above the set's 2.28")]


def test_every_line_is_an_exact_pin_and_each_marker_parses():
    for path in ("requirements.txt", "requirements-gpu.txt"):
        pins(path)
        for source, line in requirement_lines(path):
            if ";" in line:
                Marker(line.split(";", 1)[1])  # raises on a malformed marker


def test_cpu_and_gpu_sets_differ_only_in_the_tensorflow_build():
    cpu, gpu = pins("requirements.txt", LINUX_X86_64), pins("requirements-gpu.txt", LINUX_X86_64)
    assert "tensorflow" not in cpu and cpu.pop("tensorflow-cpu") == gpu.pop("tensorflow")
    cuda = {name for name in gpu if name not in cpu}
    assert cuda and all(name.startswith("nvidia-") for name in cuda), cuda
    assert {name: gpu[name] for name in cpu} == cpu


@pytest.mark.parametrize("platform", [LINUX_AARCH64, MACOS_ARM64], ids=lambda p: p.name)
def test_elsewhere_the_cpu_set_takes_plain_tensorflow_at_the_same_version(platform):
    here, reference = pins("requirements.txt", platform), pins("requirements.txt", LINUX_X86_64)
    assert "tensorflow-cpu" not in here and here.pop("tensorflow") == reference.pop("tensorflow-cpu")
    assert {name: version for name, version in reference.items() if name in here} == here  # nothing else differs
    left_out = set(reference) - set(here)
    assert left_out <= {"openvino", "openvino-telemetry"}, left_out


def test_make_uses_every_core_by_default_and_cores_overrides_it():
    def demo_command(*args):
        plan = subprocess.run(["make", "-n", *args, "demo"], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert plan.returncode == 0, plan.stderr
        return next(line for line in plan.stdout.splitlines() if "snakemake --cores" in line)

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert f"--cores {usable} " in demo_command()
    assert "--cores 3 " in demo_command("CORES=3")


# --- resolution against the package index --------------------------------------------------------

def pip_command(resolver, platform: Platform, *args) -> list[str]:
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--use-feature=fast-deps", "--only-binary=:all:", "--python-version", "3.11",
               "--implementation", "cp", "--abi", "cp311", "--target", str(resolver["tmp"] / "target"),
               "--find-links", str(resolver["wheels"])]
    for tag in platform.tags:
        command += ["--platform", tag]
    return command + list(args)


def run_pip(resolver, command) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=str(resolver["pip"])))


def errors(result) -> str:
    """pip's stderr without its notes on the machine's local index folders."""
    return "\n".join(line for line in result.stderr.splitlines() if "is ignored: it is neither" not in line)[-3000:]


@pytest.fixture(scope="module")
def resolver(tmp_path_factory):
    """A newer pip in a folder of its own, and the pure wheels built from the sdist-only pins."""
    tmp = tmp_path_factory.mktemp("resolver")
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(tmp / "pip"),
                                RESOLVER_PIP], capture_output=True, text=True, timeout=300)
    if installed.returncode != 0:
        reason = f"cannot install {RESOLVER_PIP} from the package index: {errors(installed)[-500:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    resolver = {"tmp": tmp, "pip": tmp / "pip", "wheels": tmp / "wheels"}
    every = pins("requirements.txt") | pins("requirements-gpu.txt")
    sdists = [f"{name}=={every[name]}" for name in sorted(SDIST_ONLY)]
    built = run_pip(resolver, [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-binary=:all:",
                               "--wheel-dir", str(resolver["wheels"]), *sdists])
    assert built.returncode == 0, errors(built)
    impure = [path.name for path in resolver["wheels"].iterdir() if not path.name.endswith("-py3-none-any.whl")]
    assert not impure, f"an sdist-only pin builds a platform wheel (needs a compiler on every machine): {impure}"
    return resolver


def filtered_requirements(resolver, path, platform: Platform):
    """The requirements that apply on `platform`, markers evaluated here, as a file for pip."""
    wanted = []
    for _, line in requirement_lines(path):
        requirement, _, marker = line.partition(";")
        if not marker or Marker(marker).evaluate(platform.markers):
            wanted.append(requirement.strip())
    filtered = resolver["tmp"] / f"{platform.name}-{path}"
    filtered.write_text("\n".join(wanted) + "\n")
    return filtered


@pytest.fixture(scope="module")
def resolutions(resolver):
    """(file, platform name) → (pip's result, its report or None): every set resolved at once, and
    each left-out requirement tried alone (no dependencies) where it is left out."""
    jobs = {}
    for path, platform in RESOLVED:
        report = resolver["tmp"] / f"{platform.name}-{path}.json"
        jobs[(path, platform.name)] = (pip_command(resolver, platform, "--report", str(report), "-r",
                                                   str(filtered_requirements(resolver, path, platform))), report)
    every = pins("requirements-gpu.txt") | pins("requirements.txt")
    for platform, name, _, _ in LEFT_OUT:
        jobs[(name, platform.name)] = (pip_command(resolver, platform, "--no-deps", f"{name}=={every[name]}"), None)
    with ThreadPoolExecutor(len(jobs)) as pool:
        results = dict(zip(jobs, pool.map(lambda job: run_pip(resolver, job[0]), jobs.values())))
    return {key: (results[key], report) for key, (_, report) in jobs.items()}


@pytest.mark.parametrize("path, platform", RESOLVED, ids=[f"{p}-{t.name}" for p, t in RESOLVED])
def test_the_set_resolves_from_the_index_with_every_package_pinned(resolutions, path, platform):
    result, report = resolutions[(path, platform.name)]
    missing = re.search(r"No matching distribution found for (\S+)", result.stderr)
    hint = (f": {missing.group(1)} has no wheel for {platform.name} (give it a marker; or, if it is published as "
            "an sdist only, add it to SDIST_ONLY)") if missing else ""
    assert result.returncode == 0, f"{path} on {platform.name}{hint}:\n{errors(result)}"
    installed = {normalise(item["metadata"]["name"]): item["metadata"]["version"]
                 for item in json.loads(report.read_text())["install"]}
    wanted = pins(path, platform)
    unpinned = {name: version for name, version in installed.items()
                if name not in INSTALLER_TOOLS and wanted.get(name) != version}
    assert not unpinned, f"resolved for {platform.name} but not pinned in {path}: {unpinned}"
    assert set(wanted) <= set(installed), set(wanted) - set(installed)
    build = "tensorflow-cpu" if path == "requirements.txt" and platform is LINUX_X86_64 else "tensorflow"
    assert build in installed and ({"tensorflow", "tensorflow-cpu"} - {build}).isdisjoint(installed)


@pytest.mark.parametrize("platform, name, how, why", LEFT_OUT, ids=[f"{n}-{p.name}" for p, n, _, _ in LEFT_OUT])
def test_what_is_left_out_has_no_wheel_there(resolutions, platform, name, how, why):
    if how == "a marker":
        assert name not in pins("requirements.txt", platform), f"{name} is installed on {platform.name}"
    else:  # the whole platform is refused before pip runs
        refusal = re.search(r"^NO_INTEL_MAC := (.*?)\)$", (REPO / "Makefile").read_text(), flags=re.M | re.S)
        assert refusal and 'platform.machine() == "x86_64"' in refusal.group(1)
    result, _ = resolutions[(name, platform.name)]
    assert result.returncode != 0 and "No matching distribution found" in result.stderr, (
        f"{name} now resolves on {platform.name} ({why} no longer holds): let the markers install it there")
