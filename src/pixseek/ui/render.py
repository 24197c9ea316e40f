"""Turning library results into what the page shows: gallery items, captions, info text, progress.
Shared by every tab (the Duplicates tab can show its groups with ``gallery_items`` too)."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from ..encoders import ModelSpec
from ..errors import PixseekError
from ..jobs import JobProgress
from ..library import Library
from ..search import Filters
from ..thumbs import GALLERY_SIZE
from ..types import Hit, ImageInfo, LibraryStatus, PhotoWord, SearchResults
from ..units import human_size
from .query_form import SearchForm

GalleryItem = tuple[str, str]  # (thumbnail path, caption)
ALL_FOLDERS = ("All folders", "")  # the folder filter's first choice: no filter


def copies_text(n: int) -> str:
    return f"+{n} cop{'y' if n == 1 else 'ies'}"


def caption(hit: Hit) -> str:
    """``0.31 · IMG_0042.jpg``, ``· +2 copies`` when copies of it were folded into this result, and
    the words that matched (``· text in photo: "…router login…"``)."""
    text = f"{hit.score:.2f} · {os.path.basename(hit.path)}"
    text = f"{text} · {copies_text(len(hit.copies))}" if hit.copies else text
    words = matched_words(hit)
    return f"{text} · {'; '.join(words)}" if words else text


def matched_words(hit: Hit) -> list[str]:
    """The reasons of a hit that are words (not "looks like the query")."""
    return [w for w in hit.why if not w.startswith("looks like")]


def draw_word_boxes(preview: str | os.PathLike, words: Sequence[PhotoWord], full_size: tuple[int, int] | None):
    """The preview with the OCR boxes drawn over it: matched words filled and outlined in amber,
    the others outlined thinly. Boxes are in full-size pixels (``full_size``), the preview smaller."""
    from PIL import Image, ImageDraw

    im = Image.open(preview).convert("RGB")
    boxes = [w for w in words if w.kind == "ocr" and w.box]
    if not boxes or not full_size or not full_size[0]:
        return im
    sx, sy = im.width / full_size[0], im.height / full_size[1]
    overlay = Image.new("RGBA", im.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for w in boxes:
        points = [(x * sx, y * sy) for x, y in w.box]  # type: ignore[union-attr]
        if w.matched:
            draw.polygon(points, fill=(255, 191, 0, 90), outline=(255, 150, 0, 255), width=3)
        else:
            draw.polygon(points, outline=(60, 140, 255, 200), width=1)
    return Image.alpha_composite(im.convert("RGBA"), overlay).convert("RGB")


def gallery_items(lib: Library, hits: Sequence[Hit], size: int = GALLERY_SIZE) -> list[GalleryItem]:
    """Thumbnails (made in parallel the first time, then cached) with captions, in hit order.
    A photo that cannot be read any more gets a grey tile, so positions still match ``hits``."""

    def one(hit: Hit) -> str:
        try:
            return str(lib.thumbnail(hit.path, size))
        except PixseekError:
            return str(lib.thumb_cache.placeholder())

    with ThreadPoolExecutor(max_workers=min(4, max(1, len(hits)))) as pool:
        thumbs = list(pool.map(one, hits))
    return [(thumb, caption(hit)) for thumb, hit in zip(thumbs, hits)]


def human_bytes(n: int) -> str:
    return human_size(n, "bytes")


def code(text: str) -> str:
    """Inline code in Markdown that survives backticks and HTML in file names."""
    return "<code>" + html.escape(text) + "</code>"


def info_markdown(info: ImageInfo, score: float | None = None, copies: Sequence[str] = (),
                  why: Sequence[str] = ()) -> str:
    dims = f"{info.width} × {info.height} px" if info.width and info.height else "unknown size"
    lines = [
        f"### {html.escape(info.name)}",
        f"**Path** {code(info.path)}",
        f"**Dimensions** {dims} · **File size** {human_bytes(info.bytes)}"
        + (f" · {html.escape(info.format)}" if info.format else ""),
        f"**Taken** {info.taken_at.replace('T', ' ') if info.taken_at else 'unknown (no EXIF date)'}"
        f" · **Modified** {info.modified.replace('T', ' ')}",
    ]
    if score is not None:
        lines.append(f"**Score** {score:.3f}")
    if why:
        lines.append("**Found by** " + " · ".join(html.escape(w) for w in why))
    if copies:
        listed = "\n".join(f"- {code(path)}" for path in copies)
        lines.append(f"**Copies** ({copies_text(len(copies))}: the same picture, shown once)\n\n{listed}")
    return "\n\n".join(lines)


def query_label(form: SearchForm, photo: str | None) -> str:
    """What was asked, in words: ``“a beach” + photos like x.jpg (weight 0.5) − “people”``."""
    parts = [f"“{html.escape(form.text)}”"] if form.text else []
    if photo:
        weight = f" (weight {form.photo_weight:g})" if form.photo_weight != 1 and form.text else ""
        parts.append(f"photos like {code(os.path.basename(photo))}{weight}")
    label = " + ".join(parts)
    negatives = form.negative_terms()
    if negatives:
        weight = f" (weight {form.not_weight:g})" if form.not_weight != 1 else ""
        label += " − " + ", ".join(f"“{html.escape(n)}”" for n in negatives) + weight
    return label


def search_status(shown: int, label: str, results: SearchResults, filters: Filters, seconds: float) -> str:
    """One line: how many photos are shown, for what, the filters (and how many photos pass them),
    the strong matches, the server's time; or why there is nothing."""
    parts = [f"{shown} {'photo' if shown == 1 else 'photos'} for {label}"]
    if filters.active:
        passing = f" ({results.matched} pass)" if results.matched is not None else ""
        parts.append(f"{html.escape(filters.describe())}{passing}")
    if results.strong is not None and (shown or not results.message):  # else the message says it
        parts.append(f"{results.strong} strong match{'' if results.strong == 1 else 'es'}")
    if not shown and results.message:
        parts.append(html.escape(results.message))
    tail = " (all there is)" if shown and not results.more else ""
    return " · ".join(parts) + f" · {seconds * 1000:.0f} ms{tail}"


