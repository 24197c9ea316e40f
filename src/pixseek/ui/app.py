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
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from ..errors import PixseekError
from ..jobs import IndexJob
from ..library import Library
from ..search import Query
from ..thumbs import PREVIEW_SIZE, jpeg_thumbnail
from ..types import EncodedQuery, Hit
from . import render
from .duplicates import CSS as DUPLICATES_CSS, duplicates_tab
from .query_form import MAX_PAGE, ORIENTATION_CHOICES, ActiveSearch, SearchForm

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
    return dict(theme=gr.themes.Soft(), css=CSS + DUPLICATES_CSS, share=False, quiet=True, show_error=True,
                footer_links=["api"], max_file_size="100mb", ssr_mode=False, enable_monitoring=False,
                mcp_server=False, pwa=False, run_history=False)


# -- Search tab ------------------------------------------------------------------------------------
def search_tab(ctx: UiContext) -> None:
    lib = ctx.lib
    with gr.Row(equal_height=True):
        with gr.Column(scale=3):
            with gr.Row():
                text = gr.Textbox(label="Describe the photo", value="", lines=1, max_lines=1, scale=3,
                                  placeholder="a cat on a sofa (Enter searches)", elem_id="query-text")
                negatives = gr.Textbox(label="…but not", value="", placeholder="people, umbrellas",
                                       lines=1, max_lines=1, scale=2, elem_id="query-not")
            with gr.Row():
                search_btn = gr.Button("Search", variant="primary", elem_id="search-btn", scale=1, min_width=100)
                strong = gr.Checkbox(label="Strong matches only", scale=1, min_width=150, elem_id="strong")
                all_copies = gr.Checkbox(label="Show every copy", scale=1, min_width=150, elem_id="all-copies")
                k = gr.Slider(6, MAX_PAGE, value=PAGE_SIZE, step=6, label="Results per page", elem_id="k", scale=2)
        with gr.Column(scale=1, min_width=220):
            # A file drop zone, not gr.Image: gr.Image would show the upload by fetching it back from
            # the server, racing its deletion. The photo in the query is shown inline instead.
            photo = gr.File(label="…or drop a photo", file_types=["image"], file_count="single", height=110,
                            elem_id="query-photo")
            example = gr.HTML(elem_id="query-example")
            forget_btn = gr.Button("Forget the photo", size="sm", visible=False, elem_id="forget-photo")
    refine_fields = _filters_and_weights(lib)
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
    search_st = gr.State(None)  # the ActiveSearch behind them, for "load more"
    photo_st = gr.State(None)  # the photo part of the query, encoded (the upload itself is gone)

    # The form's fields reach the handlers as keyword arguments (SearchForm's names), and the API
    # takes them by these names; text and k come first, as before the filters existed.
    fields = dict(text=text, k=k, negatives=negatives, **refine_fields, strong=strong, all_copies=all_copies)
    fields_but_text = {name: comp for name, comp in fields.items() if name != "text"}
    results = [gallery, hits_st, search_st, status, more_btn, detail]

    def show(active: ActiveSearch, page: Query, earlier: list[Hit], started: float) -> tuple:
        found = lib.query(page, exclude_ids=active.exclude)
        hits = [*earlier, *found.hits]
        active = replace(active, next_offset=page.offset + page.k)
        line = render.search_status(len(hits), active.label, found, page.filters, time.perf_counter() - started)
        return (render.gallery_items(lib, hits), [h.to_dict() for h in hits], active, line,
                gr.Button(visible=found.more), gr.Column(visible=False))

    def search(form: SearchForm, part: EncodedQuery | None, started: float) -> tuple:
        _require_photos(lib)
        query = form.query(part)
        active = ActiveSearch(query, exclude=part.exclude if part else (),
                              label=render.query_label(form, part.image if part else None))
        return show(active, query, [], started)

    def failed(exc: Exception) -> tuple:
        return (gr.skip(), gr.skip(), gr.skip(), render.problem(str(exc)), gr.skip(), gr.skip())

    def searched_or_failed(form: SearchForm, part: EncodedQuery | None, started: float) -> tuple:
        try:
            return search(form, part, started)
        except PixseekError as exc:
            return failed(exc)

    def run(part: EncodedQuery | None, **form: Any) -> tuple:
        started = time.perf_counter()
        try:
            return search(SearchForm(**form), part, started)
        except PixseekError as exc:
            return failed(exc)

    def refine(part: EncodedQuery | None, **form: Any) -> tuple:
        # A changed option re-runs the query on screen; with nothing to look for yet, it waits.
        started = time.perf_counter()
        try:
            form_ = SearchForm(**form)
        except PixseekError as exc:
            return failed(exc)
        if not form_.has_terms(part):
            return tuple(gr.skip() for _ in results)
        return searched_or_failed(form_, part, started)

    def by_photo(upload: dict | None, **form: Any) -> tuple:
        # Called with preprocess=False, so that a file that is not an image gets the library's
        # one-line reason rather than Gradio's traceback.
        if not upload or not upload.get("path"):
            return (gr.skip(), gr.skip(), gr.skip(), gr.skip(), *run(None, **form))
        started = time.perf_counter()
        try:
            data = _take_upload(upload["path"])  # read, then delete: uploaded query photos are not kept
            _require_photos(lib)
            name = os.path.basename(upload.get("orig_name") or upload["path"])
            part = lib.encode_query(image=data, image_name=name)
            shown = render.inline_photo(jpeg_thumbnail(data), name)
            form_ = SearchForm(**form)
        except PixseekError as exc:
            return (None, "", gr.Button(visible=False), None, *failed(exc))
        # The photo is in the query from here on, even if the search itself fails (a bad filter).
        return (None, shown, gr.Button(visible=True), part, *searched_or_failed(form_, part, started))

    def load_more(active: ActiveSearch | None, hits: list[dict], k: float) -> tuple:
        if active is None:
            return failed(PixseekError("search first, then load more"))
        started = time.perf_counter()
        try:
            return show(active, active.next_page(int(k)), [Hit(**h) for h in hits], started)
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
            text = render.info_markdown(lib.image_info(hit.path), hit.score, hit.copies)
        except PixseekError as exc:
            return None, render.problem(str(exc)), gr.Column(visible=True)
        return preview, text, gr.Column(visible=True)

    def like_this(index: float, hits: list[dict], **form: Any) -> tuple:
        hit = _hit_at(hits, index)
        if hit is None:
            return (gr.skip(), gr.skip(), gr.skip(), gr.skip(), *failed(PixseekError("pick a photo first")))
        started = time.perf_counter()
        try:
            part = lib.encode_query(image=hit.path)
            shown = render.inline_photo(lib.thumbnail(hit.path).read_bytes(), os.path.basename(hit.path))
            form_ = SearchForm(**form)  # no words: this photo alone, with the form's options
        except PixseekError as exc:
            return (gr.skip(), gr.skip(), gr.skip(), gr.skip(), *failed(exc))
        return (shown, gr.Button(visible=True), "", part, *searched_or_failed(form_, part, started))

    def forget() -> tuple:
        return "", gr.Button(visible=False), None

    def folders(current: str | None) -> gr.Dropdown:
        return gr.Dropdown(choices=render.folder_choices(lib.catalog.roots()), value=current or "")

    busy = dict(show_progress_on=gallery)  # the spinner goes on the results, the status line stays put
    gr.on([text.submit, negatives.submit, search_btn.click], run, [photo_st], results, inputs_kwargs=fields,
          api_name="search", **busy)
    f = refine_fields
    gr.on([f["since"].submit, f["until"].submit, f["min_size"].submit, f["under"].input, f["orientation"].input,
           f["photo_weight"].release, f["not_weight"].release, strong.input, all_copies.input], refine, [photo_st],
          results, inputs_kwargs=fields, api_visibility="private", **busy)
    photo.upload(by_photo, [photo], [photo, example, forget_btn, photo_st, *results], inputs_kwargs=fields,
                 api_name="search_by_photo", preprocess=False, **busy)
    forget_btn.click(forget, None, [example, forget_btn, photo_st], api_name="forget_photo")
    more_btn.click(load_more, [search_st, hits_st, k], results, api_name="load_more", **busy)
    gallery.select(pick, None, selected, api_visibility="private", show_progress="hidden").then(
        open_detail, [selected, hits_st], [big, info, detail], api_name="detail")
    like_btn.click(like_this, [selected, hits_st], [example, forget_btn, text, photo_st, *results],
                   inputs_kwargs=fields_but_text, api_name="more_like_this", **busy)
    close_btn.click(lambda: gr.Column(visible=False), None, detail, api_visibility="private")
    # Folders added in the Library tab show up in the folder filter when this tab is opened again.
    gr.on([ctx.app.load, ctx.tab.select], folders, f["under"], f["under"], api_name="folders",
          show_progress="hidden")


