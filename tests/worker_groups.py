"""How `make test` shares the tests between its pytest-xdist workers (--dist loadgroup).

Each test module runs whole on one worker, so its module fixtures — real workflow runs — are made
once; the SLURM modules share one worker, as they share one local cluster, and go first: the
longest group, mostly waiting on the scheduler, beside the others rather than after them.
tests/test_worker_groups.py checks that the installed pytest and xdist honour these groups.
"""

import pytest


def group_of(module: str) -> str:
    return "slurm" if "slurm" in module else module


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups into the node ids
def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.xdist_group(group_of(item.module.__name__)))
    items.sort(key=lambda item: group_of(item.module.__name__) != "slurm")  # stable: the rest keep their order
