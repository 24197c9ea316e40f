"""The Gradio app: one function per tab, each a thin client of the Library (no search logic here);
the Search tab lives in ``search_tab.py``, the Duplicates tab in ``duplicates.py``.

Tabs are listed in ``TABS``; a new tab is one function ``(ctx) -> None`` that builds its components
inside the ``gr.Tab`` it is given, plus one line in ``TABS``. Every event has an ``api_name`` so that
``gradio_client`` (and the tests) can call it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import gradio as gr

from ..errors import PixseekError
from ..jobs import IndexJob
from ..library import Library
from . import render
from .context import UiContext
from .duplicates import CSS as DUPLICATES_CSS, duplicates_tab
from .explore_tab import explore_tab
from .search_tab import search_tab
from .tags_tab import tags_tab

CSS = """
#results .thumbnail-item { border-radius: 6px; }
#results .caption-label { font-size: 0.78rem; }
#detail-info code { word-break: break-all; }
.px-progress progress { width: 100%; height: 14px; }
.px-example { display: flex; align-items: center; gap: 8px; font-size: 0.85rem; }
.px-example img { max-height: 72px; max-width: 96px; border-radius: 4px; }
.px-progress div { margin-top: 4px; font-size: 0.9rem; }
"""


def build_app(lib: Library, title: str = "pixseek", watcher: Any = None) -> gr.Blocks:
    """The whole app for ``lib`` (not started: see :func:`pixseek.ui.launch`). With ``watcher`` (a
    :class:`pixseek.indexing.watch.Watcher`), a line under the title says what arrived."""
    thumbs = lib.thumb_cache.folder
    thumbs.mkdir(parents=True, exist_ok=True)
    # Thumbnails are served straight from their cache folder (no copy per search); nothing else of
    # the user's is: originals never leave the server, only thumbnails and previews of indexed photos.
    gr.set_static_paths([str(thumbs)])
    job = IndexJob(lib)
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown(f"# {title}\nFind your photos by words, or by dropping a photo that looks like them.",
                    elem_id="header")
        if watcher is not None:
            watch_line(watcher)
        with gr.Tabs():
            for tab_title, tab_id, build in TABS:
                with gr.Tab(tab_title, id=tab_id) as tab:
                    build(UiContext(lib=lib, job=job, app=app, tab=tab))
    return app


def launch_options(lib: Library) -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch`` that the app needs (theme, CSS, limits, privacy)."""
    return dict(theme=gr.themes.Soft(), css=CSS + DUPLICATES_CSS, share=False, quiet=True, show_error=True,
                footer_links=["api"], max_file_size="100mb", ssr_mode=False, enable_monitoring=False,
                mcp_server=False, pwa=False, run_history=False)


def watch_line(watcher: Any) -> None:
    """"Watching ~/Pictures: 12 new photos, 3 already in your library", refreshed every 2 s."""
    def line() -> str:
        return f"Watching {', '.join(watcher.roots)}: {watcher.summary()}"

    news = gr.Markdown(line(), elem_id="watch-summary")
    gr.Timer(2.0).tick(line, None, news, api_name="watch_summary", show_progress="hidden",
                       concurrency_limit=None)


# -- Library tab -----------------------------------------------------------------------------------
def library_tab(ctx: UiContext) -> None:
    lib, job = ctx.lib, ctx.job
    summary = gr.Markdown(elem_id="library-summary")
    with gr.Row(equal_height=True):
        folder = gr.Textbox(label="Add a folder (a path on this computer)", placeholder="/home/me/Pictures",
                            scale=4, elem_id="folder")
        # typing offers the folders the path could go on to (render.folder_completions), like a shell's Tab
        suggestions = gr.Dropdown([], value=None, label="Folders there", scale=2, elem_id="folder-suggestions",
                                  info="pick one to complete the path")
        add_btn = gr.Button("Add and index", variant="primary", scale=1, elem_id="add-folder")
        rescan_btn = gr.Button("Re-scan all folders", scale=1, elem_id="rescan")
    progress = gr.HTML(elem_id="index-progress")
    skipped = gr.Dataframe(headers=["Skipped file", "Reason"], label="Skipped files", interactive=False,
                           wrap=True, max_height=320, elem_id="skipped")
    timer = gr.Timer(0.5, active=False)

    def views() -> tuple:
        st = lib.status()
        return render.library_summary(st, _supports_text(lib)), render.skipped_rows(st)

    def refresh() -> tuple:
        p = job.progress()
        return (*views(), render.progress_html(p), gr.Timer(active=p.running))

    def start(path: str | None) -> tuple:
        if path is not None and not path.strip():
            return render.problem("type the path of a folder first"), gr.Timer(active=False)
        try:
            p = job.start([path.strip()] if path else None)
        except PixseekError as exc:
            return render.problem(exc), gr.skip()
        return render.progress_html(p), gr.Timer(active=True)

    def poll() -> tuple:
        p = job.progress()
        if p.running:
            return render.progress_html(p), gr.skip(), gr.skip(), gr.skip()
        return (render.progress_html(p), *views(), gr.Timer(active=False))

    def completions(typed: str) -> gr.Dropdown:
        return gr.Dropdown(choices=render.folder_completions(typed), value=None)

    def picked(path: str | None) -> tuple:
        if not path:
            return gr.skip(), gr.skip()
        return path, gr.Dropdown(choices=render.folder_completions(path.rstrip("/") + "/"), value=None)

    def complete_folder(typed: str) -> list[str]:
        """The folders a typed path could go on to (what the box offers)."""
        return render.folder_completions(typed)

    library_views = [summary, skipped, progress, timer]
    folder.input(completions, folder, suggestions, api_visibility="private", show_progress="hidden",
                 trigger_mode="always_last")
    suggestions.select(picked, suggestions, [folder, suggestions], api_visibility="private", show_progress="hidden")
    gr.api(complete_folder, api_name="complete_folder")
    # (an empty box gives None, which must not mean "re-scan everything")
    gr.on([add_btn.click, folder.submit], lambda path: start(path or ""), folder, [progress, timer],
          api_name="index_folder")
    rescan_btn.click(lambda: start(None), None, [progress, timer], api_name="rescan")
    timer.tick(poll, None, [progress, summary, skipped, timer], api_name="index_progress",
               show_progress="hidden", concurrency_limit=None)
    # Opening the page or the tab shows fresh numbers, and picks up a run started in another window.
    gr.on([ctx.app.load, ctx.tab.select], refresh, None, library_views, api_name="library")


def _supports_text(lib: Library) -> bool | None:
    """Whether the index's model reads text; None before anything is indexed or when it cannot load."""
    if lib.catalog.get_meta("model") is None:
        return None
    try:
        return lib.supports_text
    except PixseekError:
        return None


# -- the tabs, in order ------------------------------------------------------------------------------
TabBuilder = Callable[[UiContext], None]
TABS: list[tuple[str, str, TabBuilder]] = [
    ("Search", "search", search_tab),
    ("Library", "library", library_tab),
    ("Duplicates", "duplicates", duplicates_tab),
    ("Tags", "tags", tags_tab),
    ("Explore", "explore", explore_tab),
]


def warm_up(lib: Library) -> threading.Thread:
    """Load the encoder in the background so that the first search does not wait for it."""
    def load() -> None:
        try:
            if lib.catalog.count_images():
                lib.encoder  # noqa: B018 - the property loads and caches the model
        except PixseekError:
            pass  # the first search shows the reason

    thread = threading.Thread(target=load, name="pixseek-warm-up", daemon=True)
    thread.start()
    return thread
