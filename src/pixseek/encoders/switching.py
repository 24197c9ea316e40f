"""The default back end: torch from the first photo, ONNX Runtime as soon as its export is ready.

With ``--backend auto --precision auto`` (the defaults) on a CPU, a model with a cached ONNX
export loads straight from it (``encoders.onnx``, no torch). Without one, ``SwitchingEncoder``
encodes with torch at once, so a first run starts as fast as the plain open_clip loop, while a
background thread exports the model to ONNX (``encoders.export``, ~10-20 s once per model); the
first batch after the export is ready runs on ONNX Runtime. The vectors do not change at the
switch: ONNX fp32 gives torch's vectors (cosine > 0.99999), and int8 takes over only after its
check against fp32 on the user's photos (``OnnxEncoder``), which stores fp32 until then.

A run too small for the export to pay (``SWITCH_MIN_PHOTOS``) does not export in-process; at the
end of the run it leaves the export to a detached, low-priority process
(``python -m pixseek.encoders.export_job``), so the next run and every text query load the
export instead of torch. ``PIXSEEK_BACKGROUND_EXPORT=0`` turns both off.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Sequence

import numpy as np
from PIL import Image

from .base import Encoder

SWITCH_MIN_PHOTOS = 150  # fewer new photos: torch finishes before an export (~15 s) would pay
BACKGROUND_ENV = "PIXSEEK_BACKGROUND_EXPORT"


def background_export_allowed() -> bool:
    return os.environ.get(BACKGROUND_ENV, "1").strip().lower() not in ("0", "no", "false", "off")


class SwitchingEncoder(Encoder):
    """``torch_encoder`` until an ``OnnxEncoder`` of it (``precision`` ``int8`` or ``fp32``) is
    ready, then that. The export starts when a run announces enough photos (``expect``)."""

    def __init__(self, torch_encoder: Encoder, precision: str = "int8", *,
                 min_photos: int | None = None) -> None:
        self.torch = torch_encoder
        self.id = torch_encoder.id
        self.dim = torch_encoder.dim
        self.supports_text = torch_encoder.supports_text
        self.input_size = torch_encoder.input_size
        self.onnx_precision = precision
        self.min_photos = SWITCH_MIN_PHOTOS if min_photos is None else min_photos
        self.current: Encoder = torch_encoder
        self.encoded = 0  # photos encoded so far, by either back end
        self.switched_at: int | None = None
        self.notes: list[str] = []
        self._ready: Encoder | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SwitchingEncoder({self.id!r}, now={backend_label(self.current)})"

    # -- the switch --------------------------------------------------------------------------------
    def expect(self, photos: int) -> None:
        if photos >= self.min_photos and background_export_allowed():
            self.start_export()

    def start_export(self) -> threading.Thread:
        """Export (and load) the ONNX encoder in a background thread; idempotent."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._export, name="pixseek-export", daemon=True)
                self._thread.start()
            return self._thread

    def _export(self) -> None:
        from .onnx import OnnxEncoder

        try:  # a lower priority for this thread only (Linux): the encoding in front comes first
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):
            pass
        try:
            # export from a private copy: the exporter swaps and traces modules, and the model in
            # front keeps encoding photos meanwhile (on the shared model, batches encoded during
            # the export came out wrong: cosine ~0.2 to their true vectors)
            enc = OnnxEncoder(_private_copy(self.torch), precision=self.onnx_precision)
            enc.warm_up()
            self._ready = enc
        except Exception as exc:  # an architecture the exporter cannot take: stay on torch
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            self.notes.append(f"ONNX Runtime is not available for this model ({first}): using torch")

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a started export; True when the ONNX encoder is ready (tests, benches)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._ready is not None

    def _switch(self) -> Encoder:
        ready = self._ready
        if ready is not None and self.current is not ready:
            self.current = ready
            self.switched_at = self.encoded
            self.notes.append(f"switched to ONNX Runtime after {self.encoded} photos on torch "
                              f"(the export is cached: later runs start on it)")
        return self.current

    # -- Encoder -------------------------------------------------------------------------------------
    def preprocess(self, image: Image.Image):
        return self.torch.preprocess(image)  # the ONNX encoder's is the same function

    def encode_pixels(self, batch) -> np.ndarray:
        out = self._switch().encode_pixels(batch)
        self.encoded += len(out)
        return out

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._switch().encode_texts(texts)

    def warm_up(self) -> None:
        self.torch.warm_up()

    def drain_notes(self) -> list[str]:
        """Notes of the switch and of the ONNX encoder (its int8 check); a run that did not start
        the export in-process leaves it to a background process (see the module notes)."""
        if self._thread is None and background_export_allowed():
            spawn_background_export(self.id)
        inner = getattr(self.current, "drain_notes", None)
        notes, self.notes = self.notes + (inner() if inner and self.current is not self.torch else []), []
        return notes

    @property
    def active_precision(self) -> str:
        return getattr(self.current, "active_precision", "fp32")


def _private_copy(encoder: Encoder) -> Encoder:
    """The encoder with its own copy of the model (weights included), for a background export."""
    import copy

    twin = copy.copy(encoder)
    twin.model = copy.deepcopy(encoder.model)
    return twin


def backend_label(encoder: Encoder) -> str:
    """What encodes, for the run's summary: ``onnx int8 (u8s8-7bit)``, ``torch fp32``, ..."""
    if isinstance(encoder, SwitchingEncoder):
        now = backend_label(encoder.current)
        if encoder.switched_at is None:
            return now
        return f"torch fp32 for {encoder.switched_at} photos, then {now}"
    precision = getattr(encoder, "active_precision", None)
    if precision is not None and hasattr(encoder, "scheme"):
        return f"onnx {precision}" + (f" ({encoder.scheme})" if precision == "int8" else "")
    device = str(getattr(encoder, "device", "cpu"))
    return f"torch {'fp16' if device.startswith('cuda') else 'fp32'} ({device})" if hasattr(encoder, "model") \
        else type(encoder).__name__


def spawn_background_export(encoder_id: str) -> None:
    """Start ``python -m pixseek.encoders.export_job ENCODER_ID`` detached, at the lowest CPU
    priority, unless the export is cached already (or being made: a lock file says so)."""
    from .onnx import cache_dir_for, is_cached

    if is_cached(encoder_id):
        return
    folder = cache_dir_for(encoder_id)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p))
    try:
        subprocess.Popen([sys.executable, "-m", "pixseek.encoders.export_job", encoder_id],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True, env=env, preexec_fn=_lowest_priority)
    except OSError:
        pass  # the next large run exports in-process instead


def _lowest_priority() -> None:
    try:
        os.nice(19)
    except OSError:
        pass