def folder_choices(roots: Sequence[str]) -> list[tuple[str, str]]:
    """The folder filter's choices: every folder, then each indexed folder (a sub-folder can be typed)."""
    return [ALL_FOLDERS, *((root, root) for root in roots)]


def inline_photo(jpeg: bytes, name: str) -> str:
    """The photo in the query, as an inline image: it lives in the page, not on the server."""
    data = base64.b64encode(jpeg).decode("ascii")
    return (f'<div class="px-example"><img src="data:image/jpeg;base64,{data}" alt="">'
            f"<span>searching like {code(name)}</span></div>")


def problem(message: str) -> str:
    return f"⚠️ {html.escape(message)}"


def model_name(status: LibraryStatus) -> str:
    if not status.model:
        return "none yet (chosen when the first folder is indexed)"
    return ModelSpec(status.model, status.pretrained).label


def library_summary(status: LibraryStatus, supports_text: bool | None) -> str:
    text = {True: "words and photos", False: "photos only (an image-only model: text search needs a "
            "CLIP model, e.g. `pixseek index --model ViT-B-32 --reindex`)", None: "–"}[supports_text]
    folders = "\n".join(f"- {code(root)}" for root in status.roots) or "- none yet: add one below"
    return (f"**{status.images}** photos indexed · **model** {html.escape(model_name(status))} · "
            f"**search by** {text}\n\n**Index** {code(status.db)}\n\n**Folders**\n\n{folders}")


def skipped_rows(status: LibraryStatus) -> list[list[str]]:
    return [[s.path, s.reason] for s in status.skipped]


def progress_html(p: JobProgress) -> str:
    """A live progress bar (an HTML <progress>) with one line of text under it."""
    where = ", ".join(os.path.basename(x.rstrip(os.sep)) or x for x in p.paths) or "all folders"
    if p.state == "idle":
        return ""
    if p.state == "failed":
        return f'<div class="px-progress px-failed">{problem(p.error or "indexing failed")}</div>'
    if p.state == "done" and p.report is not None:
        r = p.report
        line = (f"Indexed {html.escape(where)}: {r.added} added, {r.updated} updated, {r.removed} removed, "
                f"{r.unchanged} unchanged, {r.skipped} skipped in {r.seconds:.1f} s")
        bar = '<progress value="1" max="1"></progress>'
    elif p.total is None:
        line, bar = f"Scanning {html.escape(where)}…", "<progress></progress>"
    else:
        pct = 100 * p.fraction
        line = f"Indexing {html.escape(where)}: {p.done} / {p.total} photos ({pct:.0f} %) · {p.elapsed:.0f} s"
        bar = f'<progress value="{p.done}" max="{max(p.total, 1)}"></progress>'
    extra = f"<br>{len(p.problems)} folder(s) could not be read" if p.problems else ""
    return f'<div class="px-progress">{bar}<div>{line}{extra}</div></div>'
