"""House rules that a reader relies on to find their way: short functions, and imports that only
point down the layers of docs/design.md#what-each-package-may-import."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bokehcli"
MAX_FUNCTION_LINES = 80


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"))) for path in sorted(PACKAGE.rglob("*.py"))]


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's body, from its first statement after the docstring to its end: the
    signature does not count (a Typer command declares its options there), nor the docstring."""
    body = node.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return node.end_lineno - body[0].lineno + 1


def imported_packages(path: Path, tree: ast.Module) -> set[str]:
    """The first component below ``bokehcli`` of every relative or absolute import of ours."""
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]   # e.g. ("bokehcli", "ops")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            target = [*base, *(node.module.split(".") if node.module else [])]
            names = [target[1]] if len(target) > 1 else [alias.name for alias in node.names]
            found.update(names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bokehcli."):
            found.add(node.module.split(".")[1])
    return found


def test_body_lines_counts_the_body_only():
    tree = ast.parse('def f(\n    a,\n    b,\n):\n    """Doc\n    string."""\n    x = 1\n    return x\n')
    assert body_lines(tree.body[0]) == 2


def test_no_function_is_longer_than_80_lines():
    long = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({body_lines(node)} lines)"
            for path, tree in _modules() for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and body_lines(node) > MAX_FUNCTION_LINES]
    assert long == []


def test_nothing_below_the_commands_imports_them():
    offenders = [str(path.relative_to(PACKAGE)) for path, tree in _modules()
                 if path.parent.name != "cli" and path.name != "__main__.py" and "cli" in imported_packages(path, tree)]
    assert offenders == []


def test_ops_and_optics_import_no_other_package_of_ours():
    foundations = [(path, tree) for path, tree in _modules()
                   if path.parent.name == "ops" or path.name == "optics.py"]
    assert len(foundations) > 3
    for path, tree in foundations:
        assert imported_packages(path, tree) <= {"ops"}, path
