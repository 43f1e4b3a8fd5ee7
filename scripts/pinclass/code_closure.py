"""What a rule's results depend on in the library: the import closure of its script within
scripts/pinclass/, read statically (every import statement, those inside functions included), so
that no hand-kept list of modules can drift from the imports."""

import ast
import hashlib
from pathlib import Path

from pinclass.provenance import CODE_ROOT

PACKAGE = "pinclass"


def imported_modules(path: Path, root: Path = CODE_ROOT) -> set[str]:
    """Names of the library modules that the file at `path` imports anywhere in its body."""
    package = root / PACKAGE
    found = set()
    for node in ast.walk(ast.parse(Path(path).read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = PACKAGE if node.level else (node.module or "")  # relative imports stay inside the package
            if node.level and node.module:
                base = f"{PACKAGE}.{node.module}"
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == PACKAGE and len(parts) > 1 and (package / f"{parts[1]}.py").exists():
                found.add(parts[1])
    return found


def closure(script: Path, root: Path = CODE_ROOT) -> list[str]:
    """Every library module the script depends on, directly or through other modules, sorted."""
    seen, pending = set(), list(imported_modules(script, root))
    while pending:
        module = pending.pop()
        if module not in seen:
            seen.add(module)
            pending.extend(imported_modules(root / PACKAGE / f"{module}.py", root))
    return sorted(seen)


def code_version(script: Path, root: Path = CODE_ROOT) -> str:
    """sha256 over the names and contents of the script's closure: a rule's `code` param."""
    digest = hashlib.sha256()
    for module in closure(script, root):
        digest.update(module.encode() + b"\0")
        digest.update((root / PACKAGE / f"{module}.py").read_bytes())
    return digest.hexdigest()
