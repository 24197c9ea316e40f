"""The Gradio app: one function per tab, each a thin client of the Library (no search logic here).

Tabs are listed in ``TABS``; a new tab is one function ``(ctx) -> None`` that builds its components
inside the ``gr.Tab`` it is given, plus one line in ``TABS``. Every event has an ``api_name`` so that
``gradio_client`` (and the tests) can call it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..errors import PixseekError
from ..jobs import IndexJob
from ..library import Library
from ..thumbs import PREVIEW_SIZE, jpeg_thumbnail
from ..types import EncodedQuery, Hit
from . import render

PAGE_SIZE = 24  # results per search, and per "load more"

CSS = """
#results .thumbnail-item { border-radius: 6px; }
#results .caption-label { font-size: 0.78rem; }
#detail-info code { word-break: break-all; }
.px-progress progress { width: 100%; height: 14px; }
.px-example { display: flex; align-items: center; gap: 8px; font-size: 0.85rem; }
.px-example img { max-height: 72px; max-width: 96px; border-radius: 4px; }
.px-progress div { margin-top: 4px; font-size: 0.9rem; }
"""


@dataclass
class UiContext:
    """What every tab gets: the library, the one indexing job of this server, the app and its own tab
    (for events such as ``app.load`` and ``tab.select``)."""

    lib: Library
    job: IndexJob
    app: gr.Blocks
    tab: gr.Tab | None = None


def build_app(lib: Library, title: str = "pixseek") -> gr.Blocks:
    """The whole app for ``lib`` (not started: see :func:`pixseek.ui.launch`)."""
    thumbs = lib.thumb_cache.folder
    thumbs.mkdir(parents=True, exist_ok=True)
    # Thumbnails are served straight from their cache folder (no copy per search); nothing else of
    # the user's is: originals never leave the server, only thumbnails and previews of indexed photos.
    gr.set_static_paths([str(thumbs)])
    job = IndexJob(lib)
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown(f"# {title}\nFind your photos by words, or by dropping a photo that looks like them.",
                    elem_id="header")
        with gr.Tabs():
            for tab_title, tab_id, build in TABS:
                with gr.Tab(tab_title, id=tab_id) as tab:
                    build(UiContext(lib=lib, job=job, app=app, tab=tab))
    return app


def launch_options(lib: Library) -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch`` that the app needs (theme, CSS, limits, privacy)."""
    return dict(theme=gr.themes.Soft(), css=CSS, share=False, quiet=True, show_error=True,
                footer_links=["api"], max_file_size="100mb", ssr_mode=False, enable_monitoring=False,
                mcp_server=False, pwa=False, run_history=False)


