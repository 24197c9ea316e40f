"""Words about a photo from its metadata: EXIF camera make, model and lens; XMP (``dc:subject``
keywords, ``lr:hierarchicalSubject``, ``dc:title``, ``dc:description``) and IPTC-IIM (keywords,
headline, caption), embedded in the file or in a sidecar ``.xmp`` next to it (``IMG_1.jpg.xmp``,
as darktable writes, or ``IMG_1.xmp``, as Lightroom and digiKam can).

Metadata is written by many programs, some of them broken: anything that cannot be read is left
out with a reason (``problems``), never an exception; XMP over ``MAX_XMP_BYTES`` is not parsed.
XML is parsed with ``defusedxml`` (no entity expansion, no external entities).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

from PIL import Image

from .store import NewWord

MAX_XMP_BYTES = 2 * 1024 * 1024
MAX_WORDS = 500  # per photo and source: more is not a keyword list
_NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "aux": "http://ns.adobe.com/exif/1.0/aux/",
    "exifEX": "http://cipa.jp/exif/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
}
CONTENT_KINDS = ("keyword", "title", "description", "camera", "lens")
SIDECAR_KINDS = ("keyword", "title", "description")  # owned by the file, not the content


@dataclass
class MetaWords:
    words: list[NewWord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, kind: str, text: object) -> None:
        text = " ".join(str(text).replace("\x00", " ").split())
        if text and len(self.words) < MAX_WORDS and not any(w.kind == kind and w.text == text for w in self.words):
            self.words.append(NewWord(kind, text))

    @property
    def problem(self) -> str | None:
        return "; ".join(self.problems) or None


# -- embedded ---------------------------------------------------------------------------------------
def embedded_words(data: bytes) -> MetaWords:
    """EXIF camera and lens, embedded XMP and IPTC words of an image file's bytes."""
    out = MetaWords()
    try:
        im = Image.open(io.BytesIO(data))
    except Exception as exc:
        out.problems.append(f"metadata unreadable: {type(exc).__name__}")
        return out
    with im:
        _exif_words(im, out)
        xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
        if xmp:
            xmp_words(xmp if isinstance(xmp, bytes) else str(xmp).encode("utf-8", "replace"), out, "")
        _iptc_words(im, out)
    return out


def _exif_words(im: Image.Image, out: MetaWords) -> None:
    try:
        exif = im.getexif()
        make, model = _clean(exif.get(0x010F)), _clean(exif.get(0x0110))
        lens = _clean(exif.get_ifd(0x8769).get(0xA434))
    except Exception as exc:
        out.problems.append(f"EXIF unreadable: {type(exc).__name__}")
        return
    if model and make and model.lower().startswith(make.split()[0].lower()):
        make = ""  # "Canon" + "Canon EOS 5D": say it once
    if make or model:
        out.add("camera", f"{make} {model}")
    if lens:
        out.add("lens", lens)


def _clean(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return ""
    text = "".join(ch for ch in value if ch.isprintable())
    return " ".join(text.split())[:200]


def _iptc_words(im: Image.Image, out: MetaWords) -> None:
    try:
        from PIL import IptcImagePlugin

        info = IptcImagePlugin.getiptcinfo(im) or {}
    except Exception as exc:
        out.problems.append(f"IPTC unreadable: {type(exc).__name__}")
        return
    for key, kind in (((2, 25), "keyword"), ((2, 5), "title"), ((2, 105), "title"), ((2, 120), "description")):
        values = info.get(key)
        if values is None:
            continue
        for value in values if isinstance(values, list) else [values]:
            out.add(kind, _clean(value))


# -- XMP ----------------------------------------------------------------------------------------------
def xmp_words(data: bytes, out: MetaWords, prefix: str) -> None:
    """Add the keywords, titles and descriptions of one XMP packet to ``out`` (kinds prefixed
    with ``prefix``, e.g. ``"sidecar "``)."""
    if len(data) > MAX_XMP_BYTES:
        out.problems.append(f"XMP too large ({len(data) // 1024} KiB; the limit is {MAX_XMP_BYTES // 1024} KiB)")
        return
    from defusedxml import ElementTree

    start = data.find(b"<")
    try:
        root = ElementTree.fromstring(data[start:] if start >= 0 else data)
    except Exception as exc:  # ParseError, an entity bomb refused by defusedxml, ...
        out.problems.append(f"XMP unreadable: {type(exc).__name__}: {str(exc)[:80]}")
        return
    for tag, kind in (("dc:subject", "keyword"), ("lr:hierarchicalSubject", "keyword"),
                      ("dc:title", "title"), ("photoshop:Headline", "title"), ("dc:description", "description")):
        for node in root.iter(_qname(tag)):
            for text in _values(node):
                if kind == "keyword" and "|" in text:  # Lightroom: "places|Portugal|Porto"
                    for part in text.split("|"):
                        out.add(prefix + kind, part)
                else:
                    out.add(prefix + kind, text)
    for attr, kind in (("dc:title", "title"), ("dc:description", "description")):
        for node in root.iter(_qname("rdf:Description")):
            value = node.get(_qname(attr))
            if value:
                out.add(prefix + kind, value)


def _qname(tag: str) -> str:
    ns, local = tag.split(":")
    return f"{{{_NS[ns]}}}{local}"


def _values(node) -> list[str]:
    """The texts of an XMP property: an rdf:Bag/Seq/Alt of rdf:li, or plain text."""
    items = [li.text or "" for li in node.iter(_qname("rdf:li"))]
    if not items and node.text:
        items = [node.text]
    return [t.strip() for t in items if t and t.strip()]


# -- sidecars -----------------------------------------------------------------------------------------
def sidecar_paths(path: str) -> list[str]:
    """Where a sidecar of ``path`` may be: ``IMG_1.jpg.xmp`` and ``IMG_1.xmp`` (either case)."""
    stem, _ = os.path.splitext(path)
    return [path + ".xmp", path + ".XMP", stem + ".xmp", stem + ".XMP"]


def find_sidecar(path: str, listing: dict[str, os.stat_result] | None = None) -> tuple[str, os.stat_result] | None:
    """The first sidecar of ``path`` that exists, with its stat; ``listing``: the folder's
    ``.xmp`` files already listed (name -> stat), to save a stat per photo."""
    for candidate in sidecar_paths(path):
        if listing is not None:
            st = listing.get(os.path.basename(candidate))
            if st is not None:
                return candidate, st
            continue
        try:
            return candidate, os.stat(candidate)
        except OSError:
            continue
    return None


def sidecar_words(sidecar: str) -> MetaWords:
    out = MetaWords()
    try:
        size = os.path.getsize(sidecar)
        if size > MAX_XMP_BYTES:
            out.problems.append(f"sidecar {os.path.basename(sidecar)} too large ({size // 1024} KiB)")
            return out
        with open(sidecar, "rb") as fh:
            data = fh.read(MAX_XMP_BYTES + 1)
    except OSError as exc:
        out.problems.append(f"sidecar unreadable: {exc.strerror or exc}")
        return out
    xmp_words(data, out, "")
    out.problems = [f"sidecar {os.path.basename(sidecar)}: {p}" for p in out.problems]
    return out
