"""What every tab of the web UI is built with (``app.TABS``; one function per tab)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ..jobs import IndexJob
from ..library import Library


@dataclass
class UiContext:
    """What every tab gets: the library, the one indexing job of this server, the app and its own tab
    (for events such as ``app.load`` and ``tab.select``)."""

    lib: Library
    job: IndexJob
    app: gr.Blocks
    tab: gr.Tab | None = None
