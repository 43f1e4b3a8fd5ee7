"""A real single-node SLURM for the tests, as a session-scoped pytest fixture.

Use it with ``pytest_plugins = ["slurm_cluster"]`` (tests/ on sys.path) or by importing
``slurm_cluster`` into tests/conftest.py. The fixture runs tests/slurm/start.sh (which installs the
Debian packages when missing), yields a :class:`SlurmCluster` and runs tests/slurm/stop.sh at the
end of the session. A failed start fails the tests that use it, with the script's output.

Where SLURM cannot run (not root, or its Debian packages not installed) the tests that use it are
skipped, each with the reason (pytest lists it at the end). ``PINCLASS_REQUIRE_SLURM=1`` — which
.ci/run sets — forbids that skip: start.sh then installs the packages, and any obstacle fails.
``SLURM_STATE_DIR`` chooses the state folder (default /tmp/pinclass-slurm). If the cluster of that
folder already runs (started by hand), the fixture uses it and leaves it running.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SLURM_SCRIPTS = REPO / "tests" / "slurm"
CI_PROFILE = REPO / "profiles" / "ci-slurm"
DEFAULT_STATE_DIR = "/tmp/pinclass-slurm"
START_TIMEOUT_S = 900  # covers apt-get update + install on a fresh machine
REQUIRE_VARIABLE = "PINCLASS_REQUIRE_SLURM"
SLURM_PROGRAMS = ("slurmctld", "slurmd", "sinfo", "sbatch", "squeue", "munged")


@dataclass
class SlurmCluster:
    state_dir: Path
    slurm_conf: Path
    partition: str
    gpu_partition: str
    profile: Path
    env: dict = field(repr=False)
    start_output: str = field(default="", repr=False)

    def log_tail(self, n: int = 40) -> str:
        """The last lines of the daemons' logs, for assertion messages."""
        parts = []
        for name in ("slurmctld", "slurmd", "munged"):
            path = self.state_dir / "log" / f"{name}.log"
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()[-n:]
                parts.append(f"---- {path} ----\n" + "\n".join(lines))
        return "\n".join(parts)


def _run(script: str, state_dir: Path, env: dict, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SLURM_SCRIPTS / script), str(state_dir)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def why_slurm_cannot_run() -> str | None:
    """The reason this machine cannot start the test SLURM without being asked to install it."""
    if os.geteuid() != 0:
        return "not root (tests/slurm/start.sh runs the SLURM daemons as root)"
    missing = [program for program in SLURM_PROGRAMS if shutil.which(program) is None]
    if missing:
        return (f"SLURM not installed ({', '.join(missing)} missing); {REQUIRE_VARIABLE}=1 make test installs "
                "the Debian packages and runs these tests")
    return None


@pytest.fixture(scope="session")
def slurm_cluster():
    reason = why_slurm_cannot_run()
    if reason and os.environ.get(REQUIRE_VARIABLE) != "1":
        pytest.skip(f"SLURM tests skipped: {reason}")

    state_dir = Path(os.environ.get("SLURM_STATE_DIR") or DEFAULT_STATE_DIR)
    partition = os.environ.get("SLURM_PARTITION", "ci")
    gpu_partition = os.environ.get("SLURM_GPU_PARTITION", f"{partition}-gpu")
    env = dict(os.environ, SLURM_STATE_DIR=str(state_dir), SLURM_PARTITION=partition,
               SLURM_GPU_PARTITION=gpu_partition)
    # One test session per cluster: a second one (another xdist worker) would restart it under the first.
    state_dir.mkdir(parents=True, exist_ok=True)
    session_lock = open(state_dir / "session.lock", "w")
    try:
        fcntl.flock(session_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        busy = False
    except BlockingIOError:
        busy = True
    if busy:
        session_lock.close()
        pytest.fail(f"another test session uses the SLURM cluster of {state_dir}: under pytest-xdist the "
                    "SLURM modules must share one worker (tests/worker_groups.py)", pytrace=False)
    try:
        started = _run("start.sh", state_dir, env, START_TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"tests/slurm/start.sh timed out after {START_TIMEOUT_S}s:\n{error.output}")
    if started.returncode != 0:
        pytest.fail(
            f"tests/slurm/start.sh {state_dir} failed (exit {started.returncode}):\n"
            f"{started.stdout}",
            pytrace=False,
        )
    we_started_it = "already running" not in started.stdout
    state_dir = state_dir.resolve()
    slurm_conf = state_dir / "etc" / "slurm.conf"

    cluster_env = dict(os.environ, SLURM_CONF=str(slurm_conf))
    # A test run inside a SLURM job must not leak the outer job's identity into ours.
    for key in [k for k in cluster_env if k.startswith("SLURM_") and k != "SLURM_CONF"]:
        del cluster_env[key]
    cluster = SlurmCluster(
        state_dir=state_dir,
        slurm_conf=slurm_conf,
        partition=partition,
        gpu_partition=gpu_partition,
        profile=CI_PROFILE,
        env=cluster_env,
        start_output=started.stdout,
    )
    try:
        yield cluster
    finally:
        try:
            if we_started_it:
                stopped = _run("stop.sh", state_dir, env, 120)
                if stopped.returncode != 0:
                    pytest.fail(f"tests/slurm/stop.sh failed:\n{stopped.stdout}", pytrace=False)
        finally:
            session_lock.close()