# -- Search tab ------------------------------------------------------------------------------------
def search_tab(ctx: UiContext) -> None:
    lib = ctx.lib
    with gr.Row(equal_height=True):
        with gr.Column(scale=3):
            text = gr.Textbox(label="Describe the photo", placeholder="a cat on a sofa (Enter searches)",
                              lines=1, max_lines=1, elem_id="query-text")
            with gr.Row():
                search_btn = gr.Button("Search", variant="primary", elem_id="search-btn", scale=1)
                k = gr.Slider(6, 96, value=PAGE_SIZE, step=6, label="Results per page", elem_id="k", scale=3)
        with gr.Column(scale=1, min_width=220):
            # A file drop zone, not gr.Image: gr.Image would show the upload by fetching it back from
            # the server, racing its deletion. The photo in the query is shown inline instead.
            photo = gr.File(label="…or drop a photo", file_types=["image"], file_count="single", height=110,
                            elem_id="query-photo")
            example = gr.HTML(elem_id="query-example")
            forget_btn = gr.Button("Forget the photo", size="sm", visible=False, elem_id="forget-photo")
    status = gr.Markdown(elem_id="search-status")
    with gr.Row():
        with gr.Column(scale=3):
            gallery = gr.Gallery(label="Results", show_label=False, columns=6, allow_preview=False,
                                 object_fit="cover", height="auto", buttons=[], elem_id="results")
            more_btn = gr.Button("Load more", visible=False, elem_id="load-more")
        with gr.Column(scale=2, visible=False, elem_id="detail") as detail:
            big = gr.Image(show_label=False, interactive=False, buttons=["fullscreen"], elem_id="detail-image")
            info = gr.Markdown(elem_id="detail-info")
            with gr.Row():
                like_btn = gr.Button("More like this", variant="primary", elem_id="more-like-this")
                close_btn = gr.Button("Close", elem_id="close-detail")
    selected = gr.Number(value=-1, visible=False, precision=0, elem_id="selected")
    hits_st = gr.State([])  # the hits shown, as dicts, in gallery order
    query_st = gr.State(None)  # the EncodedQuery behind them, for "load more"
    photo_st = gr.State(None)  # the photo part of the query, encoded (the upload itself is gone)

    results = [gallery, hits_st, query_st, status, more_btn, detail]

    def show(query: EncodedQuery, k: int, started: float) -> tuple:
        found = lib.search_encoded(query, int(k))
        hits, more = found.hits, found.more
        return (render.gallery_items(lib, hits), [h.to_dict() for h in hits], query,
                render.search_status(len(hits), query.text, query.image, time.perf_counter() - started, more),
                gr.Button(visible=more), gr.Column(visible=False))

    def failed(exc: Exception) -> tuple:
        return (gr.skip(), gr.skip(), gr.skip(), render.problem(str(exc)), gr.skip(), gr.skip())

    def run(text: str, k: float, part: EncodedQuery | None) -> tuple:
        started = time.perf_counter()
        try:
            _require_photos(lib)
            return show(lib.encode_query(text=text, image=part), int(k), started)
        except PixseekError as exc:
            return failed(exc)

    def by_photo(upload: dict | None, text: str, k: float) -> tuple:
        # Called with preprocess=False, so that a file that is not an image gets the library's
        # one-line reason rather than Gradio's traceback.
        if not upload or not upload.get("path"):
            return (gr.skip(), gr.skip(), gr.skip(), gr.skip(), *run(text, k, None))
        started = time.perf_counter()
        try:
            data = _take_upload(upload["path"])  # read, then delete: uploaded query photos are not kept
            _require_photos(lib)
            name = os.path.basename(upload.get("orig_name") or upload["path"])
            part = lib.encode_query(image=data, image_name=name)
            shown = render.inline_photo(jpeg_thumbnail(data), name)
            return (None, shown, gr.Button(visible=True), part,
                    *show(lib.encode_query(text=text, image=part), int(k), started))
        except PixseekError as exc:
            return (None, "", gr.Button(visible=False), None, *failed(exc))

    def load_more(query: EncodedQuery | None, k: float, hits: list[dict]) -> tuple:
        if query is None:
            return failed(PixseekError("search first, then load more"))
        try:
            return show(query, len(hits) + int(k), time.perf_counter())
        except PixseekError as exc:
            return failed(exc)

    def pick(evt: gr.SelectData) -> int:
        return int(evt.index)

    def open_detail(index: float, hits: list[dict]) -> tuple:
        hit = _hit_at(hits, index)
        if hit is None:
            return gr.skip(), gr.skip(), gr.Column(visible=False)
        try:
            preview = str(lib.thumbnail(hit.path, PREVIEW_SIZE))
            text = render.info_markdown(lib.image_info(hit.path), hit.score)
        except PixseekError as exc:
            return None, render.problem(str(exc)), gr.Column(visible=True)
        return preview, text, gr.Column(visible=True)

    def like_this(index: float, hits: list[dict], k: float) -> tuple:
        hit = _hit_at(hits, index)
        if hit is None:
            return (gr.skip(), gr.skip(), gr.skip(), gr.skip(), *failed(PixseekError("pick a photo first")))
        started = time.perf_counter()
        try:
            part = lib.encode_query(image=hit.path)
            shown = render.inline_photo(lib.thumbnail(hit.path).read_bytes(), os.path.basename(hit.path))
            return (shown, gr.Button(visible=True), "", part, *show(part, int(k), started))
        except PixseekError as exc:
            return (gr.skip(), gr.skip(), gr.skip(), gr.skip(), *failed(exc))

    def forget() -> tuple:
        return "", gr.Button(visible=False), None

    busy = dict(show_progress_on=gallery)  # the spinner goes on the results, the status line stays put
    gr.on([text.submit, search_btn.click], run, [text, k, photo_st], results, api_name="search", **busy)
    photo.upload(by_photo, [photo, text, k], [photo, example, forget_btn, photo_st, *results],
                 api_name="search_by_photo", preprocess=False, **busy)
    forget_btn.click(forget, None, [example, forget_btn, photo_st], api_name="forget_photo")
    more_btn.click(load_more, [query_st, k, hits_st], results, api_name="load_more", **busy)
    gallery.select(pick, None, selected, api_visibility="private", show_progress="hidden").then(
        open_detail, [selected, hits_st], [big, info, detail], api_name="detail")
    like_btn.click(like_this, [selected, hits_st, k], [example, forget_btn, text, photo_st, *results],
                   api_name="more_like_this", **busy)
    close_btn.click(lambda: gr.Column(visible=False), None, detail, api_visibility="private")


def _require_photos(lib: Library) -> None:
    if lib.catalog.count_images() == 0:
        raise PixseekError("no photos are indexed yet: add a folder in the Library tab")


def _hit_at(hits: list[dict], index: float | None) -> Hit | None:
    if index is None or not 0 <= int(index) < len(hits):
        return None
    return Hit(**hits[int(index)])


def _take_upload(path: str) -> bytes:
    """The bytes of an uploaded query photo; the file (and its folder, if empty) is deleted at once."""
    from gradio.utils import get_upload_folder

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise PixseekError(f"the uploaded photo is gone ({exc.strerror}): drop it again") from exc
    upload_root = os.path.realpath(get_upload_folder())
    if os.path.realpath(path).startswith(upload_root + os.sep):  # never delete anything else
        os.remove(path)
        parent = os.path.dirname(path)
        if os.path.realpath(parent) != upload_root:
            try:
                os.rmdir(parent)
            except OSError:
                pass  # not empty: another upload shares it
    return data


# -- Library tab -----------------------------------------------------------------------------------
def library_tab(ctx: UiContext) -> None:
    lib, job = ctx.lib, ctx.job
    summary = gr.Markdown(elem_id="library-summary")
    with gr.Row(equal_height=True):
        folder = gr.Textbox(label="Add a folder (a path on this computer)", placeholder="/home/me/Pictures",
                            scale=4, elem_id="folder")
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
            return render.problem(str(exc)), gr.skip()
        return render.progress_html(p), gr.Timer(active=True)

    def poll() -> tuple:
        p = job.progress()
        if p.running:
            return render.progress_html(p), gr.skip(), gr.skip(), gr.skip()
        return (render.progress_html(p), *views(), gr.Timer(active=False))

    library_views = [summary, skipped, progress, timer]
    gr.on([add_btn.click, folder.submit], start, folder, [progress, timer], api_name="index_folder")
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
    # The Duplicates tab (issue 4) goes here: ("Duplicates", "duplicates", duplicates_tab), with
    # duplicates_tab(ctx) in ui/duplicates.py; render.gallery_items shows its groups.
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
