"""The house stays navigable: no giant source file, imports that run one way, and a README table of
where each behaviour lives whose every entry resolves to a real file and function."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGES = {"sluice": ROOT / "functions" / "sluice", "sluice_cli": ROOT / "cli" / "sluice_cli"}
MAX_SOURCE_LINES = 800


def _modules() -> dict[str, Path]:
    modules = {}
    for root in PACKAGES.values():
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every project module `path` imports, at any depth (function-level imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found |= {name for name in names if name in MODULES}
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_source_file_is_over_800_lines() -> None:
    sources = [*MODULES.values(), *(ROOT / "benchmarks").glob("*.py")]
    too_long = {
        str(path.relative_to(ROOT)): count
        for path in sources
        if (count := len(path.read_text().splitlines())) > MAX_SOURCE_LINES
    }
    assert not too_long, f"split these along their seams: {too_long}"


def test_imports_run_one_way_function_level_imports_included() -> None:
    graph = {module: _imports(path) - {module} for module, path in MODULES.items()}
    # A package importing its own submodules (its __init__) is not a cycle of code.
    for module in graph:
        graph[module] = {m for m in graph[module] if not module.startswith(m + ".")}
    assert _cycles(graph) == []


WHERE_THINGS_LIVE = re.compile(r"`((?:functions|cli|statemachines)/[^`:]+?)(?::([A-Za-z_][\w.]*))?`")


def _where_things_live_rows() -> list[tuple[str, str | None]]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Where things live", 1)[1].split("\n## ", 1)[0]
    return [match.groups() for match in WHERE_THINGS_LIVE.finditer(section)]


def _defines(path: Path, dotted: str) -> bool:
    if path.suffix == ".json":
        return f'"{dotted}"' in path.read_text()
    scope: list[ast.stmt] = ast.parse(path.read_text()).body
    for name in dotted.split("."):
        found = [
            node
            for node in scope
            if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name)
            or (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets))
            or (isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == name)
        ]
        if not found:
            return False
        scope = getattr(found[0], "body", [])
    return True


def test_every_entry_of_the_where_things_live_table_resolves() -> None:
    rows = _where_things_live_rows()
    assert len(rows) >= 12
    broken = [
        f"{file}:{name}" if name else file
        for file, name in rows
        if not (ROOT / file).exists() or (name is not None and not _defines(ROOT / file, name))
    ]
    assert not broken, f"README 'Where things live' points at nothing: {broken}"
