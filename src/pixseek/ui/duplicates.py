"""The Duplicates tab: find groups, review them side by side, pick keepers, act, undo — a thin
client of ``Library.duplicates / apply / undo / not_duplicate`` (no dedup logic here).

The session keeps the groups on screen (``groups_st``, :class:`DuplicateGroup` dicts: Gradio hashes
state values, and a frozen dataclass holding lists cannot be hashed) and the
user's choices (``picks_st``: group number -> ``{"keep": path, "selected": bool}``). The per-group
controls are drawn by ``gr.render``; they call the same functions as the named API endpoints
(``/choose``, ``/not_duplicates``), which take the group number as an argument instead.
"""

from __future__ import annotations

import datetime
import html
import os
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..errors import PixseekError
from ..library import Library
from ..types import ActionReport, DuplicateGroup, DuplicateMember, Evidence
from . import render

MAX_GROUPS = 50  # shown (and acted on) at a time: the page stays light, and nothing unseen is touched
ACTIONS = [("Move to a quarantine folder", "move"), ("Hard-link byte-identical copies", "hardlink"),
           ("Move to the trash", "delete")]
# Gradio widens a gallery's few tiles to the full row; copies compare better as small tiles side by side.
CSS = """
.px-dup-group .grid-container { grid-template-columns: repeat(auto-fill, minmax(140px, 200px)) !important;
                                grid-template-rows: none !important; grid-auto-rows: auto !important; }
"""
Picks = dict[str, dict[str, Any]]  # str(group number) -> {"keep": path, "selected": bool}


# -- what the page shows (pure functions, unit-tested) -----------------------------------------------
def member_caption(m: DuplicateMember, keep: str) -> str:
    """``KEEP · IMG_1.png · 1600×1200 · 2.1 MB · 2021-07-04``: what tells copies apart."""
    dims = f"{m.width}×{m.height}" if m.width and m.height else "? px"
    parts = [os.path.basename(m.path), dims, render.human_bytes(m.size), member_date(m)]
    if m.path == keep:
        parts.insert(0, "KEEP")
    if m.protected:
        parts.append("protected")
    if m.link:
        parts.append(f"{m.link} of the keeper")
    if m.pair:
        parts.append(f"RAW+JPEG with {os.path.basename(m.pair)}")
    return " · ".join(parts)


def member_date(m: DuplicateMember) -> str:
    """The capture date (EXIF), else the file's date, marked as such."""
    if m.taken_at:
        return m.taken_at.replace("T", " ")[:16]
    when = datetime.datetime.fromtimestamp(m.mtime_ns / 1e9).isoformat(sep=" ", timespec="minutes")
    return f"file {when}"


def evidence_line(e: Evidence) -> str:
    """``a.jpg ↔ b.jpg: **copy** (hash) · cosine 0.98 · phash 4``, file names as code."""
    return e.describe(name=lambda path: render.code(os.path.basename(path)), strong=lambda tier: f"**{tier}**")


def group_header(n: int, g: DuplicateGroup) -> str:
    return f"**Group {n + 1}** · **{g.kind}** · {len(g.members)} files"


def members_table(g: DuplicateGroup, keep: str) -> str:
    """One row per member (the gallery's captions are small): what tells the copies apart."""
    rows = ["| | file | resolution | size | date | format |", "|---|---|---|---|---|---|"]
    for m in g.members:
        mark = "**keep**" if m.path == keep else ("protected" if m.protected else (m.link or ""))
        dims = f"{m.width}×{m.height}" if m.width and m.height else "?"
        rows.append(f"| {mark} | {render.code(m.path)} | {dims} | {render.human_bytes(m.size)} | "
                    f"{member_date(m)} | {html.escape(m.format or '?')} |")
    return "\n".join(rows)


def summary(groups: list[DuplicateGroup], similar: bool) -> str:
    if not groups:
        return "No duplicates found" + (" (similar shots included)." if similar else
                                         ". Tick “Include similar shots” to look for bursts and variants too.")
    kinds: dict[str, int] = {}
    for g in groups:
        kinds[g.kind] = kinds.get(g.kind, 0) + 1
    dups = sum(len(g.duplicates) for g in groups)
    spare = sum(m.size for g in groups for m in g.members if m.path not in g.kept)
    by_kind = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    return (f"{len(groups)} group{'s' if len(groups) != 1 else ''} ({by_kind}), {dups} duplicate"
            f"{'s' if dups != 1 else ''} ({render.human_bytes(spare)}). The suggested keepers are chosen; "
            "untick a group to leave it alone.")


