"""`make test`'s workers honour tests/worker_groups.py: each module whole on one worker, the SLURM
modules together and first. pytest 9.2.0 with pytest-xdist 3.8.0 silently ignores xdist_group marks
(pytest-dev/pytest-xdist#1386); two workers then started the one local SLURM at once."""

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from worker_groups import group_of

TESTS = Path(__file__).resolve().parent
TESTS_IN = {"test_alpha": 6, "test_beta": 6, "test_slurm_one": 1, "test_slurm_two": 1}  # SLURM: fewest tests
SLURM = {module for module in TESTS_IN if group_of(module) == "slurm"}


def test_each_module_runs_on_one_worker_and_the_slurm_modules_share_theirs_first(tmp_path):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["worker_groups"]\n')
    for module, n in TESTS_IN.items():
        (tmp_path / f"{module}.py").write_text(
            "import pytest\n\n"
            f"@pytest.mark.parametrize('i', range({n}))\n"
            f"def test_{module}(i):\n    pass\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-o", f"pythonpath={TESTS}", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    workers, ran = defaultdict(set), defaultdict(list)  # ran: each worker's modules in the order it ran them
    for worker, module in re.findall(r"^\[(gw\d+)\].*PASSED (\w+)\.py::", run.stdout, re.MULTILINE):
        workers[module].add(worker)
        ran[worker].append(module)
    assert sorted(workers) == sorted(TESTS_IN), run.stdout
    assert all(len(ran_on) == 1 for ran_on in workers.values()), dict(workers)
    assert workers["test_slurm_one"] == workers["test_slurm_two"], dict(workers)
    # xdist's default order (most tests first) would run the SLURM group after another module
    first = ran[next(iter(workers["test_slurm_one"]))]
    assert set(first[:sum(TESTS_IN[module] for module in SLURM)]) == SLURM, dict(ran)
