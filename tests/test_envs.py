"""Each rule's conda env (`snakemake --sdm conda`) is derived from its script's imports and pinned
as requirements*.txt pin, so that no hand-kept list can drift from the code.

What a rule needs. The third-party top-level modules imported by its script and by every library
module of the script's import closure (`pinclass.code_closure.closure`, the closure of its `code`
param), read with `ast` at every level: an import inside a function counts like one at the top of a
module. The library imports TensorFlow, Keras, OpenVINO and matplotlib inside functions on purpose
(a KNN job must not pay for TensorFlow), and a job that reaches such an import dies without the
package; a heavy lazy import that a rule never reaches is cut out of its closure instead
(pinclass.feature_tables holds the feature files' format apart from pinclass.extraction's
backbones; pinclass.cell_choice holds rule best_model's choice apart from the saved models).
Where a cut would take more than moving a few functions, NOT_REACHED names the package for the rule
with the reason; an entry is checked, not trusted: the package must be imported in the closure, and
only inside functions, and every module of the closure must import with the package blocked.

Not needed from the env. The standard library (`sys.stdlib_module_names`; the env's python=3.11
brings it); pinclass (Snakemake puts the script's folder on the job's sys.path); and snakemake: a
script gets the `snakemake` object from the preamble Snakemake writes into it, which imports
snakemake from the submitting installation (appended to sys.path). No script or library module may
import snakemake itself (checked): that code would run from the submitting installation, against
the env's packages.

Modules map to distributions through this venv's `importlib.metadata.packages_distributions()`
(a module not installed here maps to the requirements' distribution of its name). TensorFlow is one
project in two builds: the venv's may be `tensorflow_cpu`; an env lists the CUDA build
`tensorflow[and-cuda]`, which every rule that asks for a `gpu` resource gets.

The envs. Each pins (name==version) exactly the version requirements-gpu.txt pins (it includes
requirements-common.txt; a `; marker` suffix is ignored) and lists exactly what its rules need plus
the dependencies of that, walked through the venv's installed metadata with the markers evaluated
for the env (Linux x86_64, the env's Python): pip resolves nothing on its own, and an env holds no
package that none of its rules imports (no TensorFlow where no rule reaches it). pip and setuptools
come with the env. The CUDA libraries (nvidia-*, not installed in a CPU venv) are taken as pinned by
requirements-gpu.txt, whose resolution tests/test_requirements.py checks.

The rules, their scripts, envs and resources come from Snakemake itself: the workflow loaded through
its API with the repository's config, so `use rule … with:` inheritance and checkpoints are resolved
as Snakemake resolves them.
"""

import ast
import functools
import importlib.metadata
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement

from conftest import REPO
from pinned import LINUX_X86_64, PIN, normalise, pins
from pinclass.code_closure import PACKAGE, closure

SCRIPTS = REPO / "scripts"
LIBRARY = SCRIPTS / PACKAGE
ENVS = sorted(p.name for p in (REPO / "envs").glob("*.yaml"))
INSTALLER_TOOLS = {"pip", "setuptools"}  # come with the env's pip, not from our files
CPU_BUILDS = {"tensorflow-cpu": "tensorflow"}  # the venv's build → the project name an env lists
CUDA_EXTRA = "and-cuda"
PROVIDED_BY_SNAKEMAKE = "snakemake"

# (script, package) → why the rule's job never reaches the lazy import. Checked by
# test_a_lazy_import_left_out_of_an_env_is_lazy_and_blocked_imports_still_load.
NOT_REACHED = {
    ("ensemble", "tensorflow"): "save_ensemble copies the members' model.json and arrays; only load_model "
                                "rebuilds estimators (estimator_state → estimators.import_keras)",
    ("ensemble", "keras"): "as tensorflow: the ensemble never rebuilds a member's network",
}


