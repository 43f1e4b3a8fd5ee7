"""How `make test` shares the tests between its pytest-xdist workers (--dist loadgroup).

Each test module runs whole on one worker, so its module fixtures — real workflow runs — are made
once; the SLURM modules share one worker, as they share one local cluster, and go first: the
longest group, mostly waiting on the scheduler, beside the others rather than after them. Workers
take the groups in this order: xdist would otherwise reorder them by their number of tests, which
puts the few long SLURM tests last and leaves one worker idle for minutes at the end.
tests/test_worker_groups.py checks that the installed pytest and xdist honour these groups and
this order.
"""

import pytest


def group_of(module: str) -> str:
    return "slurm" if "slurm" in module else module


def pytest_configure(config):
    if hasattr(config.option, "loadscopereorder"):  # absent where xdist is not loaded (-p no:xdist)
        config.option.loadscopereorder = False  # as --no-loadscope-reorder: the order below stands


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups into the node ids
def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.xdist_group(group_of(item.module.__name__)))
    items.sort(key=lambda item: group_of(item.module.__name__) != "slurm")  # stable: the rest keep their order
