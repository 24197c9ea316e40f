"""XMP sidecars: tags as ``dc:subject`` keywords that darktable, digiKam, Lightroom and ExifTool read.

The sidecar of ``IMG_1.jpg`` is ``IMG_1.jpg.xmp`` (darktable's and digiKam's name, which keeps
``IMG_1.jpg`` and ``IMG_1.png`` apart), or ``IMG_1.xmp`` when that one exists already (Lightroom's and
Bridge's). An existing sidecar is merged into, never replaced: its other properties, namespaces,
comments and ``xpacket`` wrapper stay, and keywords already there are kept; only missing ones are
added to its ``dc:subject`` bag. A sidecar that is not XMP is left alone and reported. Writes are
atomic (temporary file, fsync, rename).

The standard library's ElementTree does this job: ``python-xmp-toolkit`` needs the exempi C library,
and the format is plain RDF/XML.

>>> write_keywords("/photos/IMG_1.jpg", ["receipt"])       # doctest: +SKIP
PosixPath('/photos/IMG_1.jpg.xmp')
>>> read_keywords("/photos/IMG_1.jpg.xmp")                   # doctest: +SKIP
['receipt']
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from ..errors import PixseekError

X = "adobe:ns:meta/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
_XPACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
_XPACKET_END = '<?xpacket end="w"?>'
_PACKET = re.compile(r"^\s*(<\?xml[^>]*\?>\s*)?(<\?xpacket begin[^>]*\?>)", re.S)
_PACKET_END = re.compile(r"(<\?xpacket end[^>]*\?>)\s*$", re.S)


def sidecar_path(photo: str | os.PathLike) -> Path:
    """Where the keywords of ``photo`` go: an existing ``NAME.EXT.xmp`` or ``NAME.xmp``, else ``NAME.EXT.xmp``."""
    photo = Path(photo)
    full, short = photo.with_name(photo.name + ".xmp"), photo.with_suffix(".xmp")
    if full.exists() or not short.exists():
        return full
    return short


def read_keywords(sidecar: str | os.PathLike) -> list[str]:
    """The ``dc:subject`` keywords of a sidecar ([] when it has none)."""
    root = _parse(Path(sidecar).read_text(encoding="utf-8"), Path(sidecar))
    return [li.text or "" for li in root.iter(f"{{{RDF}}}li") if _in_subject(root, li)]


def write_keywords(photo: str | os.PathLike, keywords: Iterable[str]) -> Path:
    """Add ``keywords`` to the sidecar of ``photo`` (made when missing); returns its path. Raises
    :class:`PixseekError` when the existing sidecar cannot be read as XMP (it is left as it was)."""
    sidecar = sidecar_path(photo)
    if sidecar.exists():
        text = sidecar.read_text(encoding="utf-8")
        root = _parse(text, sidecar)
        head, tail = _PACKET.match(text), _PACKET_END.search(text)
    else:
        root, head, tail = _new_root(), None, None
    bag = _subject_bag(root)
    have = {li.text for li in bag.findall(f"{{{RDF}}}li")}
    added = [k for k in dict.fromkeys(keywords) if k not in have]
    if not added and sidecar.exists():
        return sidecar
    for keyword in added:
        ET.SubElement(bag, f"{{{RDF}}}li").text = keyword
    _write_atomic(sidecar, _serialise(root, head.group(2) if head else _XPACKET_BEGIN,
                                      tail.group(1) if tail else _XPACKET_END))
    return sidecar


def _parse(text: str, path: Path) -> ET.Element:
    # Register the file's own prefixes so that writing it back keeps them (ElementTree would say ns0:).
    try:
        for _event, (prefix, uri) in ET.iterparse(io.StringIO(text), events=("start-ns",)):
            if prefix and not prefix.startswith("ns"):
                ET.register_namespace(prefix, uri)
        parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True, insert_pis=True))
        root = ET.fromstring(text, parser=parser)
    except ET.ParseError as exc:
        raise PixseekError(f"{path} is not readable XMP ({exc}); it was left as it was") from exc
    if root.tag != f"{{{X}}}xmpmeta" and root.tag != f"{{{RDF}}}RDF":
        raise PixseekError(f"{path} is not an XMP sidecar (its root is {root.tag}); it was left as it was")
    return root


def _new_root() -> ET.Element:
    root = ET.Element(f"{{{X}}}xmpmeta")
    rdf = ET.SubElement(root, f"{{{RDF}}}RDF")
    ET.SubElement(rdf, f"{{{RDF}}}Description", {f"{{{RDF}}}about": ""})
    return root


def _subject_bag(root: ET.Element) -> ET.Element:
    """The ``rdf:Bag`` of ``dc:subject``, made in the first ``rdf:Description`` when missing."""
    for subject in root.iter(f"{{{DC}}}subject"):
        bag = subject.find(f"{{{RDF}}}Bag")
        if bag is None:
            bag = ET.SubElement(subject, f"{{{RDF}}}Bag")
        return bag
    rdf = root if root.tag == f"{{{RDF}}}RDF" else root.find(f"{{{RDF}}}RDF")
    if rdf is None:
        rdf = ET.SubElement(root, f"{{{RDF}}}RDF")
    description = rdf.find(f"{{{RDF}}}Description")
    if description is None:
        description = ET.SubElement(rdf, f"{{{RDF}}}Description", {f"{{{RDF}}}about": ""})
    subject = ET.SubElement(description, f"{{{DC}}}subject")
    return ET.SubElement(subject, f"{{{RDF}}}Bag")


def _in_subject(root: ET.Element, li: ET.Element) -> bool:
    return any(li in list(bag) for subject in root.iter(f"{{{DC}}}subject")
               for bag in subject.findall(f"{{{RDF}}}Bag"))


def _serialise(root: ET.Element, head: str, tail: str) -> str:
    for prefix, uri in (("x", X), ("rdf", RDF), ("dc", DC)):
        ET.register_namespace(prefix, uri)
    ET.indent(root, space=" ")
    return f"{head}\n{ET.tostring(root, encoding='unicode')}\n{tail}\n"


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
