"""Text in photos: RapidOCR (PaddleOCR's PP-OCRv4 detection and recognition, Chinese and English)
run by ONNX Runtime. The models ship inside the ``rapidocr_onnxruntime`` wheel: nothing is
downloaded at run time.

Modes (``--ocr``):

- ``auto`` (the default): the detector first looks at a small copy of the photo (longer side
  ``AUTO_DETECT_SIDE``); only when it finds text does the full pass (detection at up to
  ``FULL_DETECT_SIDE``, direction, recognition) run. Most photos have no text and cost one small
  detection.
- ``on``: the full pass on every photo.
- ``off``: no OCR.

OCR runs on the image the pipeline has already decoded, upright (EXIF orientation applied), so a
photo rotated by its EXIF tag is read the right way round and keeps its words when rotated again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

OCR_MODES = ("auto", "on", "off")
AUTO_DETECT_SIDE = 480
FULL_DETECT_SIDE = 1280
OCR_SIDE = 1024  # recognition wants the photo's shorter side at least this (or the full size)
MIN_CONFIDENCE = 0.5
MAX_BOXES = 64  # auto: lines recognised per photo at most (a patterned wall can look like hundreds)
_engine_lock = threading.Lock()
_engine_instance = None


@dataclass(frozen=True)
class TextLine:
    """One line of text found in a photo: its text, its box (four (x, y) corners in the pixels of
    the full-size upright photo) and the recogniser's confidence (0..1)."""

    text: str
    box: tuple[tuple[float, float], ...]
    confidence: float


class OcrUnavailable(RuntimeError):
    """rapidocr_onnxruntime (or OpenCV under it) cannot be imported."""


def _engine():
    """One RapidOCR per process, loaded on first use, shared by the decode threads: ONNX Runtime
    sessions run concurrently, and RapidOCR keeps per-call state on the object only when a call
    passes thresholds (ours never do)."""
    global _engine_instance
    with _engine_lock:
        if _engine_instance is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except Exception as exc:  # ImportError, or OpenCV's shared libraries missing
                raise OcrUnavailable(f"OCR needs rapidocr_onnxruntime ({type(exc).__name__}: {exc})") from exc
            # one ONNX Runtime thread per call: the decode workers already run one photo per core
            _engine_instance = RapidOCR(det_limit_type="max", det_limit_side_len=FULL_DETECT_SIDE,
                                        intra_op_num_threads=1, inter_op_num_threads=1)
        return _engine_instance


def _bgr(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def detect_small(image: Image.Image, side: int = AUTO_DETECT_SIDE) -> tuple[np.ndarray, float]:
    """The cheap check of ``auto``: text boxes found on a small copy of ``image`` (longer side
    ``side``), in ``image``'s pixels, and the factor that scaled them back."""
    small = image.copy()
    small.thumbnail((side, side), Image.BILINEAR)
    boxes, _ = _engine().text_det(_bgr(small))
    if boxes is None or len(boxes) == 0:
        return np.zeros((0, 4, 2), np.float32), 1.0
    ratio = image.width / small.width
    return np.asarray(boxes, dtype=np.float32) * ratio, ratio


def has_text(image: Image.Image, side: int = AUTO_DETECT_SIDE) -> bool:
    return len(detect_small(image, side)[0]) > 0


def recognize(image: Image.Image, boxes: np.ndarray, scale: float = 1.0) -> list[TextLine]:
    """Read the text in ``boxes`` (corners in ``image``'s pixels) of ``image``: direction and
    recognition only, no second detection; at most ``MAX_BOXES``, the largest first."""
    if len(boxes) == 0:
        return []
    engine = _engine()
    areas = [cv_area(b) for b in boxes]
    keep = sorted(range(len(boxes)), key=lambda i: -areas[i])[:MAX_BOXES]
    boxes = engine.sorted_boxes(np.asarray([boxes[i] for i in keep], dtype=np.float32))
    h, w = image.height, image.width
    boxes = [np.clip(_padded(b), 0, [w - 1, h - 1]).astype(np.float32) for b in boxes]
    crops = engine.get_crop_img_list(_bgr(image), boxes)
    crops, _, _ = engine.text_cls(crops)
    results, _ = engine.text_rec(crops)
    return _lines(zip(boxes, (r[0] for r in results), (r[1] for r in results)), scale)


def _padded(box: np.ndarray, along: float = 0.15, across: float = 0.0) -> np.ndarray:
    """A box found on the small copy, grown by ``along`` x its height at both ends and ``across``
    x its height above and below: scaled up, its edges are coarse and would cut letters off."""
    p0, p1, p2, p3 = (np.asarray(p, dtype=np.float64) for p in box)
    height = max(np.linalg.norm(p3 - p0), 1.0)
    u = (p1 - p0) / max(np.linalg.norm(p1 - p0), 1e-6)
    v = (p3 - p0) / height
    a, c = u * along * height, v * across * height
    return np.array([p0 - a - c, p1 + a - c, p2 + a + c, p3 - a + c])


def cv_area(box: np.ndarray) -> float:
    x, y = box[:, 0], box[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _lines(found, scale: float) -> list[TextLine]:
    lines = []
    for box, text, score in found:
        text = str(text).strip()
        if text and float(score) >= MIN_CONFIDENCE:
            corners = tuple((round(float(x) * scale, 1), round(float(y) * scale, 1)) for x, y in box)
            lines.append(TextLine(text, corners, round(float(score), 4)))
    return lines


def read_text(image: Image.Image, mode: str = "auto", scale: float = 1.0) -> list[TextLine]:
    """The lines of text in ``image`` (upright RGB). ``scale`` maps its pixels to the full-size
    photo's (the pipeline may have decoded a reduced copy), so boxes are in full-size pixels."""
    if mode == "off":
        return []
    if mode == "auto" and not has_text(image):
        return []
    result, _ = _engine()(_bgr(image))
    return _lines(result or [], scale)
