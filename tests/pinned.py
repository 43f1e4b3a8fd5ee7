"""Reading the pinned requirement files, as the tests of the installs and of the conda envs need
them: each line an exact pin, with an environment marker where a platform needs one, evaluated for
the platform asked about (not the machine the tests run on)."""

import re
from dataclasses import dataclass

from packaging.markers import Marker
from packaging.tags import mac_platforms

from conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;]+)\s*(?:;\s*(\S.*))?$")


@dataclass(frozen=True)
class Platform:
    name: str
    markers: dict  # the marker variables that differ between platforms
    tags: tuple  # every platform tag such a machine accepts (pip takes --platform literally)


def manylinux(arch: str, glibc_minor: int) -> tuple:
    """The tags of a Linux machine with glibc 2.<glibc_minor>: manylinux_2_N for N down to 2.17
    (x86_64: 2.5) and the legacy aliases."""
    lowest = 5 if arch == "x86_64" else 17
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(glibc_minor, lowest - 1, -1)]
    legacy = {"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5} if arch == "x86_64" else {"manylinux2014": 17}
    return tuple(tags + [f"{alias}_{arch}" for alias in legacy])


def macos(arch: str, major: int) -> tuple:
    return tuple(mac_platforms((major, 0), arch))


def posix(system: str, machine: str) -> dict:
    return {"sys_platform": system.lower(), "platform_system": system, "platform_machine": machine,
            "os_name": "posix", "python_version": "3.11", "python_full_version": "3.11.7",
            "implementation_name": "cpython", "platform_python_implementation": "CPython"}


LINUX_X86_64 = Platform("linux-x86_64", posix("Linux", "x86_64"), manylinux("x86_64", 28))
LINUX_AARCH64 = Platform("linux-aarch64", posix("Linux", "aarch64"), manylinux("aarch64", 28))
MACOS_ARM64 = Platform("macos-arm64", posix("Darwin", "arm64"), macos("arm64", 12))
MACOS_X86_64 = Platform("macos-x86_64", posix("Darwin", "x86_64"), macos("x86_64", 26))  # not supported
def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(path) -> list[tuple[str, str]]:
    """(file, line) of each requirement in a requirements file, following -r includes."""
    lines = []
    for line in (REPO / path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            lines += requirement_lines(line[3:].strip())
        elif line:
            lines.append((str(path), line))
    return lines


def pins(path, platform: Platform | None = None) -> dict:
    """name → version of a requirements file: the lines whose marker holds on `platform`, or every
    line when None (a name pinned on several lines must then pin one version)."""
    found = {}
    for source, line in requirement_lines(path):
        match = PIN.match(line)
        assert match, f"{source}: not an exact pin: {line!r}"
        name, version, marker = normalise(match.group(1)), match.group(3), match.group(4)
        if platform is not None and marker and not Marker(marker).evaluate(platform.markers):
            continue
        assert found.get(name, version) == version, f"{source}: {name} pinned at {found[name]} and {version}"
        found[name] = version
    return found