WANTED = pins("requirements-gpu.txt", LINUX_X86_64)  # envs are for Linux x86_64 clusters
GPU_ONLY = set(WANTED) - set(pins("requirements.txt", LINUX_X86_64))  # the CUDA build's libraries and tensorflow


# --- what the scripts import ------------------------------------------------------------------------

def third_party_imports(path: Path) -> list[tuple[str, bool, int]]:
    """(top-level module, lazy: inside a function, line) of each absolute import in the file that is
    neither the standard library nor the library itself."""
    found = []

    def visit(node, lazy):
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and not child.level:
                names = [child.module]
            else:
                names = []
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != PACKAGE:
                    found.append((top, inner, child.lineno))
            visit(child, inner)

    visit(ast.parse(path.read_text(), filename=str(path)), False)
    return found


@functools.cache
def script_imports(script: str) -> dict:
    """module → [(file:line, lazy)] over the script and its closure."""
    files = [SCRIPTS / f"{script}.py"] + [LIBRARY / f"{m}.py" for m in closure(SCRIPTS / f"{script}.py")]
    found = {}
    for path in files:
        for module, lazy, line in third_party_imports(path):
            found.setdefault(module, []).append((f"{path.relative_to(SCRIPTS)}:{line}", lazy))
    return found


@functools.cache
def module_distributions() -> dict:
    return importlib.metadata.packages_distributions()


def distribution_of(module: str) -> str:
    """The distribution an env lists for a top-level module."""
    names = {CPU_BUILDS.get(normalise(d), normalise(d)) for d in module_distributions().get(module, [])}
    if not names and normalise(module) in WANTED:
        names = {normalise(module)}
    assert len(names) == 1, f"module {module}: provided by {sorted(names) or 'no installed distribution'}"
    return names.pop()


def needs(script: str) -> dict:
    """distribution → the modules (and where they are imported) the rule's env must provide."""
    found = {}
    for module, places in script_imports(script).items():
        if module == PROVIDED_BY_SNAKEMAKE or (script, module) in NOT_REACHED:
            continue
        found.setdefault(distribution_of(module), []).append(f"{module} ({places[0][0]})")
    return found


# --- the rules and the envs --------------------------------------------------------------------------

RULES_PROBE = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import OutputSettings, ResourceSettings

    repo = Path(sys.argv[1])
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(resource_settings=ResourceSettings(), snakefile=repo / "Snakefile",
                                workdir=repo)._workflow
        rules = {}
        for rule in workflow.rules:
            base = Path(rule.basedir.get_path_or_uri(secret_free=True))
            rules[rule.name] = {
                "script": rule.script and str((base / rule.script).resolve()),
                "conda": rule.conda_env and str((base / rule.conda_env).resolve()),
                "gpu": "gpu" in rule.resources,
            }
    print(json.dumps(rules))
""")


@functools.cache
def workflow_rules() -> dict:
    """rule → {script: its stem, env: its file name under envs/, gpu: asks for a gpu resource}, for
    every rule with a script, as Snakemake loads the workflow."""
    loaded = subprocess.run([sys.executable, "-c", RULES_PROBE, str(REPO)], capture_output=True, text=True,
                            timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    rules = {}
    for name, rule in json.loads(loaded.stdout.strip().splitlines()[-1]).items():
        if rule["script"] is None:
            continue
        script, env = Path(rule["script"]), rule["conda"] and Path(rule["conda"])
        assert script.parent == SCRIPTS, f"rule {name}: script {script} outside scripts/"
        assert env is not None, f"rule {name} runs {script.name} but names no conda env"
        assert env.parent == REPO / "envs", f"rule {name}: env {env} outside envs/"
        rules[name] = {"script": script.stem, "env": env.name, "gpu": rule["gpu"]}
    return rules


def env_spec(env: str) -> dict:
    return yaml.safe_load((REPO / "envs" / env).read_text())


def env_python(env: str) -> str:
    versions = [d.split("=", 1)[1] for d in env_spec(env)["dependencies"]
                if isinstance(d, str) and d.startswith("python=")]
    assert len(versions) == 1, f"envs/{env}: no single python=X.Y"
    return versions[0]


def env_pins(env: str) -> dict:
    """normalised name → (version, extras) of the env's pip section."""
    sections = [item["pip"] for item in env_spec(env)["dependencies"] if isinstance(item, dict) and "pip" in item]
    assert len(sections) == 1, f"envs/{env}: no single pip section"
    found = {}
    for line in sections[0]:
        match = PIN.match(line)
        assert match, f"envs/{env}: not an exact pin: {line!r}"
        extras = frozenset(e.strip() for e in (match.group(2) or "[]")[1:-1].split(",") if e.strip())
        found[normalise(match.group(1))] = (match.group(3), extras)
    return found


