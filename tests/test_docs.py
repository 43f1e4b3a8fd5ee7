"""The documentation (README.md and docs/*.md) names only things that exist.

What each check reads, so that a writer knows what is checked:

- **Config keys.** An inline code span whose text is two or more dot-separated names, optionally
  followed by `: value` — `sample.group_by`, `classifiers.nn.device: gpu` — and whose first name is
  a top-level key of schemas/config.schema.yaml must name a key of that schema. `<name>`, `{name}`
  and `*` stand for any key (`backbones.<name>.shards`, `classifiers.<name>.*`), and a name with a
  `*` in it is a glob that must match a key (`clean.near_duplicate_*distance`). Spans ending in a
  file extension are file names, not keys (`table.md`). A first name that resembles a top-level key
  without being one (`sampel.seed`) is reported as a misspelling; other dotted spans (Python
  modules such as `pinclass.predict`, JSON fields such as `refit.ties`) are not keys. Single-word
  keys (`weights`, `repeats`) are not checked.
- **Results paths.** Every `results/…` token in inline code or a fenced code block must be the
  output of some rule in rules/*.smk (the string literals of each `output:` block), or a folder
  holding one (written with a trailing `/`, or without a file suffix). In the docs' paths `{name}`, `<name>` and `*` stand for any one path component and
  `{a,b}` for alternatives; in the rules' paths a `{wildcard}` matches any one path component.
  NOT_RULE_OUTPUTS lists the few results paths written outside Snakemake's outputs.
- **Links.** Every relative Markdown link `[text](target)` resolves to a file or folder inside the
  repository; a `#fragment` must be a heading of the target page (GitHub's anchors).
- **Make targets.** Every `make …` command in inline code or a fenced code block names targets of
  the Makefile (variables such as `GPU=1` and options are skipped).
- **The README** has at most README_MAX_LINES lines, starts with the two commands (`make demo`,
  `make test`, the latter being what CI runs), and refers to no team folder (`shared/`), no issue
  or pull-request number and no TODO placeholder.

HTML comments are not read: `<!-- TODO(engineer): … -->` placeholders may name what is not there
yet. Each failure names the page and the offending item. The test_*_catches_* tests feed each check
a page with a planted error, so that no check can pass by reading nothing.
"""

import difflib
import fnmatch
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = [README, *sorted((REPO / "docs").glob("*.md"))]
SCHEMA_PATH = REPO / "schemas" / "config.schema.yaml"
README_MAX_LINES = 150

# Results paths the docs may name although no rule declares them, with the reason.
NOT_RULE_OUTPUTS = {
    "results/features/resume/": "extraction's resumable chunks, kept outside Snakemake's outputs",
}
FILE_EXTENSIONS = {
    "cff", "cfg", "csv", "gz", "h5", "html", "ini", "json", "lock", "log", "md", "npz", "parquet",
    "pdf", "png", "py", "rst", "sh", "smk", "tex", "toml", "tsv", "txt", "yaml", "yml", "zip",
}
PLACEHOLDER = re.compile(r"^(<[^<>]+>|\{[^{}]+\}|\*)$")


def doc_id(path: Path) -> str:
    return str(path.relative_to(REPO))


# --- reading Markdown ---------------------------------------------------------------------------


def without_comments(text: str) -> str:
    return re.sub(r"<!--.*?-->", "", text, flags=re.S)


def split_fences(text: str) -> tuple[str, list[str]]:
    """The text outside fenced code blocks (fences blanked, lines kept) and the blocks' contents."""
    prose, blocks, block, fence = [], [], [], None
    for line in text.splitlines():
        marker = re.match(r"^\s*(`{3,}|~{3,})", line)
        if fence is None and marker:
            fence, block = marker.group(1), []
            prose.append("")
        elif fence is not None and line.strip().startswith(fence):
            blocks.append("\n".join(block))
            fence = None
            prose.append("")
        elif fence is not None:
            block.append(line)
            prose.append("")
        else:
            prose.append(line)
    return "\n".join(prose), blocks


def inline_code(prose: str) -> list[str]:
    return [m.group(2).strip() for m in re.finditer(r"(`+)(.+?)\1", prose)]


