"""Nothing leaves the machine: indexing, searching and serving the web UI with a local model open
no connection and look up no host name outside this machine, with the user's default environment
(no GRADIO_ANALYTICS_ENABLED, no HF_HUB_OFFLINE). See docs/privacy.md.

A fresh interpreter records every Python-level connect() and getaddrinfo() before anything is
imported; a non-loopback one is refused (so nothing can leak) and listed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

AUDIT = textwrap.dedent('''
    import ipaddress, json, socket, sys
    outside = []

    def loopback(host):
        host = str(host).strip("[]")
        if host in ("localhost", "", "0.0.0.0", "::"):
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False

    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not loopback(host if isinstance(host, str) else host.decode()):
            outside.append(f"lookup {host}")
            raise socket.gaierror(socket.EAI_NONAME, "refused by the privacy test")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address[0]):
            outside.append(f"connect {address[0]}:{address[1]}")
            raise ConnectionRefusedError("refused by the privacy test")
        return real_connect(self, address)

    socket.getaddrinfo, socket.socket.connect = getaddrinfo, connect
''')

SESSION = textwrap.dedent('''
    import os, sys, time, urllib.request
    from pixseek.cli import main

    gallery, db, model = sys.argv[1:4]
    assert main(["index", gallery, "--db", db, "--model", model]) == 0
    assert main(["search", "a cat", "--db", db]) == 0
    assert main(["similar", os.path.join(gallery, "coffee.jpg"), "--db", db]) == 0

    import pixseek
    from pixseek.ui.server import launch

    with pixseek.open(db) as lib:
        app, url = launch(lib, port=None, block=False)
        for path in ("", "config", "gradio_api/info"):
            urllib.request.urlopen(url + path, timeout=30).read()
        time.sleep(3)  # time for any background thread (analytics, version checks) to try its luck
        app.close()
    print("OUTSIDE " + json.dumps(outside))
''')


@pytest.mark.slow
def test_index_search_and_serve_touch_no_other_machine(gallery, tmp_path, tiny_clip):
    pytest.importorskip("gradio")
    env = {k: v for k, v in os.environ.items()
           if k not in ("GRADIO_ANALYTICS_ENABLED", "HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY",
                        "DO_NOT_TRACK", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    env.update(PIXSEEK_HOME=str(tmp_path / "home"), PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    script = AUDIT + SESSION
    proc = subprocess.run([sys.executable, "-c", script, str(gallery), str(tmp_path / "db"), tiny_clip],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("OUTSIDE "))
    assert json.loads(line[len("OUTSIDE "):]) == []


@pytest.mark.slow
def test_the_recorder_sees_gradio_telemetry_when_it_is_on(tmp_path):
    """The control: a default gr.Blocks() (analytics on) tries to reach Gradio's servers, and the
    recorder above sees it (and refuses it), so an empty list in the test above means something."""
    pytest.importorskip("gradio")
    env = {k: v for k, v in os.environ.items() if k not in ("GRADIO_ANALYTICS_ENABLED", "HF_HUB_OFFLINE")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    script = AUDIT + textwrap.dedent('''
        import json, time
        import gradio as gr
        with gr.Blocks():
            gr.Markdown("hello")
        for _ in range(50):  # its version check and analytics run in background threads
            if outside:
                break
            time.sleep(0.2)
        print("OUTSIDE " + json.dumps(outside))
    ''')
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300,
                          cwd=tmp_path)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("OUTSIDE "))
    assert any("gradio" in attempt or "huggingface" in attempt for attempt in json.loads(line[len("OUTSIDE "):]))