def requirements_of(name: str) -> list[str] | None:
    """Requires-Dist of the installed distribution (the venv's build for tensorflow); None when it is
    not installed here."""
    for candidate in [name] + [cpu for cpu, project in CPU_BUILDS.items() if project == name]:
        try:
            return importlib.metadata.requires(candidate) or []
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def dependency_closure(roots: dict, python: str) -> tuple[dict, set]:
    """(name → how it is reached, names whose dependencies cannot be read here) from
    {name: extras}: the roots and everything they require, markers evaluated for Linux x86_64."""
    marker_env = default_environment() | {"python_version": python, "python_full_version": f"{python}.0",
                                          "sys_platform": "linux", "platform_system": "Linux",
                                          "platform_machine": "x86_64", "os_name": "posix"}
    reached = {name: "imported" for name in roots}
    unreadable, pending = set(), [(name, frozenset(extras)) for name, extras in roots.items()]
    done = set()
    while pending:
        name, extras = pending.pop()
        if (name, extras) in done:
            continue
        done.add((name, extras))
        requirements = requirements_of(name)
        if requirements is None:
            if name not in GPU_ONLY:
                unreadable.add(name)
            continue
        for line in requirements:
            requirement = Requirement(line)
            if requirement.marker and not any(
                    requirement.marker.evaluate(marker_env | {"extra": extra}) for extra in (extras or {""})):
                continue
            child = normalise(requirement.name)
            if child in INSTALLER_TOOLS:
                continue
            reached.setdefault(child, f"a dependency of {name}")
            pending.append((child, frozenset(requirement.extras)))
    return reached, unreadable


def env_rules(env: str) -> dict:
    return {name: rule for name, rule in workflow_rules().items() if rule["env"] == env}


def env_roots(env: str) -> dict:
    """distribution → extras for what the env's rules import (the CUDA build's extra for tensorflow)."""
    roots = {}
    for rule in env_rules(env).values():
        for dist in needs(rule["script"]):
            roots[dist] = frozenset({CUDA_EXTRA}) if dist == "tensorflow" else frozenset()
    return roots


def rule_ids():
    return sorted(workflow_rules())


# --- the tests -----------------------------------------------------------------------------------------

def test_every_env_file_is_used_and_every_rule_with_a_script_names_one():
    used = {rule["env"] for rule in workflow_rules().values()}
    assert used <= set(ENVS), f"rules name env files that do not exist: {sorted(used - set(ENVS))}"
    assert set(ENVS) <= used, f"env files no rule uses: {sorted(set(ENVS) - used)}"


def test_no_script_imports_snakemake_itself():
    for script in sorted({rule["script"] for rule in workflow_rules().values()}):
        places = script_imports(script).get(PROVIDED_BY_SNAKEMAKE, [])
        assert not places, (f"{script}.py's closure imports snakemake at {[p for p, _ in places]}: it would run "
                            "from the submitting installation; use the `snakemake` object the preamble gives")


