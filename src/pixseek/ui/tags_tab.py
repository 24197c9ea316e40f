"""The Tags tab: pick a tag, "Suggest more", then one click per photo to accept ("Yes") or reject
("No"): the answer becomes an example or a counter-example and the suggestions are made again.
"Unsure first" orders them by closeness to 50 % (the answers that teach the classifier most). The
Search tab tags a result from its large view; its filters take tags too. See docs/tags.md.
"""

from __future__ import annotations

import gradio as gr

from ..errors import PixseekError
from ..types import Hit
from . import render
from .context import UiContext

SUGGESTIONS = 24


def tags_tab(ctx: UiContext) -> None:
    lib = ctx.lib
    with gr.Row(equal_height=True):
        name = gr.Dropdown(choices=[], value=None, allow_custom_value=True, label="Tag", scale=2, elem_id="tag-name",
                           info="a tag made from examples (tag photos from the Search tab's large view)")
        uncertain = gr.Checkbox(label="Unsure first", scale=1, elem_id="tag-uncertain")
        suggest_btn = gr.Button("Suggest more", variant="primary", scale=1, elem_id="tag-suggest")
    status = gr.Markdown(elem_id="tag-status")
    gallery = gr.Gallery(label="Suggestions", show_label=False, columns=6, allow_preview=False, object_fit="cover",
                         height="auto", buttons=[], elem_id="tag-suggestions")
    with gr.Row():
        yes_btn = gr.Button("Yes, it is", variant="primary", elem_id="tag-yes")
        no_btn = gr.Button("No, it is not", variant="stop", elem_id="tag-no")
    table = gr.Dataframe(headers=["Tag", "Pictures", "Examples", "Counter-examples", "Applied", "Precision (est.)"],
                         label="Tags", interactive=False, elem_id="tag-table")
    selected = gr.Number(value=-1, visible=False, precision=0)
    shown = gr.State([])  # the suggestions on screen, as dicts, in gallery order

    def tags_view() -> tuple:
        infos = lib.tags(estimate=True)
        rows = [[t.name, t.count, t.positives, t.negatives, t.applied,
                 "" if t.precision is None else f"{t.precision:.2f}"] for t in infos]
        return gr.Dropdown(choices=[t.name for t in infos]), rows

    def suggest(tag: str | None, unsure: bool) -> tuple:
        try:
            if not tag:
                raise PixseekError("choose a tag first (make one by tagging photos in the Search tab)")
            found = lib.suggest_tag(tag, SUGGESTIONS, uncertain=bool(unsure))
        except PixseekError as exc:
            return gr.skip(), gr.skip(), render.problem(str(exc)), -1
        hits = [Hit(path=s.path, score=s.probability, id=0) for s in found]
        line = f"{len(found)} suggestion(s) for **{tag}** (probability · file); click one, then Yes or No"
        return render.gallery_items(lib, hits), [s.to_dict() for s in found], line, -1

    def answer(positive: bool):
        def handle(tag: str | None, index: float, current: list[dict], unsure: bool) -> tuple:
            if tag is None or index is None or not 0 <= int(index) < len(current):
                return gr.skip(), gr.skip(), render.problem("click a suggestion first"), -1, gr.skip()
            path = current[int(index)]["path"]
            try:
                if positive:
                    lib.tag(tag, [path])
                else:
                    lib.tag(tag, (), not_photos=[path])
            except PixseekError as exc:
                return gr.skip(), gr.skip(), render.problem(str(exc)), -1, gr.skip()
            items, dicts, line, _ = suggest(tag, unsure)
            said = "is" if positive else "is not"
            return items, dicts, f"{path} {said} **{tag}**; " + (line if isinstance(line, str) else ""), -1, \
                tags_view()[1]
        return handle

    def pick(evt: gr.SelectData) -> int:
        return int(evt.index)

    suggest_btn.click(suggest, [name, uncertain], [gallery, shown, status, selected], api_name="suggest_tag")
    gallery.select(pick, None, selected, api_visibility="private", show_progress="hidden")
    yes_btn.click(answer(True), [name, selected, shown, uncertain], [gallery, shown, status, selected, table],
                  api_name="accept_suggestion")
    no_btn.click(answer(False), [name, selected, shown, uncertain], [gallery, shown, status, selected, table],
                 api_name="reject_suggestion")
    gr.on([ctx.app.load, ctx.tab.select], tags_view, None, [name, table], api_name="tags")
