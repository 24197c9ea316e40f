"""The warm service: a running ``pixseek watch`` or ``serve`` answers other pixseek commands over a
Unix domain socket in the index folder (``DB/service.sock``), so that a query pays neither the start
of torch nor the loading of the model and the store.

- The socket is the owner's alone: created with mode 0600, and each caller's user id is checked
  (``SO_PEERCRED``). It is never a network port.
- One request per connection: a JSON object on one line, answered by one JSON object on one line
  (``{"error": "..."}`` for what the CLI would print as an error).
- :func:`call` is what the CLI uses: it imports nothing heavy, and returns None when no service
  answers (no socket, or one left behind by a killed process), so the caller works locally.

    >>> call("~/.local/share/pixseek/default", {"op": "ping"})   # doctest: +SKIP
    {'pid': 4242, 'db': '...', 'watching': ['/home/me/Pictures'], 'summary': '3 new photos, ...'}
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from typing import Any

from .errors import PixseekError

SOCKET_NAME = "service.sock"
_MAX_LINE = 64 * 1024 * 1024


def socket_path(db_dir: str | os.PathLike) -> str:
    return os.path.join(os.path.abspath(os.path.expanduser(os.fspath(db_dir))), SOCKET_NAME)


def _recv_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n") or size > _MAX_LINE:
            break
    return b"".join(chunks)


def call(db_dir: str | os.PathLike, request: dict[str, Any], timeout: float | None = None) -> dict[str, Any] | None:
    """Send ``request`` to the service of ``db_dir``; its answer, or None when none runs."""
    path = socket_path(db_dir)
    if not os.path.exists(path):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(2.0)
        try:
            sock.connect(path)
        except OSError:  # refused: left behind by a process that was killed
            return None
        sock.settimeout(timeout)
        sock.sendall(json.dumps(request).encode() + b"\n")
        line = _recv_line(sock)
    except OSError:
        return None
    finally:
        sock.close()
    if not line:
        return None
    return json.loads(line)


class _Handler(socketserver.StreamRequestHandler):
    server: "_Server"

    def handle(self) -> None:
        if not self.server.same_user(self.request):
            self._send({"error": "this service answers its owner only"})
            return
        line = self.rfile.readline(_MAX_LINE)
        try:
            request = json.loads(line)
            answer = self.server.dispatch(request)
        except PixseekError as exc:
            answer = {"error": str(exc)}
        except (ValueError, TypeError, KeyError) as exc:
            answer = {"error": f"bad request: {exc}"}
        except Exception as exc:  # the service keeps running; the caller gets one line
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        self._send(answer)

    def _send(self, answer: dict[str, Any]) -> None:
        try:
            self.wfile.write(json.dumps(answer, ensure_ascii=False).encode() + b"\n")
        except OSError:
            pass  # the caller went away


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    dispatch: Callable[[dict[str, Any]], dict[str, Any]]

    def same_user(self, conn: socket.socket) -> bool:
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        except (OSError, AttributeError):  # no SO_PEERCRED (macOS): the 0600 socket is the guard
            return True
        _pid, uid, _gid = struct.unpack("3i", creds)
        return uid == os.getuid()


class Service:
    """Answers ``search``/``similar`` (``op: query``), ``status``, ``index`` and ``ping`` for
    ``lib`` (a :class:`pixseek.Library`); ``watcher`` (a :class:`pixseek.indexing.watch.Watcher`),
    when there is one, is the index's writer: ``index`` requests are run by it."""

    def __init__(self, lib: Any, watcher: Any = None) -> None:
        self.lib = lib
        self.watcher = watcher
        self.path = socket_path(lib.db_dir)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "Service":
        if call(self.lib.db_dir, {"op": "ping"}, timeout=5) is not None:
            raise PixseekError(f"a pixseek service already runs for {self.lib.db_dir}: stop it first")
        try:
            os.unlink(self.path)  # one left by a killed process
        except FileNotFoundError:
            pass
        old = os.umask(0o177)  # the socket is born 0600: no moment where others may connect
        try:
            server = _Server(self.path, _Handler, bind_and_activate=False)
            server.server_bind()
            server.server_activate()
        except OSError as exc:
            raise PixseekError(f"cannot open the service socket {self.path}: {exc.strerror or exc}") from exc
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        server.dispatch = self.dispatch
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 1.0},
                                        name="pixseek-service", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> "Service":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- requests ------------------------------------------------------------------------------------
    def dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "ping":
            return self.ping()
        if op == "query":
            return self.query(request)
        if op == "status":
            return self.status()
        if op == "index":
            return self.index(request)
        raise ValueError(f"unknown op {op!r}")

    def ping(self) -> dict[str, Any]:
        w = self.watcher
        return {"pid": os.getpid(), "db": str(self.lib.db_dir), "watching": w.roots if w else [],
                "summary": w.summary() if w else None, "counts": dict(w.counts) if w else None}

    def query(self, request: dict[str, Any]) -> dict[str, Any]:
        from .search import Filters, Query

        q = dict(request["query"])
        q["filters"] = Filters(**q.get("filters", {}))
        for name in ("images", "negatives"):
            q[name] = tuple(q.get(name) or ())
        results = self.lib.query(Query(**q), exclude_examples=bool(request.get("exclude_examples")))
        return {"results": {"hits": [h.to_dict() for h in results.hits], "offset": results.offset,
                            "more": results.more, "matched": results.matched, "strong": results.strong,
                            "threshold": results.threshold, "message": results.message}}

    def status(self) -> dict[str, Any]:
        from .encoders import ModelSpec

        st = self.lib.status()
        return {"status": st.to_dict(), "model_label": ModelSpec(st.model, st.pretrained).label if st.model else None,
                "service": self.ping()}

    def index(self, request: dict[str, Any]) -> dict[str, Any]:
        paths = request.get("paths") or []

        def run():
            report = self.lib.index(paths or None, include_hidden=bool(request.get("hidden")),
                                    batch_size=request.get("batch_size"))
            if self.watcher is not None:  # a folder indexed now is followed too
                self.watcher.add_roots([p for p in paths if p in self.lib.catalog.roots()])
            return report

        report = self.watcher.submit(run).result() if self.watcher is not None else run()
        return {"report": report.to_dict(), "notes": report.notes}
