"""`make test`'s workers honour tests/worker_groups.py: each module whole on one worker, the SLURM
modules together. pytest 9.2.0 with pytest-xdist 3.8.0 silently ignores xdist_group marks
(pytest-dev/pytest-xdist#1386); two workers then started the one local SLURM at once."""

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent
MODULES = ("test_alpha", "test_beta", "test_slurm_one", "test_slurm_two")


def test_each_module_runs_on_one_worker_and_the_slurm_modules_share_theirs(tmp_path):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["worker_groups"]\n')
    for module in MODULES:
        (tmp_path / f"{module}.py").write_text(
            "import pytest\n\n"
            "@pytest.mark.parametrize('i', range(6))\n"
            f"def test_{module}(i):\n    pass\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-o", f"pythonpath={TESTS}", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    workers = defaultdict(set)
    for worker, module in re.findall(r"^\[(gw\d+)\].*PASSED (\w+)\.py::", run.stdout, re.MULTILINE):
        workers[module].add(worker)
    assert sorted(workers) == sorted(MODULES), run.stdout
    assert all(len(ran_on) == 1 for ran_on in workers.values()), dict(workers)
    assert workers["test_slurm_one"] == workers["test_slurm_two"], dict(workers)
