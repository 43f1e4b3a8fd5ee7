"""Rerun triggers derived from imports: each rule's `code` param covers exactly the library modules
its script depends on."""

import re
import shutil
import subprocess
import sys
import textwrap
from functools import cache

import pytest

from conftest import REPO
from pinclass.code_closure import closure, code_version, imported_modules

SCRIPTS = REPO / "scripts"
LIBRARY = sorted(p.stem for p in (SCRIPTS / "pinclass").glob("*.py") if p.stem != "__init__")
RULE_SCRIPTS = sorted(p.stem for p in SCRIPTS.glob("*.py"))


@cache  # read once per worker, when first asked, not per test
def closure_of(script: str) -> list[str]:
    return closure(SCRIPTS / f"{script}.py")


@cache  # names and contents only: a copy of scripts/ gives the same value until it is edited
def code_version_of(script: str) -> str:
    return code_version(SCRIPTS / f"{script}.py")


def rules_with_scripts():
    """(rule, its script, the script its code param names) for every rule in rules/*.smk."""
    found = []
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"(?m)^(?=(?:rule|checkpoint) )", smk.read_text())[1:]:
            rule = re.match(r"(?:rule|checkpoint) (\w+):", block).group(1)
            script = re.search(r'script:\n\s+"\.\./scripts/(\w+)\.py"', block)
            code = re.search(r'code=code_version\("(\w+)"\)', block)
            found.append((rule, script and script.group(1), code and code.group(1)))
    return found


def test_every_rule_with_a_script_carries_the_code_version_of_that_script():
    rules = rules_with_scripts()
    assert {script for _, script, _ in rules} == set(RULE_SCRIPTS)  # every rule script belongs to a rule
    for rule, script, code in rules:
        assert script is not None, f"rule {rule} has no script"
        assert code == script, f"rule {rule}: code_version({code!r}) but script {script!r}"


def test_closures_hold_the_modules_that_hand_lists_missed():
    assert {"shards", "devices", "gpu_slots", "atomic", "provenance", "rule_io"} <= set(closure_of("extract"))
    assert "knn" in closure_of("classify")  # through grid_search and classifiers
    assert "extraction" not in closure_of("classify")  # it reads features, never makes them
    assert "scoring" in closure_of("aggregate")  # through uncertainty
    assert {"weights", "atomic", "provenance"} <= set(closure_of("fetch_weights"))
    assert "classifiers" not in closure_of("ingest")


def test_function_level_and_relative_imports_count(tmp_path):
    package = tmp_path / "pinclass"
    package.mkdir()
    for name in ("a", "b", "c", "d", "unused"):
        (package / f"{name}.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pinclass.b import x\n")
    (package / "b.py").write_text("from . import c\nfrom .d import y\nimport numpy\n")
    script = tmp_path / "rule.py"
    script.write_text(textwrap.dedent("""
        import pinclass.a
        from pinclass import not_a_module_but_a_name
    """))
    assert imported_modules(package / "b.py", tmp_path) == {"c", "d"}
    assert closure(script, tmp_path) == ["a", "b", "c", "d"]


@pytest.mark.parametrize("module", LIBRARY)
def test_a_module_edit_changes_the_code_param_of_exactly_the_rules_that_depend_on_it(module, tmp_path):
    root = tmp_path / "scripts"
    shutil.copytree(SCRIPTS, root, ignore=shutil.ignore_patterns("__pycache__"))
    with open(root / "pinclass" / f"{module}.py", "a") as f:
        f.write("\n# an edit\n")
    for script in RULE_SCRIPTS:
        changed = code_version(root / f"{script}.py", root) != code_version_of(script)
        assert changed == (module in closure_of(script)), (module, script)


@pytest.mark.parametrize("script", RULE_SCRIPTS)
def test_the_static_closure_covers_what_importing_the_modules_loads(script):
    """Ground truth from Python itself: importing the closure's modules loads no library module
    outside the closure."""
    modules = closure_of(script)
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import importlib\n"
             "for m in sys.argv[2:]: importlib.import_module('pinclass.' + m)\n"
             "print(' '.join(sorted(n.split('.')[1] for n in sys.modules if n.startswith('pinclass.'))))")
    loaded = subprocess.run([sys.executable, "-c", probe, str(SCRIPTS), *modules], capture_output=True, text=True,
                            check=True).stdout.split()
    assert set(loaded) <= set(modules), set(loaded) - set(modules)
