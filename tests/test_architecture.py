"""The shape of the code: no import cycle, and the library never imports its clients
(``python scripts/import_graph.py`` prints the graph these checks read)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from import_graph import cycles, graph  # noqa: E402

CLIENTS = ("pixseek.__main__", "pixseek.cli", "pixseek.demo", "pixseek.notebook", "pixseek.ui")


def is_client(module: str) -> bool:
    return any(module == c or module.startswith(c + ".") for c in CLIENTS)


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_the_library_never_imports_its_clients():
    wrong = {m: sorted(t for t in targets if is_client(t))
             for m, targets in graph().items() if not is_client(m)}
    assert {m: t for m, t in wrong.items() if t} == {}


def test_the_graph_sees_imports_of_every_kind(tmp_path):
    pkg = tmp_path / "pixseek"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n")
    (pkg / "b.py").write_text("def f():\n    from . import c\n")
    (pkg / "c.py").write_text("import pixseek.sub.d\n")
    (pkg / "sub" / "__init__.py").write_text("from .d import x\n")
    (pkg / "sub" / "d.py").write_text("from ..a import y\n")
    edges = graph(tmp_path)
    assert edges["pixseek.a"] == {"pixseek.b"} and edges["pixseek.b"] == {"pixseek.c"}
    assert edges["pixseek.sub"] == {"pixseek.sub.d"} and edges["pixseek.sub.d"] == {"pixseek.a"}
    assert cycles(edges) == [["pixseek.a", "pixseek.b", "pixseek.c", "pixseek.sub.d"]]
