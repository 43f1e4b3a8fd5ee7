"""The pinned installs: the CPU and GPU requirement sets agree, the conda envs pin the same versions,
and the GPU set resolves from the package index (a pin that does not exist fails here, not on a
cluster's GPU node)."""

import json
import platform
import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==(\S+)$")
INSTALLER_TOOLS = {"pip", "setuptools"}  # come with the virtual environment, not from our files


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path) -> dict:
    """name → version of a requirements file, following -r includes."""
    found = {}
    for line in (REPO / path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found |= pins(line[3:].strip())
        elif line:
            match = PIN.match(line)
            assert match, f"{path}: not an exact pin: {line!r}"
            found[normalise(match.group(1))] = match.group(3)
    return found


def test_cpu_and_gpu_sets_differ_only_in_the_tensorflow_build():
    cpu, gpu = pins("requirements.txt"), pins("requirements-gpu.txt")
    assert cpu.pop("tensorflow-cpu") == gpu.pop("tensorflow")
    cuda = {name for name in gpu if name not in cpu}
    assert cuda and all(name.startswith("nvidia-") for name in cuda), cuda
    assert {name: gpu[name] for name in cpu} == cpu


@pytest.mark.parametrize("env", ["data", "extract", "classify"])
def test_conda_envs_pin_the_versions_of_the_requirements(env):
    spec = yaml.safe_load((REPO / f"envs/{env}.yaml").read_text())
    pip_lines = next(item["pip"] for item in spec["dependencies"] if isinstance(item, dict))
    wanted = pins("requirements-gpu.txt") | pins("requirements.txt")
    for line in pip_lines:
        match = PIN.match(line)
        assert match, f"envs/{env}.yaml: not an exact pin: {line!r}"
        assert wanted.get(normalise(match.group(1))) == match.group(3), f"envs/{env}.yaml: {line}"
    if env in ("extract", "classify"):  # the GPU jobs' envs: the CUDA build and its libraries
        names = {normalise(PIN.match(line).group(1)) for line in pip_lines}
        assert "tensorflow" in names and {n for n in pins("requirements-gpu.txt") if n.startswith("nvidia-")} <= names


@pytest.mark.skipif(sys.platform != "linux" or platform.machine() != "x86_64",
                    reason="the GPU set is for Linux x86_64; pip resolves it for the machine it runs on")
def test_the_gpu_set_resolves_from_the_index_with_every_package_pinned(tmp_path):
    report = tmp_path / "report.json"
    resolved = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                               "--report", str(report), "-r", str(REPO / "requirements-gpu.txt")],
                              capture_output=True, text=True, timeout=600)
    assert resolved.returncode == 0, resolved.stderr[-3000:]
    installed = {normalise(item["metadata"]["name"]): item["metadata"]["version"]
                 for item in json.loads(report.read_text())["install"]}
    wanted = pins("requirements-gpu.txt")
    assert installed["tensorflow"] == wanted["tensorflow"] and "tensorflow-cpu" not in installed
    unpinned = {name: version for name, version in installed.items()
                if name not in INSTALLER_TOOLS and wanted.get(name) != version}
    assert not unpinned, f"resolved but not pinned in requirements-gpu.txt: {unpinned}"