def to_state(groups: list[DuplicateGroup]) -> list[dict]:
    return [g.to_dict() for g in groups]


def from_state(groups: list[dict]) -> list[DuplicateGroup]:
    return [DuplicateGroup(g["kind"], g["keep"], [DuplicateMember(**m) for m in g["members"]],
                           [Evidence(**e) for e in g["evidence"]]) for g in groups]


def default_picks(groups: list[DuplicateGroup]) -> Picks:
    return {str(i): {"keep": g.keep, "selected": True} for i, g in enumerate(groups)}


def chosen_groups(groups: list[DuplicateGroup], picks: Picks) -> list[DuplicateGroup]:
    """The selected groups, each with the keeper the user picked."""
    out = []
    for i, g in enumerate(groups):
        pick = picks.get(str(i), {"keep": g.keep, "selected": True})
        if pick["selected"]:
            out.append(g.with_keeper(pick["keep"]))
    return out


def plan_text(groups: list[DuplicateGroup], action: str, move_to: str) -> str:
    """The confirmation question: what will happen to how many files."""
    n = sum(len(g.duplicates) for g in groups)
    files = f"{n} file{'s' if n != 1 else ''} from {len(groups)} group{'s' if len(groups) != 1 else ''}"
    what = {"move": f"Move {files} to {render.code(move_to)}",
            "hardlink": f"Replace {files} by hard links to their keepers (only byte-identical copies)",
            "delete": f"Move {files} to the trash"}[action]
    return f"{what}? Every file is re-checked first, and **Undo** puts everything back."


def report_text(report: ActionReport) -> str:
    verb = {"move": "Moved", "hardlink": "Hard-linked", "delete": "Trashed", "undo": "Restored"}.get(
        report.action, report.action)
    line = f"{verb} {report.done} file{'s' if report.done != 1 else ''}"
    if report.bytes_freed:
        line += f", {render.human_bytes(report.bytes_freed)} freed"
    if report.skipped:
        line += f"; skipped {len(report.skipped)}: " + "; ".join(
            f"{render.code(os.path.basename(p))} ({html.escape(r)})" for p, r in report.skipped[:5])
    return line + f" · manifest {render.code(report.manifest)}"


def thumbnails(lib: Library, g: DuplicateGroup, keep: str) -> list[tuple[str, str]]:
    """Cached thumbnails (never the originals) with captions, in member order."""
    def one(m: DuplicateMember) -> str:
        try:
            return str(lib.thumbnail(m.path))
        except PixseekError:
            return str(lib.thumb_cache.placeholder())

    return [(one(m), member_caption(m, keep)) for m in g.members]


# -- the tab: layout, handlers, wiring ---------------------------------------------------------------
def duplicates_tab(ctx: Any) -> None:
    """Builds the tab inside ``ctx.tab`` (see ``ui.app.TABS``)."""
    w = _layout(ctx.lib)
    handlers = _Handlers(ctx.lib)
    _wire(w, handlers)
    _cards(ctx.lib, w, handlers)


@dataclass
class _Widgets:
    """The tab's components, for the wiring."""

    similar: gr.Checkbox
    find_btn: gr.Button
    status: gr.Markdown
    action: gr.Radio
    move_to: gr.Textbox
    apply_btn: gr.Button
    undo_btn: gr.Button
    confirm_row: gr.Row
    question: gr.Markdown
    yes_btn: gr.Button
    no_btn: gr.Button
    groups_st: gr.State
    picks_st: gr.State
    similar_st: gr.State  # the flag of the groups on screen, for the refresh after an action
    manifest_st: gr.State  # the last action of this session, for Undo
    # Hidden inputs of the API-only endpoints (/choose, /not_duplicates); the cards call the same code.
    group_no: gr.Number
    keep_path: gr.Textbox
    ticked: gr.Checkbox
    choose_btn: gr.Button
    not_dup_btn: gr.Button


