"""Settings that several layers share, and the one function that says where pixseek keeps its data.

Tests and scripts point pixseek at a temporary home with ``PIXSEEK_HOME`` so they never touch the
user's real libraries::

    $ PIXSEEK_HOME=/tmp/pixseek-test python -c "from pixseek import config; print(config.default_db_dir())"
    /tmp/pixseek-test/default
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "pixseek"
HOME_ENV = "PIXSEEK_HOME"

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"


def data_dir() -> Path:
    """Where pixseek keeps its libraries. Not created here: callers create it when they write.

    ``$PIXSEEK_HOME`` (``~`` expanded, made absolute) when set and non-empty, else the platform's
    per-user data folder (``~/.local/share/pixseek`` on Linux).
    """
    home = os.environ.get(HOME_ENV, "").strip()
    if home:
        return Path(home).expanduser().absolute()
    import platformdirs  # only needed when no override is given

    # appauthor=False: on Windows, AppData\Local\pixseek rather than AppData\Local\pixseek\pixseek.
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_db_dir() -> Path:
    """The library used when the user names none: ``data_dir() / "default"``."""
    return data_dir() / "default"


# Query vocabulary the CLI's parser needs before anything heavy loads (pixseek.search uses these).
STRONG_Z = 4.0  # --strong: how many spreads above the typical score a result must stand
ORIENTATIONS = ("landscape", "portrait", "square")
