"""The Explore tab: the library as groups of look-alike photos (click a group to see it and search
inside it), the photos unlike the rest, and tuning to the user's albums with its before/after
figures. A thin client of ``Library.clusters / query_within / tune / tune_off / tuned``.
"""

from __future__ import annotations

import html
import os

import gradio as gr

from ..errors import PixseekError
from ..library import Library
from ..search import Query
from . import render
from .context import UiContext

SHOWN = 60  # photos of one cluster shown at a time
TUNE_SOURCES = [("Albums (each folder is a label)", "folders"), ("Tags", "tags"),
                ("Duplicate groups", "duplicates")]


def explore_tab(ctx: UiContext) -> None:
    lib = ctx.lib
    clusters_st = gr.State([])  # per cluster, its photos' paths (closest to the centre first)
    chosen = gr.Number(value=-1, visible=False, precision=0, elem_id="chosen-cluster")  # the group open below
    with gr.Row(equal_height=True):
        k = gr.Number(value=12, minimum=1, maximum=200, precision=0, label="Groups", scale=1, elem_id="explore-k")
        find_btn = gr.Button("Group my photos", variant="primary", scale=1, elem_id="find-clusters")
    status = gr.Markdown(elem_id="explore-status")
    groups = gr.Gallery(label="Groups (click one to open it)", columns=6, allow_preview=False, object_fit="cover",
                        height="auto", buttons=[], elem_id="clusters")
    with gr.Column(visible=False, elem_id="cluster") as cluster_box:
        cluster_title = gr.Markdown(elem_id="cluster-title")
        with gr.Row(equal_height=True):
            inside = gr.Textbox(label="Search inside this group", scale=4, elem_id="cluster-search")
            inside_btn = gr.Button("Search", scale=1, elem_id="cluster-search-btn")
        members = gr.Gallery(show_label=False, columns=8, allow_preview=False, object_fit="cover", height="auto",
                             buttons=[], elem_id="cluster-photos")
    odd = gr.Gallery(label="Unlike the rest", columns=8, allow_preview=False, object_fit="cover", height="auto",
                     buttons=[], elem_id="outliers")
    with gr.Accordion("Tune to your photos", open=False, elem_id="tune"):
        gr.Markdown("Learn a small adapter from your labels so that photos with one label come closer "
                    "together; figures are measured on photos held out from the learning. Nothing is "
                    "encoded again, and it can be undone exactly.")
        tuned = gr.Markdown(elem_id="tune-state")
        with gr.Row(equal_height=True):
            source = gr.Dropdown(TUNE_SOURCES, value="folders", label="Learn from", scale=2, elem_id="tune-source")
            tune_btn = gr.Button("Tune", variant="primary", scale=1, elem_id="tune-btn")
            off_btn = gr.Button("Back to the model's own vectors", scale=1, elem_id="tune-off")
        figures = gr.Markdown(elem_id="tune-figures")

    def find(n: float) -> tuple:
        try:
            report = lib.clusters(int(n or 12))
        except (PixseekError, ValueError) as exc:
            return render.problem(str(exc)), [], [], [], gr.Column(visible=False)
        tiles = [(_thumb(lib, c.paths[0]), f"group {c.number} · {c.size} photos") for c in report.clusters]
        outliers = [(_thumb(lib, p), f"{s:.2f} · {os.path.basename(p)}") for p, s in report.outliers]
        line = f"{report.photos} photos in {len(report.clusters)} groups" + (" (tuned space)" if lib.tuned() else "")
        return line, tiles, outliers, [c.paths for c in report.clusters], gr.Column(visible=False)

    def open_cluster(index: float | None, clusters: list[list[str]]) -> tuple:
        index = -1 if index is None else int(index)
        if not 0 <= index < len(clusters):
            return gr.Column(visible=False), "", [], -1
        paths = clusters[index]
        items = [(_thumb(lib, p), os.path.basename(p)) for p in paths[:SHOWN]]
        more = f" (the {SHOWN} closest to its centre shown)" if len(paths) > SHOWN else ""
        return gr.Column(visible=True), f"**Group {index + 1}** · {len(paths)} photos{more}", items, index

    def pick(evt: gr.SelectData) -> int:
        return int(evt.index)

    def search_inside(text: str, index: float | None, clusters: list[list[str]]) -> tuple:
        if index is None or not 0 <= int(index) < len(clusters):
            return [], render.problem("open a group first")
        try:
            results = lib.query_within(Query(text=text, k=SHOWN), clusters[int(index)])
        except PixseekError as exc:
            return gr.skip(), render.problem(str(exc))
        items = render.gallery_items(lib, results.hits)
        return items, f"**Group {int(index) + 1}** · {len(items)} photos for “{html.escape(text)}”"

    def state() -> str:
        info = lib.tuned()
        if not info:
            return "Not tuned: searches use the model's own vectors."
        return f"Tuned from **{info.get('source', '?')}** ({info.get('labels', '?')} labels, " \
               f"{info.get('photos', '?')} photos) on {info.get('created', '?')}.\n\n" + _table(info)

    def tune(chosen: str) -> tuple:
        try:
            report = lib.tune(chosen)
        except PixseekError as exc:
            return state(), render.problem(str(exc))
        head = (f"Tuned on {report.labels} labels, {report.photos} photos ({report.train} to learn from, "
                f"{report.test} held out) in {report.seconds:.1f} s")
        notes = "".join(f"\n\n{html.escape(n)}" for n in report.notes)
        return state(), head + "\n\n" + _table({"before": report.before, "after": report.after}) + notes

    def off() -> tuple:
        try:
            was = lib.tune_off()
        except PixseekError as exc:
            return state(), render.problem(str(exc))
        return state(), "Back to the model's own vectors." if was else "It was not tuned."

    find_btn.click(find, k, [status, groups, odd, clusters_st, cluster_box], api_name="clusters")
    groups.select(pick, None, chosen, api_visibility="private", show_progress="hidden").then(
        open_cluster, [chosen, clusters_st], [cluster_box, cluster_title, members, chosen], api_name="open_cluster")
    gr.on([inside.submit, inside_btn.click], search_inside, [inside, chosen, clusters_st], [members, cluster_title],
          api_name="search_cluster")
    tune_btn.click(tune, source, [tuned, figures], api_name="tune")
    off_btn.click(off, None, [tuned, figures], api_name="tune_off")
    gr.on([ctx.app.load, ctx.tab.select], state, None, tuned, api_name="tuning", show_progress="hidden")


def _thumb(lib: Library, path: str) -> str:
    try:
        return str(lib.thumbnail(path))
    except PixseekError:
        return str(lib.thumb_cache.placeholder())


def _table(info: dict) -> str:
    """Before/after figures as a Markdown table."""
    before, after = info.get("before") or {}, info.get("after") or {}
    if not after:
        return "(no photos were held out to measure on)"
    rows = ["| figure | before | after |", "|---|---|---|"]
    rows += [f"| {key} | {before.get(key, float('nan')):.3f} | {after[key]:.3f} |" for key in after]
    return "\n".join(rows)