def _layout(lib: Library) -> _Widgets:
    with gr.Row(equal_height=True):
        similar = gr.Checkbox(label="Include similar shots (bursts, light/dark variants)", scale=2,
                              elem_id="dups-similar")
        find_btn = gr.Button("Find duplicates", variant="primary", scale=1, elem_id="find-dups")
    status = gr.Markdown(elem_id="dups-status")
    with gr.Row(equal_height=True):
        action = gr.Radio(ACTIONS, value="move", label="Action on the ticked groups", scale=2,
                          elem_id="dups-action")
        move_to = gr.Textbox(label="Quarantine folder (outside the indexed folders)", scale=2,
                             value=str(lib.db_dir.absolute() / "quarantine"), elem_id="dups-move-to")
        apply_btn = gr.Button("Apply…", scale=1, elem_id="dups-apply")
        undo_btn = gr.Button("Undo the last action", visible=False, scale=1, elem_id="dups-undo")
    with gr.Row(visible=False, elem_id="dups-confirm") as confirm_row:
        question = gr.Markdown(elem_id="dups-question")
        yes_btn = gr.Button("Yes, do it", variant="stop", scale=0, min_width=120, elem_id="dups-yes")
        no_btn = gr.Button("Cancel", scale=0, min_width=100, elem_id="dups-cancel")
    return _Widgets(similar, find_btn, status, action, move_to, apply_btn, undo_btn, confirm_row, question,
                    yes_btn, no_btn, groups_st=gr.State([]), picks_st=gr.State({}), similar_st=gr.State(False),
                    manifest_st=gr.State(None), group_no=gr.Number(visible=False, precision=0),
                    keep_path=gr.Textbox(visible=False), ticked=gr.Checkbox(visible=False, value=True),
                    choose_btn=gr.Button(visible=False), not_dup_btn=gr.Button(visible=False))


class _Handlers:
    """What the buttons do: each calls the library and returns the new state and status line."""

    def __init__(self, lib: Library) -> None:
        self.lib = lib

    def find(self, want_similar: bool) -> tuple:
        try:
            groups = self.lib.duplicates(similar=bool(want_similar))
        except PixseekError as exc:
            return [], {}, render.problem(exc), bool(want_similar)
        line = summary(groups, bool(want_similar))
        if len(groups) > MAX_GROUPS:
            line += f" Showing the first {MAX_GROUPS}: act on them, then find again for the rest."
            groups = groups[:MAX_GROUPS]
        return to_state(groups), default_picks(groups), line, bool(want_similar)

    def choose(self, n: float, keep: str, selected: bool, groups: list[dict], picks: Picks) -> Picks:
        i = int(n)
        if not 0 <= i < len(groups) or keep not in {m["path"] for m in groups[i]["members"]}:
            raise gr.Error("no such group or member: find duplicates again")
        return {**picks, str(i): {"keep": keep, "selected": bool(selected)}}

    def review(self, act: str, folder: str, groups: list[dict], picks: Picks) -> tuple:
        chosen = chosen_groups(from_state(groups), picks)
        if not chosen:
            return gr.Row(visible=False), "", render.problem("nothing to do: find duplicates, then tick a group")
        if act == "move" and not (folder or "").strip():
            return gr.Row(visible=False), "", render.problem("type a quarantine folder first")
        return gr.Row(visible=True), plan_text(chosen, act, (folder or "").strip()), gr.skip()

    def apply(self, act: str, folder: str, groups: list[dict], picks: Picks, want_similar: bool) -> tuple:
        chosen = chosen_groups(from_state(groups), picks)
        if not chosen:
            return (gr.skip(), gr.skip(), render.problem("nothing to do: find duplicates, then tick a group"),
                    gr.skip(), gr.skip(), gr.skip(), gr.Row(visible=False))
        try:
            report = self.lib.apply(chosen, act, move_to=(folder or "").strip() or None)
        except PixseekError as exc:
            return (gr.skip(), gr.skip(), render.problem(exc), gr.skip(), gr.skip(), gr.skip(),
                    gr.Row(visible=False))
        groups, picks, line, _ = self.find(want_similar)
        return (groups, picks, report_text(report) + "\n\n" + line, want_similar, report.manifest,
                gr.Button(visible=True), gr.Row(visible=False))

    def undo(self, manifest: str | None, want_similar: bool) -> tuple:
        if not manifest:
            return gr.skip(), gr.skip(), render.problem("nothing to undo in this session"), gr.skip(), gr.skip()
        try:
            report = self.lib.undo(manifest)
        except PixseekError as exc:
            return gr.skip(), gr.skip(), render.problem(exc), gr.skip(), gr.skip()
        groups, picks, line, _ = self.find(want_similar)
        return groups, picks, report_text(report) + "\n\n" + line, None, gr.Button(visible=False)

    def not_duplicates(self, n: float, groups: list[dict], want_similar: bool) -> tuple:
        i = int(n)
        if not 0 <= i < len(groups):
            return gr.skip(), gr.skip(), render.problem("no such group: find duplicates again")
        members = [m["path"] for m in groups[i]["members"]]
        try:
            for a_ix, a in enumerate(members):  # every pair: the group must not come back in part
                for b in members[a_ix + 1:]:
                    self.lib.not_duplicate(a, b)
        except PixseekError as exc:
            return gr.skip(), gr.skip(), render.problem(exc)
        groups, picks, line, _ = self.find(want_similar)
        return groups, picks, f"Remembered: group {i + 1} is not duplicates.\n\n{line}"


