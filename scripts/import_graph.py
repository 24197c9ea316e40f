#!/usr/bin/env python3
"""The import graph of pixseek's own modules, from the source (nothing is imported or run).

    python scripts/import_graph.py            # every module and what it imports; cycles, if any
    python scripts/import_graph.py --cycles   # only the cycles (exit 1 when there is one)

Every import statement counts, wherever it stands: at module level, inside functions (imported
late on purpose: optional or heavy libraries), and under ``if TYPE_CHECKING:`` (for annotations).
A cycle through any of them means two modules that know each other, which is what the layering
forbids (``docs/architecture.md``). Importing ``pixseek.a.b`` also runs the packages' ``__init__``
files; those implicit imports are left out, as import linters do.
``tests/test_architecture.py`` checks that there is no cycle and that nothing imports the clients.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "pixseek"


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def graph(src: Path = SRC) -> dict[str, set[str]]:
    """``module -> the pixseek modules it imports, anywhere in its code``."""
    files = {module_name(p, src): p for p in (src / PACKAGE).rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _resolve(module, is_package, node)
                # `from .pkg import mod` imports the module pkg.mod; `from .mod import name`, mod
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for target in targets:
                while target and target not in files:  # `import pixseek.x.y` counts as pixseek.x.y's file
                    target = target.rpartition(".")[0]
                if target.startswith(PACKAGE) and target != module:
                    edges[module].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def main(argv: list[str]) -> int:
    edges = graph()
    loops = cycles(edges)
    if "--cycles" not in argv:
        for module in sorted(edges):
            print(f"{module} -> {', '.join(sorted(edges[module])) or '-'}")
        print()
    print(f"{len(edges)} modules, {sum(map(len, edges.values()))} imports, "
          f"{len(loops)} cycle{'s' if len(loops) != 1 else ''}")
    for loop in loops:
        print("cycle: " + " <-> ".join(loop))
    return 1 if loops else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
