"""The web UI: a Gradio app that is a thin client of :class:`pixseek.Library`.

    from pixseek.ui import build_app, launch
    launch(lib)                       # http://127.0.0.1:7860, blocks until Ctrl+C

Gradio is imported only when the UI is used (``import pixseek`` stays light).
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "build_app":
        from .app import build_app

        return build_app
    if name in ("launch", "check_exposure", "parse_auth"):
        from . import server

        return getattr(server, name)
    raise AttributeError(name)


__all__ = ["build_app", "check_exposure", "launch", "parse_auth"]