def _wire(w: _Widgets, h: _Handlers) -> None:
    """The tab's events, and the named API endpoints they make."""
    found = [w.groups_st, w.picks_st, w.status, w.similar_st]
    w.find_btn.click(h.find, w.similar, found, api_name="find_duplicates")
    w.choose_btn.click(h.choose, [w.group_no, w.keep_path, w.ticked, w.groups_st, w.picks_st], w.picks_st,
                       api_name="choose")
    w.apply_btn.click(h.review, [w.action, w.move_to, w.groups_st, w.picks_st], [w.confirm_row, w.question, w.status],
                      api_name="review_action")
    w.yes_btn.click(h.apply, [w.action, w.move_to, w.groups_st, w.picks_st, w.similar_st],
                    [w.groups_st, w.picks_st, w.status, w.similar_st, w.manifest_st, w.undo_btn, w.confirm_row],
                    api_name="apply_duplicates")
    w.no_btn.click(lambda: gr.Row(visible=False), None, w.confirm_row, api_visibility="private")
    w.undo_btn.click(h.undo, [w.manifest_st, w.similar_st],
                     [w.groups_st, w.picks_st, w.status, w.manifest_st, w.undo_btn], api_name="undo_last")
    w.not_dup_btn.click(h.not_duplicates, [w.group_no, w.groups_st, w.similar_st], [w.groups_st, w.picks_st, w.status],
                        api_name="not_duplicates")


def _cards(lib: Library, w: _Widgets, h: _Handlers) -> None:
    """One card per group on screen, redrawn when the groups or the choices change."""

    @gr.render(inputs=[w.groups_st, w.picks_st])
    def cards(groups: list[dict], picks: Picks) -> None:
        for i, g in enumerate(from_state(groups)):
            pick = picks.get(str(i), {"keep": g.keep, "selected": True})
            keeper, tick, not_btn = _card(lib, i, g, pick)
            # Closures bind the group number; the state round-trips keep the choices across re-renders.
            keeper.input(lambda k, s, gs, ps, i=i: h.choose(i, k, s, gs, ps), [keeper, tick, w.groups_st, w.picks_st],
                         w.picks_st, api_visibility="private")
            tick.input(lambda s, k, gs, ps, i=i: h.choose(i, k, s, gs, ps), [tick, keeper, w.groups_st, w.picks_st],
                       w.picks_st, api_visibility="private")
            not_btn.click(lambda gs, sim, i=i: h.not_duplicates(i, gs, sim), [w.groups_st, w.similar_st],
                          [w.groups_st, w.picks_st, w.status], api_visibility="private")


def _card(lib: Library, i: int, g: DuplicateGroup, pick: dict[str, Any]) -> tuple[gr.Radio, gr.Checkbox, gr.Button]:
    """Group ``i``: header, thumbnails, the members' table, the keeper choice and the evidence."""
    with gr.Group(elem_classes="px-dup-group", elem_id=f"dup-group-{i}"):
        with gr.Row(equal_height=True):
            gr.Markdown(group_header(i, g))
            tick = gr.Checkbox(label="Include in the action", value=pick["selected"], scale=0, min_width=180,
                               interactive=True)
            not_btn = gr.Button("Not duplicates", size="sm", scale=0, min_width=140)
        gr.Gallery(thumbnails(lib, g, pick["keep"]), show_label=False, columns=6, allow_preview=False,
                   object_fit="contain", height=230, buttons=[])
        gr.Markdown(members_table(g, pick["keep"]))
        keeper = gr.Radio([(os.path.basename(m.path) + (" (protected)" if m.protected else ""), m.path)
                           for m in g.members], value=pick["keep"], label="Keep", interactive=True)
        with gr.Accordion("Evidence", open=len(g.evidence) <= 3):
            gr.Markdown("\n".join(f"- {evidence_line(e)}" for e in g.evidence))
    return keeper, tick, not_btn