def _filters_and_weights(lib: Library) -> dict[str, gr.components.Component]:
    """The folded-away part of the search form, by SearchForm field name."""
    with gr.Accordion("Filters and weights", open=False, elem_id="refine"):
        with gr.Row():
            under = gr.Dropdown(render.folder_choices(lib.catalog.roots()), value="", label="Folder",
                                allow_custom_value=True, scale=2, elem_id="under",
                                info="an indexed folder, or type a folder inside one")
            since = gr.Textbox(label="Taken since", value="", placeholder="2021, 2021-07 or 2021-07-04",
                               info="EXIF date, else file date", elem_id="since")
            until = gr.Textbox(label="Taken until", value="", placeholder="2021-08 (all of August)",
                               info="inclusive", elem_id="until")
            min_size = gr.Textbox(label="At least", value="", placeholder="1920x1080", elem_id="min-size",
                                  info="width x height in pixels")
        with gr.Row():
            orientation = gr.Radio(ORIENTATION_CHOICES, value=ORIENTATION_CHOICES[0], label="Orientation",
                                   elem_id="orientation", scale=2)
            photo_weight = gr.Slider(0, 3, value=1, step=0.1, label="The photo's weight (the words weigh 1)",
                                     elem_id="photo-weight", scale=1)
            not_weight = gr.Slider(0, 2, value=1, step=0.1, label="How much “but not” subtracts",
                                   elem_id="not-weight", scale=1)
    return dict(photo_weight=photo_weight, not_weight=not_weight, under=under, since=since, until=until,
                orientation=orientation, min_size=min_size)


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
    ("Duplicates", "duplicates", duplicates_tab),
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