@pytest.mark.parametrize("rule", rule_ids())
def test_the_env_of_each_rule_provides_every_package_its_script_imports(rule):
    script, env = workflow_rules()[rule]["script"], workflow_rules()[rule]["env"]
    listed = env_pins(env)
    for dist, modules in sorted(needs(script).items()):
        for module in modules:
            assert dist in listed, (f"rule {rule} ({script}.py): module {module} needs {dist}, which "
                                    f"envs/{env} does not list")


@pytest.mark.parametrize("script, module", sorted(NOT_REACHED))
def test_a_lazy_import_left_out_of_an_env_is_lazy_and_blocked_imports_still_load(script, module):
    rules = sorted(name for name, rule in workflow_rules().items() if rule["script"] == script)
    places = script_imports(script).get(module)
    assert places, f"NOT_REACHED[{script!r}, {module!r}]: {module} is no longer in the closure; drop the entry"
    eager = [place for place, lazy in places if not lazy]
    assert not eager, (f"rules {rules} ({script}.py): {module} is imported at module level at {eager}, so "
                       f"every job imports it: its env must provide it")
    modules = closure(SCRIPTS / f"{script}.py")
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import importlib\n"
             "sys.modules[sys.argv[2]] = None  # `import` of it now raises ImportError\n"
             "for m in sys.argv[3:]: importlib.import_module('pinclass.' + m)\n")
    loaded = subprocess.run([sys.executable, "-c", probe, str(SCRIPTS), module, *modules], capture_output=True,
                            text=True, timeout=300)
    assert loaded.returncode == 0, (f"rules {rules} ({script}.py): importing the closure needs {module}, which "
                                    f"their env does not provide:\n{loaded.stderr[-2000:]}")


@pytest.mark.parametrize("env", ENVS)
def test_each_env_pins_the_version_the_requirements_pin(env):
    for name, (version, extras) in sorted(env_pins(env).items()):
        assert name in WANTED, f"envs/{env}: {name} is in no requirements file"
        assert version == WANTED[name], f"envs/{env}: {name}=={version}, requirements-gpu.txt pins {WANTED[name]}"
        assert name not in CPU_BUILDS, f"envs/{env}: {name} is the CPU build; the envs take the CUDA build"
        if name == "tensorflow":
            assert extras == {CUDA_EXTRA}, f"envs/{env}: tensorflow without [{CUDA_EXTRA}] (the CUDA build)"


@pytest.mark.parametrize("env", ENVS)
def test_each_env_lists_what_its_rules_import_and_its_dependencies_and_nothing_else(env):
    rules = env_rules(env)
    reached, unreadable = dependency_closure(env_roots(env), env_python(env))
    if unreadable:
        pytest.skip(f"envs/{env}: {sorted(unreadable)} not installed in this venv: their dependencies cannot be read")
    listed = env_pins(env)
    missing = {f"{name}=={WANTED.get(name, '(pinned in no requirements file)')}": how
               for name, how in sorted(reached.items()) if name not in listed}
    assert not missing, f"envs/{env} (rules {sorted(rules)}) lacks {missing}"
    unused = sorted(set(listed) - set(reached))
    assert not unused, (f"envs/{env} lists {unused}, which none of its rules {sorted(rules)} imports, directly or "
                        f"through a dependency")


@pytest.mark.parametrize("rule", sorted(name for name, rule in workflow_rules().items() if rule["gpu"]))
def test_the_rules_that_ask_for_a_gpu_get_the_cuda_build(rule):
    env = workflow_rules()[rule]["env"]
    listed = env_pins(env)
    assert listed.get("tensorflow", (None, set()))[1] == {CUDA_EXTRA}, \
        f"rule {rule}: envs/{env} lacks tensorflow[{CUDA_EXTRA}]"
    cuda = {name for name in GPU_ONLY if name.startswith("nvidia-")}
    assert cuda <= set(listed), f"rule {rule}: envs/{env} lacks the CUDA libraries {sorted(cuda - set(listed))}"
