"""`pixseek serve`: loopback by default; any other address needs a password and gets a warning."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pixseek.errors import PixseekError
from pixseek.ui.server import check_exposure, is_loopback, parse_auth
from ui_support import free_port


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_hosts_need_nothing(host):
    assert is_loopback(host) and check_exposure(host, None) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "my-laptop.local"])
def test_other_hosts_need_a_password_and_warn(host):
    assert not is_loopback(host)
    with pytest.raises(PixseekError, match="--auth user:password"):
        check_exposure(host, None)
    assert "warning" in check_exposure(host, ("me", "pw"))


def test_auth_parsing():
    assert parse_auth("me:a:b") == ("me", "a:b") and parse_auth(None) is None and parse_auth("") is None
    for bad in ("me", "me:", ":pw"):
        with pytest.raises(PixseekError, match="user:password"):
            parse_auth(bad)


def serve(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "pixseek", "serve", *map(str, args)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def test_exposed_host_without_password_is_refused_in_one_line(tmp_path):
    proc = serve("--db", tmp_path / "db", "--host", "0.0.0.0")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and err.count("\n") == 1 and "--auth" in err and "Traceback" not in err


@pytest.mark.slow
def test_exposed_host_with_password_serves_only_logged_in_users(tmp_path, gallery):
    import httpx
    from gradio_client import Client

    port = free_port()
    proc = serve("--db", tmp_path / "db", "--host", "0.0.0.0", "--port", port,
                 env={"PIXSEEK_AUTH": "me:s3cret"})
    try:
        line = proc.stdout.readline()  # "pixseek: serving DB at URL (Ctrl+C stops it)"
        assert "serving" in line, proc.stderr.read() if proc.poll() is not None else line
        assert "warning: serving on 0.0.0.0" in proc.stderr.readline()
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/config").status_code == 401
        client = Client(url, auth=("me", "s3cret"), verbose=False, download_files=str(tmp_path / "dl"))
        summary = client.predict(api_name="/library")[0]
        assert "**0** photos indexed" in summary
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_serve_on_a_busy_port_says_so(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = serve("--db", tmp_path / "db", "--port", port)
        started = time.time()
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "--port" in err and "Traceback" not in err, err
    assert time.time() - started < 120
