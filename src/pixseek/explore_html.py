"""The ``--html`` page of ``pixseek clusters``: one self-contained file (thumbnails embedded), each
cluster a row of its photos closest to the centre first, then the outliers ("unlike the rest").

A renderer: it reads a :class:`~pixseek.explore.ClusterReport` and decides nothing.
"""

from __future__ import annotations

import base64
import html
import os

from .errors import ImageDecodeError, PixseekError
from .explore import ClusterReport
from .thumbs import jpeg_thumbnail

THUMB = 160
PER_CLUSTER = 12

_CSS = """
body{font:14px system-ui,sans-serif;margin:2em;background:#fafafa;color:#222}
h1{font-size:20px} h2{font-size:16px;margin:0 0 .5em}
.group{background:#fff;border:1px solid #ddd;border-radius:8px;margin:1.2em 0;padding:1em}
.photos{display:flex;flex-wrap:wrap;gap:.6em} .photo{width:164px}
.photo img{max-width:160px;max-height:160px;display:block} .meta{font-size:11px;color:#555;word-break:break-all}
"""


def render_clusters_html(report: ClusterReport, title: str = "pixseek clusters", per_cluster: int = PER_CLUSTER) -> str:
    parts = [f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><style>{_CSS}</style>",
             f"<h1>{html.escape(title)}: {report.photos} photos in {len(report.clusters)} clusters</h1>"]
    for c in report.clusters:
        more = f", {c.size - per_cluster} more not shown" if c.size > per_cluster else ""
        parts.append(f"<div class=group id=cluster-{c.number}><h2>cluster {c.number}: {c.size} photos "
                     f"(cohesion {c.cohesion:.2f}{more})</h2><div class=photos>")
        parts.extend(_photo(p, None) for p in c.paths[:per_cluster])
        parts.append("</div></div>")
    if report.outliers:
        parts.append("<div class=group id=outliers><h2>unlike the rest (lowest similarity to their nearest "
                     "neighbours)</h2><div class=photos>")
        parts.extend(_photo(p, s) for p, s in report.outliers)
        parts.append("</div></div>")
    return "\n".join(parts)


def write_clusters_html(report: ClusterReport, dest: str | os.PathLike) -> None:
    """Write the page to ``dest`` (atomically)."""
    dest = os.fspath(dest)
    tmp = dest + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(render_clusters_html(report))
        os.replace(tmp, dest)
    except OSError as exc:
        raise PixseekError(f"cannot write {dest}: {exc.strerror}") from exc


def _photo(path: str, score: float | None) -> str:
    try:
        img = f"<img alt='' src='data:image/jpeg;base64,{base64.b64encode(jpeg_thumbnail(path, size=THUMB)).decode()}'>"
    except (ImageDecodeError, OSError):
        img = "<div class=meta>(no preview)</div>"
    extra = f" · {score:.3f}" if score is not None else ""
    return f"<div class=photo>{img}<div class=meta>{html.escape(os.path.basename(path))}{extra}</div></div>"
