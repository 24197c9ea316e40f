"""Which files a client may show: the rule every front end (web UI, notebooks, APIs) shares.

A path may be shown when it is an indexed photo *and* the file it resolves to (symlinks followed,
``..`` removed) lies inside an indexed folder. So ``/etc/passwd``, ``ROOT/../secret.jpg``, a link in
a photo folder that points outside it, and a non-image file next to the photos are all refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterable


def resolves_inside(path: str | os.PathLike, roots: Iterable[str | os.PathLike]) -> bool:
    """True when ``path``, with every symlink and ``..`` resolved, is one of ``roots`` or lies below one.

    >>> resolves_inside("/srv/photos/a.jpg", ["/srv/photos"]), resolves_inside("/srv/photos/../x", ["/srv/photos"])
    (True, False)
    """
    try:
        real = os.path.realpath(os.fspath(path))
        for root in roots:
            real_root = os.path.realpath(os.fspath(root))
            if real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep):
                return True
    except (OSError, ValueError):  # a NUL byte, an unreadable link: not shown
        return False
    return False
