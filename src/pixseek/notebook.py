"""Helpers for Jupyter notebooks: a progress bar over the library's progress callbacks, and photo
grids drawn with matplotlib. A client like the CLI and the UI: it draws, the library works.

    with progress_bar("indexing") as bar:
        lib.index([folder], progress=bar)
    show_photos([h.path for h in hits], titles=[f"{h.score:.3f}" for h in hits])

Needs ``matplotlib`` (``pip install 'pixseek[notebooks]'``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .errors import PixseekError


class NotebookProgress:
    """A ``tqdm.auto`` bar (a widget in Jupyter, text elsewhere) fed by ``progress(done, total)``."""

    def __init__(self, desc: str = "indexing", unit: str = "img") -> None:
        self.desc, self.unit = desc, unit
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=self.desc, unit=self.unit)
        if total != self.bar.total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> NotebookProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress_bar(desc: str = "indexing", unit: str = "img") -> NotebookProgress:
    """A progress callback for ``Library.index`` (and the other long calls) drawn as a bar."""
    return NotebookProgress(desc, unit)


class StageProgress:
    """A bar per stage for calls that report ``progress(stage, done, total)`` (``Library.duplicates``)."""

    def __init__(self) -> None:
        self.stage: str | None = None
        self.bar: NotebookProgress | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.bar = stage, NotebookProgress(stage, "step")
        self.bar(done, total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def stage_progress() -> StageProgress:
    """A progress callback for ``Library.duplicates``: one bar per stage (hashing, comparing, judging)."""
    return StageProgress()


def load_thumbnail(path: str | os.PathLike, size: int = 256):
    """An upright RGB PIL image whose longer side is at most ``size`` (big JPEGs decode at a
    reduced size, so a grid of 20-megapixel photos stays quick)."""
    from PIL import Image

    from .imaging import decode_image

    image = decode_image(os.fspath(path), min_side=size).image
    image.thumbnail((size, size), Image.Resampling.BICUBIC)
    return image


def show_photos(paths: Sequence[str | os.PathLike], titles: Sequence[str] | None = None, *, columns: int = 5,
                size: float = 2.6, title: str | None = None, thumb: int = 256):
    """Draw the photos in a grid, each with its title; returns the matplotlib Figure (Jupyter shows
    it). A photo that cannot be read shows its reason instead."""
    import matplotlib.pyplot as plt

    if not paths:
        raise PixseekError("no photos to show")
    titles = list(titles) if titles is not None else [os.path.basename(os.fspath(p)) for p in paths]
    columns = max(1, min(columns, len(paths)))
    rows = (len(paths) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows + (0.4 if title else 0)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, path, label in zip(axes.flat, paths, titles):
        try:
            ax.imshow(load_thumbnail(path, thumb))
        except PixseekError as exc:
            ax.text(0.5, 0.5, str(exc), ha="center", va="center", wrap=True, fontsize=8)
        ax.set_title(label, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_hits(hits: Sequence[Any], *, columns: int = 5, title: str | None = None, size: float = 2.6):
    """A grid of search results, titled with score, file name and how many copies it stands for."""
    titles = [f"{h.score:.3f}  {os.path.basename(h.path)[:24]}" + (f" +{len(h.copies)}" if h.copies else "")
              for h in hits]
    return show_photos([h.path for h in hits], titles, columns=columns, title=title, size=size)


def show_duplicates(group: Any, *, size: float = 2.6, thumb: int = 256):
    """One group of duplicates side by side: the keeper first, each titled with its role,
    resolution and file size."""
    members = sorted(group.members, key=lambda m: m.path != group.keep)
    titles = [f"{'keep' if m.path == group.keep else 'duplicate'} {m.width}x{m.height} {m.size / 1024:.0f} KB"
              for m in members]
    return show_photos([m.path for m in members], titles, columns=len(members), size=size, thumb=thumb,
                       title=f"{group.kind}: " + ", ".join(os.path.basename(m.path) for m in members)[:90])


def scatter_thumbnails(ax: Any, xy: Any, paths: Sequence[str], zoom: float = 0.25, thumb: int = 96) -> None:
    """Put each photo's thumbnail at its point on a 2-D map."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    for (x, y), path in zip(xy, paths):
        try:
            image = load_thumbnail(path, thumb)
        except PixseekError:
            continue
        ax.add_artist(AnnotationBbox(OffsetImage(image, zoom=zoom), (x, y), frameon=False))