def code_texts(text: str) -> list[str]:
    """Inline code spans and fenced code blocks, comments removed."""
    prose, blocks = split_fences(without_comments(text))
    return inline_code(prose) + blocks


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    prose, _ = split_fences(without_comments(text))
    seen: dict[str, int] = {}
    result = set()
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", prose, flags=re.M):
        base = slug(match.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        result.add(base if n == 0 else f"{base}-{n}")
    return result


# --- config keys --------------------------------------------------------------------------------


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _branches(node, schema: dict) -> list[dict]:
    """A schema node with its $ref resolved and its if/then/else and *Of branches alongside."""
    if not isinstance(node, dict):
        return []
    if "$ref" in node:
        target = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _branches(target, schema) + _branches({k: v for k, v in node.items() if k != "$ref"}, schema)
    found = [node]
    for key in ("then", "else"):
        found += _branches(node.get(key), schema)
    for key in ("allOf", "anyOf", "oneOf"):
        for item in node.get(key, []):
            found += _branches(item, schema)
    return found


def _children(node, schema: dict) -> tuple[dict, list]:
    """(named properties, schemas of any further key) of a schema node."""
    named, open_ = {}, []
    for branch in _branches(node, schema):
        named.update(branch.get("properties") or {})
        extra = branch.get("additionalProperties")
        if isinstance(extra, dict) or extra is True:
            open_.append(extra if isinstance(extra, dict) else {})
        open_.extend((branch.get("patternProperties") or {}).values())
    return named, open_


def key_exists(dotted: str, schema: dict) -> bool:
    nodes = [schema]
    for name in dotted.split("."):
        following = []
        for node in nodes:
            named, open_ = _children(node, schema)
            if PLACEHOLDER.match(name):
                following += list(named.values()) + open_
            elif "*" in name:
                following += [sub for key, sub in named.items() if fnmatch.fnmatchcase(key, name)]
            elif name in named:
                following.append(named[name])
            else:
                following += open_
        if not following:
            return False
        nodes = following
    return True


def config_key_problems(doc: str, text: str, schema: dict) -> list[str]:
    top = set(schema["properties"])
    problems = []
    prose, _ = split_fences(without_comments(text))
    for span in inline_code(prose):
        key = re.split(r"\s*:\s", span, maxsplit=1)[0].strip()
        if not re.fullmatch(r"[A-Za-z_]\w*(\.(<[^<>\s]+>|\{[^{}\s]+\}|[\w*]+))+", key):
            continue
        if key.rsplit(".", 1)[1].lower() in FILE_EXTENSIONS:
            continue
        first = key.split(".", 1)[0]
        if first not in top:
            near = difflib.get_close_matches(first, top, n=1, cutoff=0.8)
            if near:
                problems.append(f"{doc}: `{span}`: no top-level config key {first!r} (did you mean {near[0]!r}?)")
            continue
        if not key_exists(key, schema):
            problems.append(f"{doc}: `{span}` names a config key that is not in schemas/config.schema.yaml")
    return problems


# --- results paths ------------------------------------------------------------------------------


def rule_output_patterns() -> list[str]:
    """Every results/… string literal of an `output:` block in rules/*.smk."""
    patterns = []
    for path in sorted((REPO / "rules").glob("*.smk")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            header = re.match(r"^(\s*)output:\s*(.*)$", line)
            if not header:
                continue
            indent, block = len(header.group(1)), [header.group(2)]
            for following in lines[i + 1:]:
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                block.append(following)
            patterns += re.findall(r"""["'](results/[^"']*)["']""", "\n".join(block))
    return patterns


def _pattern_regex(pattern: str) -> str:
    parts = re.split(r"(\{[^{}]+\})", pattern)
    return "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)


def output_regexes(patterns: list[str]) -> tuple[list[re.Pattern], list[re.Pattern]]:
    """Regexes of the outputs, and of the folders above them (ending in '/')."""
    files, folders = [], set()
    for pattern in patterns:
        files.append(re.compile(_pattern_regex(pattern)))
        components = pattern.split("/")
        for n in range(1, len(components)):
            folders.add(_pattern_regex("/".join(components[:n]) + "/"))
    return files, [re.compile(f) for f in sorted(folders)]


def doc_results_paths(text: str) -> list[str]:
    paths = []
    for code in code_texts(text):
        for token in re.findall(r"(?<![\w./-])results/[^\s`'\"()\[\]|;]*", code):
            paths.append(token.rstrip(".,:"))
    return paths


def _expand(path: str) -> list[str]:
    """{a,b} alternatives expanded; placeholders become one concrete path component."""
    match = re.search(r"\{([^{}]*,[^{}]*)\}", path)
    if match:
        return [x for alt in match.group(1).split(",")
                for x in _expand(path[:match.start()] + alt + path[match.end():])]
    return [re.sub(r"<[^<>]+>|\{[^{}]+\}|\*", "x", path)]


def results_path_problems(doc: str, text: str, patterns: list[str]) -> list[str]:
    files, folders = output_regexes(patterns)
    problems = []
    for path in doc_results_paths(text):
        if any(path.startswith(prefix) for prefix in NOT_RULE_OUTPUTS):
            continue
        for probe in _expand(path):
            name = probe.rstrip("/").rsplit("/", 1)[-1]
            as_file = not probe.endswith("/") and any(r.fullmatch(probe) for r in files)
            # a folder is written with a trailing slash, or as a last component without a suffix
            as_folder = (probe.endswith("/") or "." not in name) and any(
                r.fullmatch(probe.rstrip("/") + "/") for r in folders)
            if not (as_file or as_folder):
                problems.append(f"{doc}: `{path}` is no rule's output (rules/*.smk) nor a folder of one")
                break
    return problems


# --- links --------------------------------------------------------------------------------------


def link_problems(path: Path, text: str, root: Path = REPO) -> list[str]:
    doc = str(path.relative_to(root))
    prose, _ = split_fences(without_comments(text))
    prose = re.sub(r"(`+).+?\1", "", prose)
    targets = re.findall(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", prose)
    targets += re.findall(r"^\s*\[[^\]]+\]:\s*(\S+)", prose, flags=re.M)
    problems = []
    for target in targets:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I):  # http:, https:, mailto:
            continue
        file_part, _, fragment = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.is_relative_to(root.resolve()):
            problems.append(f"{doc}: link `{target}` leaves the repository")
        elif not resolved.exists():
            problems.append(f"{doc}: link `{target}` resolves to nothing ({resolved.relative_to(root.resolve())})")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved.read_text()):
            problems.append(f"{doc}: link `{target}`: no heading #{fragment} in {resolved.relative_to(root.resolve())}")
    return problems


# --- make targets -------------------------------------------------------------------------------


def makefile_targets(makefile: Path = REPO / "Makefile") -> set[str]:
    targets = set()
    for line in makefile.read_text().splitlines():
        match = re.match(r"^([^\s#:=$][^:=]*?)\s*::?(?![=])", line)
        if match and not re.match(r"^\s", line):
            targets.update(match.group(1).split())
    return targets


def doc_make_targets(text: str) -> list[tuple[str, str]]:
    """(command, target) for every `make …` command in inline code or code blocks."""
    found = []
    for code in code_texts(text):
        for line in code.splitlines():
            for match in re.finditer(r"(?<![\w./-])make\b((?:[ \t]+[^\s#;&|<>()`]+)*)", line):
                for word in match.group(1).split():
                    if re.match(r"^[A-Za-z_]\w*=", word) or word.startswith("-"):
                        continue
                    found.append((match.group(0).strip(), word))
    return found


def make_target_problems(doc: str, text: str, targets: set[str]) -> list[str]:
    return [f"{doc}: `{command}` names make target {target!r}, which the Makefile does not have"
            for command, target in doc_make_targets(text) if target not in targets]


# --- the README ---------------------------------------------------------------------------------

ISSUE_REFERENCE = re.compile(
    r"\b(?:issues?|pull requests?|PRs?)\s*#?\s*\d+|(?<![\w&/#])#\d+\b|/(?:issues|pull)/\d+", re.I)


def readme_problems(text: str, doc: str = "README.md") -> list[str]:
    problems = []
    lines = text.splitlines()
    if len(lines) > README_MAX_LINES:
        problems.append(f"{doc}: {len(lines)} lines, more than {README_MAX_LINES}")
    for number, line in enumerate(lines, 1):
        if re.search(r"(?<![\w-])shared/", line):
            problems.append(f"{doc}:{number}: refers to a team folder (shared/): {line.strip()!r}")
        for match in ISSUE_REFERENCE.finditer(line):
            problems.append(f"{doc}:{number}: issue or pull-request number {match.group(0)!r}")
        if "TODO" in line:
            problems.append(f"{doc}:{number}: TODO placeholder: {line.strip()!r}")
    _, blocks = split_fences(text)
    first = [line.split("#")[0].strip() for line in (blocks[0].splitlines() if blocks else [])][:2]
    if first != ["make demo", "make test"]:
        problems.append(f"{doc}: the first code block must start with `make demo` and `make test`, found {first}")
    return problems


# --- the checks on the real docs ----------------------------------------------------------------


def test_docs_found():
    names = {doc_id(path) for path in DOCS}
    assert {"README.md", "docs/methods.md", "docs/running.md", "docs/reproducibility.md",
            "docs/evaluation.md", "docs/predict.md", "docs/benchmarks.md"} <= names, names


def test_rule_outputs_parsed():
    patterns = rule_output_patterns()
    for expected in ("results/table.md", "results/summary.md", "results/scores/{backbone}/{classifier}.json"):
        assert expected in patterns, f"rules/*.smk: {expected} not found among the parsed outputs {patterns}"


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_config_keys_exist(path):
    problems = config_key_problems(doc_id(path), path.read_text(), load_schema())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_results_paths_are_rule_outputs(path):
    problems = results_path_problems(doc_id(path), path.read_text(), rule_output_patterns())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_relative_links_resolve(path):
    problems = link_problems(path, path.read_text())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_make_targets_exist(path):
    problems = make_target_problems(doc_id(path), path.read_text(), makefile_targets())
    assert not problems, "\n".join(problems)


def test_readme_is_short_and_clean():
    problems = readme_problems(README.read_text())
    assert not problems, "\n".join(problems)


def test_ci_runs_the_readmes_test_command():
    assert re.search(r"^\s*make test\s*$", (REPO / ".ci" / "run").read_text(), flags=re.M), \
        ".ci/run: does not run `make test`, the README's test command"


# --- every check can fail -----------------------------------------------------------------------

BAD_PAGE = """# A page

Set `sample.group_by: board` and `classifiers.nn.dropuot`, `sampel.seed`, `backbones.<name>.colour`,
`clean.near_duplicate_*speed`; not keys: `table.md`, `pinclass.predict`, `refit.ties`.

Read `results/table.md`, `results/scores/{backbone}/{classifier}.json`, `results/models/{backbone}/`,
`results/plots/{backbone}/{classifier}.confusion.{png,pdf}`, `results/repeats/<r>/`, and the
missing `results/tabel.md` and `results/scores/{backbone}.json`.

See [methods](docs/methods.md#the-table), [nothing](docs/nothing.md), [anchor](docs/methods.md#no-such-heading),
[outside](../outside.md), [web](https://example.org/x).

```bash
make GPU=1 setup && make demo
make nowhere   # not a target
```

<!-- TODO(engineer): `make doctor`, `sampel.x`, results/nothing.md -->
"""


def test_config_key_check_catches_a_missing_key():
    problems = config_key_problems("page.md", BAD_PAGE, load_schema())
    assert problems == [
        "page.md: `classifiers.nn.dropuot` names a config key that is not in schemas/config.schema.yaml",
        "page.md: `sampel.seed`: no top-level config key 'sampel' (did you mean 'sample'?)",
        "page.md: `backbones.<name>.colour` names a config key that is not in schemas/config.schema.yaml",
        "page.md: `clean.near_duplicate_*speed` names a config key that is not in schemas/config.schema.yaml",
    ], problems


def test_config_key_check_reads_placeholders_and_globs():
    schema = load_schema()
    for key in ("backbones.<name>.weights.hash", "classifiers.<name>.*", "clean.near_duplicate_*distance",
                "predict.{name}.top", "classifiers.lsvm.grid.C", "demo.*"):
        assert key_exists(key, schema), key
    for key in ("classifiers.nn.grid.C.x", "sample.group_by.x", "table.nothing"):
        assert not key_exists(key, schema), key


def test_results_path_check_catches_a_path_no_rule_writes():
    problems = results_path_problems("page.md", BAD_PAGE, rule_output_patterns())
    assert problems == [
        "page.md: `results/tabel.md` is no rule's output (rules/*.smk) nor a folder of one",
        "page.md: `results/scores/{backbone}.json` is no rule's output (rules/*.smk) nor a folder of one",
    ], problems


def test_link_check_catches_broken_links():
    problems = link_problems(REPO / "page.md", BAD_PAGE)
    assert problems == [
        "page.md: link `docs/nothing.md` resolves to nothing (docs/nothing.md)",
        "page.md: link `docs/methods.md#no-such-heading`: no heading #no-such-heading in docs/methods.md",
        "page.md: link `../outside.md` leaves the repository",
    ], problems


def test_make_check_catches_a_missing_target():
    problems = make_target_problems("page.md", BAD_PAGE, makefile_targets())
    assert problems == ["page.md: `make nowhere` names make target 'nowhere', which the Makefile does not have"], problems


def test_makefile_targets_are_read():
    assert {"setup", "demo", "test", "lint"} <= makefile_targets()


def test_readme_check_catches_length_team_folders_issue_numbers_and_order():
    bad = "\n".join([
        "# Title", "", "```bash", "make test", "make demo", "```",
        "Summary in ../shared/paper/SUMMARY.md, see issue 20 and #14 (also /work/shared/x).",
        "TODO: more",
    ] + ["filler"] * README_MAX_LINES)
    problems = readme_problems(bad)
    assert any("more than 150" in p for p in problems), problems
    assert sum("shared/" in p for p in problems) == 1, problems  # one line, reported once
    assert any("'issue 20'" in p for p in problems) and any("'#14'" in p for p in problems), problems
    assert any("TODO placeholder" in p for p in problems), problems
    assert any("must start with `make demo` and `make test`" in p for p in problems), problems


def test_slugs_follow_github():
    assert slug("CPU runtimes: TensorFlow vs OpenVINO") == "cpu-runtimes-tensorflow-vs-openvino"
    assert slug("The linear SVM at the paper's size") == "the-linear-svm-at-the-papers-size"
    assert slug("Checking a GPU node (make doctor)") == "checking-a-gpu-node-make-doctor"
    assert slug("Reruns: what a change reruns") == "reruns-what-a-change-reruns"
