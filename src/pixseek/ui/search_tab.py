"""The Search tab: its layout (``SearchView``), its event handlers (``SearchEvents``, thin calls to
the Library) and the wiring between them (``_wire``), plus the helpers they share.

Every event has an ``api_name`` (or is private), so that ``gradio_client`` and the tests call the
same handlers as the page.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from ..errors import PixseekError
from ..library import Library
from ..search import Query
from ..thumbs import PREVIEW_SIZE, jpeg_thumbnail
from ..types import EncodedQuery, Hit
from . import render
from .context import UiContext
from .query_form import MAX_PAGE, MODE_CHOICES, ORIENTATION_CHOICES, ActiveSearch, SearchForm

PAGE_SIZE = 24  # results per search, and per "load more"


def search_tab(ctx: UiContext) -> None:
    view = SearchView.build(ctx.lib)
    _wire(view, SearchEvents(ctx.lib, len(view.results)), ctx)


# -- layout ----------------------------------------------------------------------------------------
@dataclass
class SearchView:
    """The tab's components. ``fields`` are the form's, by SearchForm field name; ``results`` is
    what every search updates (gallery, hits, active search, status line, "load more", detail)."""

    text: gr.Textbox
    negatives: gr.Textbox
    search_btn: gr.Button
    strong: gr.Checkbox
    all_copies: gr.Checkbox
    k: gr.Slider
    mode: gr.Radio
    photo: gr.File
    example: gr.HTML
    forget_btn: gr.Button
    refine: dict[str, gr.components.Component]
    gallery: gr.Gallery
    more_btn: gr.Button
    detail: gr.Column
    big: gr.Image
    info: gr.Markdown
    like_btn: gr.Button
    close_btn: gr.Button
    selected: gr.Number
    status: gr.Markdown
    hits_st: gr.State  # the hits shown, as dicts, in gallery order
    search_st: gr.State  # the ActiveSearch behind them, for "load more"
    photo_st: gr.State  # the photo part of the query, encoded (the upload itself is gone)

    @classmethod
    def build(cls, lib: Library) -> "SearchView":
        parts = _query_row()
        parts["refine"] = _filters_and_weights(lib)
        parts["status"] = gr.Markdown(elem_id="search-status")
        parts |= _results_row()
        parts["selected"] = gr.Number(value=-1, visible=False, precision=0, elem_id="selected")
        return cls(**parts, hits_st=gr.State([]), search_st=gr.State(None), photo_st=gr.State(None))

    @property
    def fields(self) -> dict[str, gr.components.Component]:
        # The form's fields reach the handlers as keyword arguments (SearchForm's names), and the API
        # takes them by these names; text and k come first, as before the filters existed.
        return dict(text=self.text, k=self.k, negatives=self.negatives, **self.refine, strong=self.strong,
                    all_copies=self.all_copies, mode=self.mode)

    @property
    def results(self) -> list[gr.components.Component]:
        return [self.gallery, self.hits_st, self.search_st, self.status, self.more_btn, self.detail]


def _query_row() -> dict[str, Any]:
    """Words, "but not", the search button and options; the photo drop zone beside them."""
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
            mode = _mode_control()
        with gr.Column(scale=1, min_width=220):
            # A file drop zone, not gr.Image: gr.Image would show the upload by fetching it back from
            # the server, racing its deletion. The photo in the query is shown inline instead.
            photo = gr.File(label="…or drop a photo", file_types=["image"], file_count="single", height=110,
                            elem_id="query-photo")
            example = gr.HTML(elem_id="query-example")
            forget_btn = gr.Button("Forget the photo", size="sm", visible=False, elem_id="forget-photo")
    return dict(text=text, negatives=negatives, search_btn=search_btn, strong=strong, all_copies=all_copies, k=k,
                mode=mode, photo=photo, example=example, forget_btn=forget_btn)


def _mode_control() -> gr.Radio:
    """Which sides a text query runs: both fused (auto: when the index has words), or one."""
    return gr.Radio(MODE_CHOICES, value="auto", label="Match", elem_id="mode", container=False,
                    info="auto: what the photo looks like and the words in and about it (OCR, names, "
                         "keywords); words or visual: one side only")


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


def _results_row() -> dict[str, Any]:
    """The gallery with "load more", and the large view of one result beside it."""
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
    return dict(gallery=gallery, more_btn=more_btn, detail=detail, big=big, info=info, like_btn=like_btn,
                close_btn=close_btn)


# -- events ----------------------------------------------------------------------------------------
def _wire(view: SearchView, on: SearchEvents, ctx: UiContext) -> None:
    v, fields, results = view, view.fields, view.results
    fields_but_text = {name: comp for name, comp in fields.items() if name != "text"}
    busy = dict(show_progress_on=v.gallery)  # the spinner goes on the results, the status line stays put
    gr.on([v.text.submit, v.negatives.submit, v.search_btn.click], on.run, [v.photo_st], results,
          inputs_kwargs=fields, api_name="search", **busy)
    f = v.refine
    gr.on([f["since"].submit, f["until"].submit, f["min_size"].submit, f["under"].input, f["orientation"].input,
           f["photo_weight"].release, f["not_weight"].release, v.strong.input, v.all_copies.input, v.mode.input],
          on.refine,
          [v.photo_st], results, inputs_kwargs=fields, api_visibility="private", **busy)
    v.photo.upload(on.by_photo, [v.photo], [v.photo, v.example, v.forget_btn, v.photo_st, *results],
                   inputs_kwargs=fields, api_name="search_by_photo", preprocess=False, **busy)
    v.forget_btn.click(on.forget, None, [v.example, v.forget_btn, v.photo_st], api_name="forget_photo")
    v.more_btn.click(on.load_more, [v.search_st, v.hits_st, v.k], results, api_name="load_more", **busy)
    v.gallery.select(on.pick, None, v.selected, api_visibility="private", show_progress="hidden").then(
        on.open_detail, [v.selected, v.hits_st, v.search_st], [v.big, v.info, v.detail], api_name="detail")
    v.like_btn.click(on.like_this, [v.selected, v.hits_st], [v.example, v.forget_btn, v.text, v.photo_st, *results],
                     inputs_kwargs=fields_but_text, api_name="more_like_this", **busy)
    v.close_btn.click(lambda: gr.Column(visible=False), None, v.detail, api_visibility="private")
    # Folders added in the Library tab show up in the folder filter when this tab is opened again.
    gr.on([ctx.app.load, ctx.tab.select], on.folders, f["under"], f["under"], api_name="folders",
          show_progress="hidden")


class SearchEvents:
    """The tab's handlers. A search returns one value per ``SearchView.results`` component; the
    photo handlers return the photo parts of the form first."""

    def __init__(self, lib: Library, n_results: int) -> None:
        self.lib = lib
        self.n_results = n_results

    def show(self, active: ActiveSearch, page: Query, earlier: list[Hit], started: float) -> tuple:
        found = self.lib.query(page, exclude_ids=active.exclude)
        hits = [*earlier, *found.hits]
        active = replace(active, next_offset=page.offset + page.k)
        line = render.search_status(len(hits), active.label, found, page.filters, time.perf_counter() - started)
        return (render.gallery_items(self.lib, hits), [h.to_dict() for h in hits], active, line,
                gr.Button(visible=found.more), gr.Column(visible=False))

    def search(self, form: SearchForm, part: EncodedQuery | None, started: float) -> tuple:
        _require_photos(self.lib)
        query = form.query(part)
        active = ActiveSearch(query, exclude=part.exclude if part else (),
                              label=render.query_label(form, part.image if part else None))
        return self.show(active, query, [], started)

    @staticmethod
    def failed(exc: Exception) -> tuple:
        return (gr.skip(), gr.skip(), gr.skip(), render.problem(str(exc)), gr.skip(), gr.skip())

    def searched_or_failed(self, form: SearchForm, part: EncodedQuery | None, started: float) -> tuple:
        try:
            return self.search(form, part, started)
        except PixseekError as exc:
            return self.failed(exc)

    def run(self, part: EncodedQuery | None, **form: Any) -> tuple:
        started = time.perf_counter()
        try:
            return self.search(SearchForm(**form), part, started)
        except PixseekError as exc:
            return self.failed(exc)

    def refine(self, part: EncodedQuery | None, **form: Any) -> tuple:
        # A changed option re-runs the query on screen; with nothing to look for yet, it waits.
        started = time.perf_counter()
        try:
            form_ = SearchForm(**form)
        except PixseekError as exc:
            return self.failed(exc)
        if not form_.has_terms(part):
            return tuple(gr.skip() for _ in range(self.n_results))
        return self.searched_or_failed(form_, part, started)

    def by_photo(self, upload: dict | None, **form: Any) -> tuple:
        # Called with preprocess=False, so that a file that is not an image gets the library's
        # one-line reason rather than Gradio's traceback.
        if not upload or not upload.get("path"):
            return (gr.skip(), gr.skip(), gr.skip(), gr.skip(), *self.run(None, **form))
        started = time.perf_counter()
        try:
            data = _take_upload(upload["path"])  # read, then delete: uploaded query photos are not kept
            _require_photos(self.lib)
            name = os.path.basename(upload.get("orig_name") or upload["path"])
            part = self.lib.encode_query(image=data, image_name=name)
            shown = render.inline_photo(jpeg_thumbnail(data), name)
            form_ = SearchForm(**form)
        except PixseekError as exc:
            return (None, "", gr.Button(visible=False), None, *self.failed(exc))
        # The photo is in the query from here on, even if the search itself fails (a bad filter).
        return (None, shown, gr.Button(visible=True), part, *self.searched_or_failed(form_, part, started))

    def load_more(self, active: ActiveSearch | None, hits: list[dict], k: float) -> tuple:
        if active is None:
            return self.failed(PixseekError("search first, then load more"))
        started = time.perf_counter()
        try:
            return self.show(active, active.next_page(int(k)), [Hit(**h) for h in hits], started)
        except PixseekError as exc:
            return self.failed(exc)

    @staticmethod
    def pick(evt: gr.SelectData) -> int:
        return int(evt.index)

    def open_detail(self, index: float, hits: list[dict], active: ActiveSearch | None = None) -> tuple:
        hit = _hit_at(hits, index)
        if hit is None:
            return gr.skip(), gr.skip(), gr.Column(visible=False)
        try:
            preview = str(self.lib.thumbnail(hit.path, PREVIEW_SIZE))
            info = self.lib.image_info(hit.path)
            text = render.info_markdown(info, hit.score, hit.copies, hit.why)
            # the text read in the photo, boxed; the boxes that match the query's words highlighted
            words = self.lib.words_for(hit.path, active.query.text if active is not None else None)
        except PixseekError as exc:
            return None, render.problem(str(exc)), gr.Column(visible=True)
        if any(w.kind == "ocr" and w.box for w in words):
            return render.draw_word_boxes(preview, words, (info.width, info.height)), text, gr.Column(visible=True)
        return preview, text, gr.Column(visible=True)

    def like_this(self, index: float, hits: list[dict], **form: Any) -> tuple:
        hit = _hit_at(hits, index)
        if hit is None:
            return (gr.skip(), gr.skip(), gr.skip(), gr.skip(), *self.failed(PixseekError("pick a photo first")))
        started = time.perf_counter()
        try:
            part = self.lib.encode_query(image=hit.path)
            shown = render.inline_photo(self.lib.thumbnail(hit.path).read_bytes(), os.path.basename(hit.path))
            form_ = SearchForm(**form)  # no words: this photo alone, with the form's options
        except PixseekError as exc:
            return (gr.skip(), gr.skip(), gr.skip(), gr.skip(), *self.failed(exc))
        return (shown, gr.Button(visible=True), "", part, *self.searched_or_failed(form_, part, started))

    @staticmethod
    def forget() -> tuple:
        return "", gr.Button(visible=False), None

    def folders(self, current: str | None) -> gr.Dropdown:
        return gr.Dropdown(choices=render.folder_choices(self.lib.catalog.roots()), value=current or "")


# -- helpers ---------------------------------------------------------------------------------------
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
