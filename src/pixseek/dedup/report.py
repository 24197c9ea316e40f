"""The ``--html`` report of ``pixseek dedup``: one self-contained page, groups side by side with
thumbnails (embedded, so the file can be moved or mailed), resolution, size, date and evidence.

A renderer, like the CLI's table: it reads ``DuplicateGroup`` objects and never decides anything.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence

from ..errors import ImageDecodeError, PixseekError
from ..thumbs import jpeg_thumbnail
from ..types import DuplicateGroup, DuplicateMember, Evidence
from ..units import human_size

THUMB = 240

_CSS = """
body{font:14px system-ui,sans-serif;margin:2em;background:#fafafa;color:#222}
h1{font-size:20px} .group{background:#fff;border:1px solid #ddd;border-radius:8px;margin:1.5em 0;padding:1em}
.kind{font-weight:600;text-transform:uppercase;font-size:12px;padding:2px 8px;border-radius:4px;background:#eee}
.exact{background:#d4edda}.copy{background:#fff3cd}.similar{background:#d1ecf1}
.members{display:flex;flex-wrap:wrap;gap:1em;margin-top:.8em}
.member{width:250px;border:2px solid transparent;padding:4px;border-radius:6px}
.member.keep{border-color:#2e7d32} .member img{max-width:240px;max-height:240px;display:block}
.meta{font-size:12px;color:#555;word-break:break-all} .badge{font-size:11px;font-weight:600}
.evidence{font-size:12px;margin-top:.6em;padding-left:1.2em} .evidence code{font-size:12px}
"""


def render_html(groups: Sequence[DuplicateGroup], title: str = "pixseek duplicates") -> str:
    """The whole page as a string."""
    parts = [f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><style>{_CSS}</style>",
             f"<h1>{html.escape(title)}: {len(groups)} groups, "
             f"{sum(len(g.duplicates) for g in groups)} duplicates</h1>"]
    for n, group in enumerate(groups, 1):
        parts.append(f"<div class=group><span class='kind {group.kind}'>{group.kind}</span> "
                     f"group {n}, {len(group.members)} files<div class=members>")
        for m in group.members:
            parts.append(_member(m, m.path == group.keep))
        parts.append("</div>" + _evidence(group.evidence) + "</div>")
    return "\n".join(parts)


def write_html(groups: Sequence[DuplicateGroup], dest: str | os.PathLike) -> None:
    """Write the report to ``dest`` (atomically)."""
    dest = os.fspath(dest)
    tmp = dest + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(render_html(groups))
        os.replace(tmp, dest)
    except OSError as exc:
        raise PixseekError(f"cannot write the report {dest}: {exc.strerror}") from exc


def _member(m: DuplicateMember, keep: bool) -> str:
    badge = "KEEP" if keep else ("PROTECTED" if m.protected else (m.link.upper() if m.link else "duplicate"))
    res = f"{m.width}x{m.height}" if m.width else "?"
    return (f"<div class='member{' keep' if keep else ''}'>{_thumb(m.path)}"
            f"<div class=badge>{badge}</div><div class=meta>{res} · {human_size(m.size)} · {m.format or '?'}"
            f" · {html.escape(m.taken_at or 'no date')}<br>{html.escape(m.path)}</div></div>")


def _evidence(evidence: Sequence[Evidence]) -> str:
    items = "".join(f"<li>{e.describe(name=_code, strong=lambda tier: f'<b>{tier}</b>')}</li>" for e in evidence)
    return f"<ul class=evidence>{items}</ul>"


def _code(path: str) -> str:
    return f"<code>{html.escape(os.path.basename(path))}</code>"


def _thumb(path: str) -> str:
    try:
        jpeg = jpeg_thumbnail(path, size=THUMB)
    except (ImageDecodeError, OSError):
        return "<div class=meta>(no preview)</div>"
    return f"<img alt='' src='data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}'>"
