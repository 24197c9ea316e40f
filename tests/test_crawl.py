"""The crawler on real folders in tmp_path: what is listed, in which order, and what is reported."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pixseek.crawl import BASE_IMAGE_EXTENSIONS, crawl
from pixseek.errors import PixseekError
from pixseek.types import CrawlProblem, FileInfo

needs_symlinks = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX symlinks")


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def walk(*roots: Path | str, **kwargs) -> tuple[list[str], list[CrawlProblem]]:
    """Crawl with the base extensions; return the listed paths and the reported problems."""
    problems: list[CrawlProblem] = []
    kwargs.setdefault("extensions", BASE_IMAGE_EXTENSIONS)
    paths = [info.path for info in crawl(roots, on_problem=problems.append, **kwargs)]
    return paths, problems


def rel(paths: list[str], base: Path) -> list[str]:
    return [os.path.relpath(p, base).replace(os.sep, "/") for p in paths]


def test_nested_folders_in_name_order_with_non_images_ignored(tmp_path: Path) -> None:
    for name in ["b.png", "a.jpg", "notes.txt", "raw.CR2", "sub/c.webp", "sub/deep/d.gif",
                 "sub/readme.md", "a_dir/e.bmp", "z.tiff", "noext"]:
        touch(tmp_path / name)
    paths, problems = walk(tmp_path)
    # Files of a folder first, then its sub-folders, each in name order.
    assert rel(paths, tmp_path) == ["a.jpg", "b.png", "z.tiff", "a_dir/e.bmp", "sub/c.webp", "sub/deep/d.gif"]
    assert problems == []
    assert all(os.path.isabs(p) for p in paths)


def test_extensions_match_case_insensitively(tmp_path: Path) -> None:
    for name in ["IMG_1.JPG", "img_2.Jpeg", "scan.TIF", "photo.PnG", "x.jpg.txt"]:
        touch(tmp_path / name)
    paths, _ = walk(tmp_path)
    assert rel(paths, tmp_path) == ["IMG_1.JPG", "img_2.Jpeg", "photo.PnG", "scan.TIF"]


def test_extensions_argument_accepts_any_case_with_or_without_dot(tmp_path: Path) -> None:
    for name in ["a.jpg", "b.PNG", "c.heic", "d.gif"]:
        touch(tmp_path / name)
    paths, _ = walk(tmp_path, extensions=["JPG", ".png", "Heic"])
    assert rel(paths, tmp_path) == ["a.jpg", "b.PNG", "c.heic"]


def test_default_extensions_cover_the_common_formats(tmp_path: Path) -> None:
    for name in ["a.jpg", "b.jpeg", "c.png", "d.webp", "e.gif", "f.bmp", "g.tif", "h.tiff", "i.txt"]:
        touch(tmp_path / name)
    paths = [info.path for info in crawl([tmp_path])]
    assert rel(paths, tmp_path) == ["a.jpg", "b.jpeg", "c.png", "d.webp", "e.gif", "f.bmp", "g.tif", "h.tiff"]


def test_sizes_and_mtimes_come_from_stat(tmp_path: Path) -> None:
    small = touch(tmp_path / "small.jpg", b"1234")
    big = touch(tmp_path / "sub/big.png", b"z" * 70_000)
    os.utime(small, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    infos = list(crawl([tmp_path], extensions=BASE_IMAGE_EXTENSIONS))
    assert infos == [
        FileInfo(str(small), 4, os.stat(small).st_mtime_ns),
        FileInfo(str(big), 70_000, os.stat(big).st_mtime_ns),
    ]
    assert infos[0].mtime_ns // 1000 == 1_600_000_000_123_456  # at least microseconds survive any fs


def test_hidden_files_and_folders_skipped_by_default(tmp_path: Path) -> None:
    for name in ["a.jpg", ".hidden.jpg", ".thumbs/t.jpg", "sub/.x/y.png", "sub/b.png"]:
        touch(tmp_path / name)
    paths, _ = walk(tmp_path)
    assert rel(paths, tmp_path) == ["a.jpg", "sub/b.png"]
    paths, _ = walk(tmp_path, include_hidden=True)
    assert rel(paths, tmp_path) == [".hidden.jpg", "a.jpg", ".thumbs/t.jpg", "sub/b.png", "sub/.x/y.png"]


def test_hidden_root_is_still_crawled(tmp_path: Path) -> None:
    root = tmp_path / ".photos"
    touch(root / "a.jpg")
    touch(root / ".b.jpg")
    paths, _ = walk(root)
    assert rel(paths, root) == ["a.jpg"]
    hidden_file = touch(tmp_path / ".secret.png")
    assert walk(hidden_file)[0] == [str(hidden_file)]


def test_ignore_globs_match_names_at_any_depth(tmp_path: Path) -> None:
    for name in ["a.jpg", "@eaDir/a.jpg", "sub/@eaDir/b.jpg", "sub/b.jpg", "sub/b.tmp.jpg"]:
        touch(tmp_path / name)
    paths, _ = walk(tmp_path, ignore=["@eaDir", "*.tmp.jpg"])
    assert rel(paths, tmp_path) == ["a.jpg", "sub/b.jpg"]


def test_only_regular_files_are_listed(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    if not hasattr(os, "mkfifo"):
        pytest.skip("no fifos here")
    os.mkfifo(tmp_path / "pipe.jpg")
    paths, problems = walk(tmp_path)
    assert rel(paths, tmp_path) == ["a.jpg"]
    assert problems == []


@needs_symlinks
def test_symlink_loop_ends_and_is_reported(tmp_path: Path) -> None:
    touch(tmp_path / "a/b/photo.jpg")
    (tmp_path / "a/b/up").symlink_to(tmp_path / "a")  # a/b/up -> a: an ancestor
    (tmp_path / "a/b/self").symlink_to(tmp_path / "a/b")
    paths, problems = walk(tmp_path)
    assert rel(paths, tmp_path) == ["a/b/photo.jpg"]
    assert sorted(problems, key=lambda p: p.path) == [
        CrawlProblem(str(tmp_path / "a/b/self"), "symlink loop"),
        CrawlProblem(str(tmp_path / "a/b/up"), "symlink loop"),
    ]


@needs_symlinks
def test_link_to_itself_is_a_loop(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    os.symlink(tmp_path / "me", tmp_path / "me")
    paths, problems = walk(tmp_path)
    assert rel(paths, tmp_path) == ["a.jpg"]
    assert problems == [CrawlProblem(str(tmp_path / "me"), "symlink loop")]


@needs_symlinks
def test_loop_back_to_root_through_a_link_chain(tmp_path: Path) -> None:
    root = tmp_path / "root"
    touch(root / "x/1.jpg")
    (root / "x/to_root").symlink_to(root)
    paths, problems = walk(root)
    assert rel(paths, root) == ["x/1.jpg"]
    assert problems == [CrawlProblem(str(root / "x/to_root"), "symlink loop")]


@needs_symlinks
def test_folder_reached_directly_and_by_link_is_listed_once_under_its_direct_path(tmp_path: Path) -> None:
    touch(tmp_path / "z_real/1.jpg")
    (tmp_path / "a_link").symlink_to(tmp_path / "z_real")  # sorts before its target
    (tmp_path / "other").mkdir()
    (tmp_path / "other/again").symlink_to(tmp_path / "z_real")
    paths, problems = walk(tmp_path)
    assert rel(paths, tmp_path) == ["z_real/1.jpg"]
    assert problems == []  # not a loop: a second way in is skipped silently


@needs_symlinks
def test_linked_folder_outside_the_root_is_followed_under_the_link_path(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    touch(outside / "far.png")
    touch(outside / "deeper/farther.png")
    root = tmp_path / "root"
    touch(root / "b/near.jpg")
    (root / "a_linked").symlink_to(outside)
    paths, problems = walk(root)
    # Real folders first, then the linked one; paths keep the link, not the target.
    assert rel(paths, root) == ["b/near.jpg", "a_linked/far.png", "a_linked/deeper/farther.png"]
    assert problems == []


@needs_symlinks
def test_symlinked_file_keeps_the_link_path(tmp_path: Path) -> None:
    target = touch(tmp_path / "store/blob.bin", b"12345")
    root = tmp_path / "root"
    root.mkdir()
    (root / "pic.jpg").symlink_to(target)
    (root / "notes.txt").symlink_to(target)
    infos = list(crawl([root], extensions=BASE_IMAGE_EXTENSIONS))
    assert infos == [FileInfo(str(root / "pic.jpg"), 5, os.stat(target).st_mtime_ns)]


@needs_symlinks
def test_dangling_symlink_is_reported_and_the_walk_goes_on(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    touch(tmp_path / "z/b.jpg")
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (tmp_path / ".hidden_gone").symlink_to(tmp_path / "nowhere")
    paths, problems = walk(tmp_path)
    assert rel(paths, tmp_path) == ["a.jpg", "z/b.jpg"]
    assert problems == [CrawlProblem(str(tmp_path / "gone.jpg"), "dangling symlink")]


@needs_symlinks
def test_dangling_symlink_root_raises(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "missing")
    with pytest.raises(PixseekError, match="folder not found: .*link"):
        walk(tmp_path / "link")


def test_permission_denied_folder_is_reported_and_the_walk_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Patching scandir rather than chmod, so the test means something when run as root too.
    for name in ["a/1.jpg", "locked/2.jpg", "locked/inner/3.jpg", "z/4.jpg"]:
        touch(tmp_path / name)
    locked = str(tmp_path / "locked")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    paths, problems = walk(tmp_path)
    assert rel(paths, tmp_path) == ["a/1.jpg", "z/4.jpg"]
    assert problems == [CrawlProblem(locked, "permission denied")]


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="chmod does not deny root")
def test_permission_denied_with_a_real_chmod(tmp_path: Path) -> None:
    touch(tmp_path / "ok.jpg")
    locked = tmp_path / "locked"
    touch(locked / "secret.jpg")
    locked.chmod(0)
    try:
        paths, problems = walk(tmp_path)
    finally:
        locked.chmod(0o755)
    assert rel(paths, tmp_path) == ["ok.jpg"]
    assert problems == [CrawlProblem(str(locked), "permission denied")]


def test_unreadable_root_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(tmp_path):
            raise PermissionError(13, "Permission denied", str(tmp_path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(PixseekError, match="permission denied"):
        walk(tmp_path)


def test_missing_root_raises_before_anything_is_listed(tmp_path: Path) -> None:
    touch(tmp_path / "good/a.jpg")
    missing = tmp_path / "nope"
    listed = []
    with pytest.raises(PixseekError) as info:
        for f in crawl([tmp_path / "good", missing], extensions=BASE_IMAGE_EXTENSIONS):
            listed.append(f)
    assert str(info.value) == f"folder not found: {missing}"
    assert "\n" not in str(info.value)
    assert listed == []


def test_single_file_root_is_listed_alone(tmp_path: Path) -> None:
    photo = touch(tmp_path / "Photo.JPG", b"abc")
    touch(tmp_path / "other.jpg")
    infos = list(crawl([photo], extensions=BASE_IMAGE_EXTENSIONS))
    assert infos == [FileInfo(str(photo), 3, os.stat(photo).st_mtime_ns)]


def test_non_image_file_root_raises(tmp_path: Path) -> None:
    notes = touch(tmp_path / "notes.txt")
    with pytest.raises(PixseekError, match="not an image file: .*notes.txt"):
        walk(notes)


def test_file_root_inside_a_folder_root_is_listed_once(tmp_path: Path) -> None:
    a = touch(tmp_path / "a.jpg")
    touch(tmp_path / "b.jpg")
    paths, _ = walk(tmp_path, a)
    assert rel(paths, tmp_path) == ["a.jpg", "b.jpg"]


def test_overlapping_and_repeated_roots_list_each_file_once(tmp_path: Path) -> None:
    for name in ["a.jpg", "sub/b.jpg", "sub/deep/c.jpg"]:
        touch(tmp_path / name)
    paths, problems = walk(tmp_path / "sub", tmp_path, tmp_path / "sub", str(tmp_path) + "/./sub/..")
    assert sorted(rel(paths, tmp_path)) == ["a.jpg", "sub/b.jpg", "sub/deep/c.jpg"]
    assert len(paths) == 3
    assert problems == []


def test_relative_root_gives_absolute_normalised_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(tmp_path / "pics/a.jpg")
    monkeypatch.chdir(tmp_path)
    assert walk("pics/../pics/.")[0] == [str(tmp_path / "pics" / "a.jpg")]


def test_a_single_path_is_one_root_not_a_string_of_roots(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    assert len(list(crawl(str(tmp_path), extensions=BASE_IMAGE_EXTENSIONS))) == 1
    assert len(list(crawl(tmp_path, extensions=BASE_IMAGE_EXTENSIONS))) == 1


def test_problems_without_a_handler_do_not_stop_the_walk(tmp_path: Path) -> None:
    touch(tmp_path / "a.jpg")
    if hasattr(os, "symlink") and os.name != "nt":
        (tmp_path / "gone.jpg").symlink_to(tmp_path / "nowhere")
    assert len(list(crawl([tmp_path], extensions=BASE_IMAGE_EXTENSIONS))) == 1


def test_twenty_thousand_files_walk(tmp_path: Path) -> None:
    # Sanity, not a benchmark: 200 folders x 100 entries, a quarter of them non-images.
    for d in range(200):
        folder = tmp_path / f"d{d:03d}"
        folder.mkdir()
        for i in range(100):
            (folder / f"{i:03d}.{'txt' if i % 4 == 0 else 'jpg'}").write_bytes(b"")
    start = time.perf_counter()
    infos = list(crawl([tmp_path], extensions=BASE_IMAGE_EXTENSIONS))
    seconds = time.perf_counter() - start
    assert len(infos) == 15_000
    assert infos[0].path == str(tmp_path / "d000" / "001.jpg")
    assert infos[-1].path == str(tmp_path / "d199" / "099.jpg")
    print(f"crawled 20k entries in {seconds:.3f}s")
