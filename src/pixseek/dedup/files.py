"""File operations that never lose a byte: moves that never overwrite (verified copies across
file systems), fsync'ed files and folders, and the freedesktop trash folder of a file.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from ..errors import ActionError
from ..hashing import content_hash


def trash_dir(path: str) -> Path:
    """The freedesktop trash for ``path``: the home trash when on the same file system, else
    ``$topdir/.Trash-$UID`` at the top of the file's own file system."""
    if os.name != "posix" or not hasattr(os, "getuid"):
        raise ActionError("--delete uses the freedesktop trash, which this system lacks: use --move-to DIR")
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    home_trash = Path(data_home) / "Trash"
    dev = os.stat(path).st_dev
    if device_of(home_trash) == dev:
        return home_trash
    top = Path(path).parent
    while top.parent != top and os.stat(top.parent).st_dev == dev:
        top = top.parent
    return top / f".Trash-{os.getuid()}"


def device_of(path: Path) -> int:
    p = path
    while not p.exists():
        p = p.parent
    return os.stat(p).st_dev


def move_no_overwrite(src: str, dest: str | None) -> None:
    assert dest is not None
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        os.link(src, dest)  # fails if dest exists: never overwrites
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: another file system
            raise
        copy_across(src, dest)
    fsync_dir(os.path.dirname(dest))
    os.unlink(src)
    fsync_dir(os.path.dirname(src))


def copy_across(src: str, dest: str) -> None:
    tmp = tmp_name(dest)
    shutil.copy2(src, tmp)
    st = os.stat(src)
    chown_quietly(tmp, st.st_uid, st.st_gid)
    fsync_file(tmp)
    if sha_of(tmp) != sha_of(src):
        os.unlink(tmp)
        raise OSError(f"copy of {src} does not match")
    os.link(tmp, dest)
    os.unlink(tmp)


def chown_quietly(path: str, uid: int | None, gid: int | None) -> None:
    """Give the copy its original owner where we may (root); elsewhere it is ours anyway."""
    if uid is None or gid is None or not hasattr(os, "chown"):
        return
    try:
        os.chown(path, uid, gid)
    except OSError:
        pass


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def sha_of(path: str) -> str:
    with open(path, "rb") as fh:
        return content_hash(fh.read())


def tmp_name(path: str) -> str:
    return os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.pixseek-{uuid.uuid4().hex[:8]}.tmp")


def fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str) -> None:
    try:
        fsync_file(path or ".")
    except OSError:
        pass  # some file systems cannot fsync a folder; the data itself was synced


def same_device(a: str, b: str) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return False
