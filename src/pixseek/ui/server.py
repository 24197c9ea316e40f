"""Starting the web UI safely: loopback by default, a password before any other address, uploads
kept in a private folder that goes away with the server.

    warning = check_exposure("0.0.0.0", parse_auth("me:secret"))   # a warning line to print, or None
    launch(lib, host="0.0.0.0", auth=("me", "secret"))
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

from ..errors import PixseekError

if TYPE_CHECKING:
    import gradio as gr

    from ..library import Library

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
AUTH_ENV = "PIXSEEK_AUTH"  # user:password, for scripts that should not put it on the command line


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``"user:password"`` -> ``("user", "password")``; None or "" -> None. The password may hold ':'."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise PixseekError("--auth must look like user:password (both parts non-empty)")
    return user, password


def check_exposure(host: str, auth: tuple[str, str] | None) -> str | None:
    """Refuse a non-loopback host without a password; return the warning to show when allowed."""
    if is_loopback(host):
        return None
    if auth is None:
        raise PixseekError(
            f"--host {host} would show your photos to every machine that can reach this one: "
            f"add --auth user:password (or set {AUTH_ENV}=user:password), or leave --host out"
        )
    return (f"warning: serving on {host}: anyone who can reach this machine and knows the password can see "
            "your indexed photos and add folders; the connection is not encrypted (put it behind HTTPS)")


def private_upload_dir() -> str:
    """Point Gradio's upload/cache folder at a fresh private folder (0700), removed at exit.
    Must run before the app is built: Gradio components read it when they are created."""
    current = os.environ.get("GRADIO_TEMP_DIR")
    if current and os.path.basename(current).startswith("pixseek-ui-"):
        return current  # already ours (a second app in the same process)
    folder = tempfile.mkdtemp(prefix="pixseek-ui-")
    os.environ["GRADIO_TEMP_DIR"] = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def launch(lib: Library, host: str = DEFAULT_HOST, port: int | None = DEFAULT_PORT,
           auth: tuple[str, str] | None = None, *, block: bool = True,
           app: gr.Blocks | None = None, watcher: Any = None) -> tuple[gr.Blocks, str]:
    """Build (unless given) and start the app; returns it and its local URL. ``block=False`` returns
    at once with the server running in the background (tests, notebooks); ``app.close()`` stops it.
    ``watcher``: the folders' watcher (``serve --watch``), whose news the page shows."""
    check_exposure(host, auth)
    private_upload_dir()
    from .app import build_app, launch_options, warm_up

    app = app or build_app(lib, watcher=watcher)
    warm_up(lib)
    try:
        _, url, _ = app.launch(server_name=host, server_port=port, auth=auth, prevent_thread_lock=True,
                               **launch_options(lib))
    except OSError as exc:
        raise PixseekError(f"cannot listen on {host}:{port} ({exc}): pick another --port") from exc
    if block:
        try:
            app.block_thread()
        finally:
            app.close()
    return app, url
