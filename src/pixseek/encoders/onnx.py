"""ONNX Runtime encoders: the same vectors as torch, faster on a plain CPU, optionally int8.

``OnnxEncoder`` wraps a loaded torch encoder (open_clip or timm). The first time a model is used
it exports the image tower (and, for CLIP, the text tower with a free sequence length) to ONNX
(``encoders.export``) and caches the files per model under ``cache_root()``; the int8 graphs are
quantised on first use with the scheme this CPU needs (``int8_scheme``). Later runs load the
cache without torch: this module imports only numpy, Pillow and ONNX Runtime, the tokenizer is
``encoders.bpe`` and the image transform is built on the first image (text queries never need it).

int8 is checked before it is trusted: int8 GEMMs on CPUs without VNNI multiply-add pairs into
16-bit sums that can saturate (there the weights get 7 bits, so they cannot: ``encoders.cpu``), and
outlier activations can ruin per-tensor activation scales, so the first time int8 is used for a model, the first ``INT8_SAMPLE`` of the user's own photos are
encoded both ways. When the mean cosine to fp32 is below ``INT8_MIN_COSINE`` or the top-10
neighbour overlap below ``INT8_MIN_OVERLAP``, the model stays on fp32 for good and says so (the
verdict is cached with the model). Until the verdict, fp32 vectors are what gets stored.

The export rewrites open_clip's ViT image tower for ONNX Runtime's fused attention (see
``encoders.export``). ViT-B-32 int8, batch 32, 2 cores with VNNI: 59 -> 68 images/s.

    >>> enc = OnnxEncoder(load_encoder(ModelSpec("ViT-B-32")), precision="int8")
    >>> enc.encode_texts(["a red bicycle"]).shape
    (1, 512)
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ModelLoadError
from .base import Encoder, ModelSpec, l2_normalize
from .device import resolve_device

BACKENDS = ("auto", "torch", "onnx")
PRECISIONS = ("auto", "fp32", "int8")  # auto: int8 once checked on ONNX Runtime, else fp32
EXPORT_VERSION = 4  # bump when the exported graphs change (or their opset), so caches are rebuilt
CACHE_ENV = "PIXSEEK_CACHE"

TORCH_TRANSFORM_MIN = 1000  # new photos in a run from which a cached export's transform imports torch
INT8_SAMPLE = 64  # photos encoded both ways before the verdict
INT8_MIN_SAMPLE = 12  # a run with fewer new photos decides nothing (fp32 is used meanwhile)
INT8_MIN_COSINE = 0.99
INT8_MIN_OVERLAP = 0.9
INT8_TOP_K = 10
# Texts for the text tower's own int8 check (there are no user queries to sample at index time).
CHECK_TEXTS = ("a photo of a dog", "a red bicycle against a brick wall", "sunset over the sea",
               "two children playing football in a park", "a plate of pasta", "snowy mountains",
               "a cat sleeping on a sofa", "a city street at night", "a birthday cake", "an old car")


def onnx_available() -> bool:
    """True when onnxruntime and onnx (needed to export) are installed (found, not imported:
    importing onnx costs a query ~0.2 s it does not need)."""
    import importlib.util

    try:
        return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))
    except (ImportError, ValueError):
        return False


def cpu_threads() -> int:
    """ONNX Runtime's intra-op pool: one thread per core this process may use."""
    from ..tuning import cpu_cores

    return cpu_cores()


def cache_root() -> Path:
    """Where exports are kept: ``$PIXSEEK_CACHE``, else ``<data dir>/onnx``."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser().absolute()
    from ..config import data_dir

    return data_dir() / "onnx"


def choose_backend(backend: str, precision: str, encoder_kind: str | None, device: str,
                   cached: bool) -> str:
    """``torch`` or ``onnx`` for a request. ``auto`` takes ONNX Runtime when it pays and works:
    on a CPU, for open_clip/timm models, when int8 is asked for (only ONNX Runtime has it) or the
    model's export is already cached; otherwise torch (an export costs ~15 s once per model).
    With ``auto``, int8 on a GPU (fp16 there) or for another kind of model quietly means torch."""
    if backend not in BACKENDS:
        raise ModelLoadError(f"unknown backend {backend!r}: use {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise ModelLoadError(f"unknown precision {precision!r}: use {', '.join(PRECISIONS)}")
    if backend == "torch":
        if precision == "int8":
            raise ModelLoadError("--precision int8 runs on ONNX Runtime: use --backend onnx or auto")
        return "torch"
    if precision == "int8" and not onnx_available():
        raise ModelLoadError("--precision int8 runs on ONNX Runtime, which is not installed: "
                             "pip install onnx onnxruntime")
    usable = encoder_kind in ("open_clip", "timm") and device == "cpu" and onnx_available()
    if backend == "onnx" and not usable:
        why = ("pip install onnx onnxruntime" if not onnx_available() else
               "the ONNX back end runs on the CPU: use --device cpu" if device != "cpu" else
               "the ONNX back end takes open_clip and timm models only")
        raise ModelLoadError(f"--backend onnx is not available here: {why}")
    if backend == "auto" and not (usable and (precision == "int8" or cached)):
        return "torch"
    return "onnx"


def onnx_precision(precision: str) -> str:
    """What ONNX Runtime runs for a requested precision: ``auto`` is int8, behind its check."""
    return "fp32" if precision == "fp32" else "int8"


def load_accelerated(load_torch, spec, backend: str, precision: str, encoder_id: str | None = None,
                     until_exported=None) -> Encoder:
    """``load_torch(spec)``, then wrapped in an ``OnnxEncoder`` when ``choose_backend`` says so.
    With ``auto``, an export that fails leaves the torch encoder in place. With ``auto`` for both
    and no export yet, ``until_exported(torch_encoder)`` (``encoders.switching``) wraps it.

    When ``encoder_id`` (what ``load_torch(spec).id`` would be) has a cached export, the torch
    model is not built at all: the export's ``meta.json`` holds the preprocessing and tokenizer
    settings (~1 s and the fp32 weights' memory saved: 600 MB for ViT-B-32)."""
    choose_backend(backend, precision, "open_clip", "cpu", True)  # bad names fail before loading
    if encoder_id is not None:
        light = _from_cached_export(encoder_id, spec, backend, precision)
        if light is not None:
            return light
    enc = load_torch(spec)
    kind, device = encoder_kind(enc), str(getattr(enc, "device", "cpu"))
    if choose_backend(backend, precision, kind, device, kind is not None and is_cached(enc.id)) == "torch":
        if until_exported is not None and backend == precision == "auto" and kind is not None \
                and device == "cpu" and onnx_available():
            return until_exported(enc)  # torch now, ONNX once exported
        return enc
    try:
        return OnnxEncoder(enc, precision=onnx_precision(precision))
    except ModelLoadError:
        if backend == "onnx":
            raise
        return enc


def _from_cached_export(encoder_id: str, spec, backend: str, precision: str) -> Encoder | None:
    """An ``OnnxEncoder`` built from the cached export alone, or None (then the caller loads torch)."""
    try:
        meta = json.loads((cache_dir_for(encoder_id) / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    if not meta.get("parts") or meta.get("export_version") != EXPORT_VERSION:
        return None
    if choose_backend(backend, precision, meta.get("kind"), resolve_device(spec.device), True) != "onnx":
        return None
    try:
        return OnnxEncoder(_ExportedParts(encoder_id, meta, cache_dir_for(encoder_id)), precision=onnx_precision(precision))
    except Exception:  # a tokenizer or transform that cannot be rebuilt: the full load will say why
        return None


def _parts_config(enc: Encoder, kind: str | None) -> dict | None:
    """What ``_ExportedParts`` needs to rebuild ``enc``'s preprocessing and tokenizer."""
    if kind == "open_clip":
        cfg = getattr(getattr(enc.model, "visual", None), "preprocess_cfg", None)
        name = getattr(enc, "tokenizer_name", None)
        if cfg is None or (enc.supports_text and name is None):
            return None
        parts = {"kind": kind, "preprocess_cfg": _jsonable(dict(cfg)), "tokenizer": name}
        if enc.supports_text and _is_plain_clip_tokenizer(enc.tokenizer):
            parts["bpe"] = {"context_length": int(enc.tokenizer.context_length)}
        return parts
    if kind == "timm":
        return {"kind": kind, "data_config": _jsonable(dict(enc.data_config))}
    return None


def _is_plain_clip_tokenizer(tok) -> bool:
    """open_clip's default CLIP tokenizer, which ``encoders.bpe`` reproduces without torch."""
    return (type(tok).__name__ == "SimpleTokenizer" and getattr(tok, "vocab_size", None) == 49408
            and getattr(getattr(tok, "clean_fn", None), "__name__", "") == "_clean_lower"
            and getattr(tok, "reduction_fn", None) is None and bool(getattr(tok, "context_length", None)))


def _clip_vocab_file() -> Path:
    """open_clip's BPE merges file, found without importing open_clip (which imports torch)."""
    import importlib.util

    spec = importlib.util.find_spec("open_clip")
    return Path(spec.origin).parent / "bpe_simple_vocab_16e6.txt.gz"


def _jsonable(cfg: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}


class _ExportedParts(Encoder):
    """The torch encoder minus its weights, for an ``OnnxEncoder`` whose export is cached: the same
    ``id``, ``dim`` and preprocessing (open_clip's ``image_transform_v2`` of the model's recorded
    ``preprocess_cfg``, or timm's ``create_transform`` of its data config) and the same tokenizer.

    Text queries import no torch: CLIP's own tokenizer is ``encoders.bpe`` over the merges file the
    export keeps, and the image transform (torchvision) is built on the first image."""

    def __init__(self, encoder_id: str, meta: dict, folder: Path) -> None:
        self.parts = parts = meta["parts"]
        self.id = encoder_id
        self.dim = int(meta["dim"])
        self.supports_text = bool(meta["supports_text"])
        self.input_size = int(meta["input_size"])
        self._preprocess = None
        self._preprocess_lock = threading.Lock()
        self.torch_transform = False  # True: the torch resize (encoders.pixels), set by expect()
        self.tokenizer = None
        if parts["kind"] == "open_clip" and self.supports_text:
            if parts.get("bpe") and (folder / "bpe_simple_vocab_16e6.txt.gz").is_file():
                from .bpe import BpeTokenizer

                self.tokenizer = BpeTokenizer(folder / "bpe_simple_vocab_16e6.txt.gz", parts["bpe"]["context_length"])
            else:
                import open_clip

                self.tokenizer = open_clip.get_tokenizer(parts["tokenizer"])

    def __repr__(self) -> str:
        return f"_ExportedParts({self.id!r})"

    def preprocess(self, image: Image.Image):
        if self._preprocess is None:
            with self._preprocess_lock:  # decode threads call this at once
                if self._preprocess is None:
                    self._preprocess = self._build_transform()
        return self._preprocess(image)

    def expect(self, photos: int) -> None:
        """A run of ``photos`` new photos: past ``TORCH_TRANSFORM_MIN`` importing torch for its
        faster resize pays (~5 s once against ~6 ms a photo); fewer, and Pillow's resize does it."""
        if photos >= TORCH_TRANSFORM_MIN and self._preprocess is None:
            self.torch_transform = True

    def _build_transform(self):
        import sys

        from .pixels import ModelTransform, PilTransform

        if self.parts["kind"] == "open_clip":
            pil = PilTransform.from_open_clip(self.parts["preprocess_cfg"])
            if pil is not None and not (self.torch_transform or "torch" in sys.modules):
                return pil  # torch-free: image queries and small runs

            from open_clip.transform import PreprocessCfg, image_transform_v2

            return ModelTransform(image_transform_v2(PreprocessCfg(**self.parts["preprocess_cfg"]), is_train=False))
        import timm.data

        return ModelTransform(timm.data.create_transform(**self.parts["data_config"]))

    def encode_pixels(self, batch) -> np.ndarray:
        raise ModelLoadError("this encoder has no weights: its ONNX export encodes")


def export_for_cache(torch_encoder: Encoder, folder: Path) -> None:
    """Export ``torch_encoder`` into ``folder`` (``encoders.export``, which imports torch), with
    what a later torch-free load needs: the preprocessing and tokenizer settings, and CLIP's
    merges file when its tokenizer is the plain one."""
    from .export import export_model

    kind = encoder_kind(torch_encoder)
    parts = _parts_config(torch_encoder, kind)
    files = {"bpe_simple_vocab_16e6.txt.gz": _clip_vocab_file()} if parts and parts.get("bpe") else {}
    export_model(torch_encoder, folder, kind, {"id": torch_encoder.id, "kind": kind, "parts": parts,
                                               "export_version": EXPORT_VERSION}, files, _quantize_towers)


def _quantize_towers(folder: Path, scheme: str | None = None) -> None:
    """Both towers' int8 graphs for this CPU's scheme, made with the export (a text query must not
    wait seconds for its tower to be quantised)."""
    scheme = scheme or int8_scheme()
    for tower in ("image", "text"):
        src = folder / f"{tower}.fp32.onnx"
        if src.is_file():
            quantize_scheme(src, folder / f"{tower}.int8-{scheme}.onnx", scheme)


def encoder_kind(encoder: Encoder) -> str | None:
    """``open_clip``, ``timm``, or None for encoders that cannot be exported."""
    name = type(encoder).__name__
    return {"OpenClipEncoder": "open_clip", "TimmEncoder": "timm"}.get(name)


# -- the cache ---------------------------------------------------------------------------------------
def model_fingerprint(encoder_id: str) -> str:
    """Identity of the weights: the encoder id plus size and mtime of local weight files, so a
    changed checkpoint is exported again."""
    spec = ModelSpec.parse(encoder_id)
    name, pretrained = spec.model, spec.pretrained
    parts = [encoder_id, f"export-{EXPORT_VERSION}"]
    paths: list[Path] = []
    if name.startswith("local-dir:"):
        folder = Path(name[len("local-dir:"):]).expanduser()
        paths += sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
    if pretrained and os.path.isfile(os.path.expanduser(pretrained)):
        paths.append(Path(pretrained).expanduser())
    for p in paths:
        st = p.stat()
        parts.append(f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def cache_dir_for(encoder_id: str, root: Path | None = None) -> Path:
    """The folder holding one model's exports (``image.fp32.onnx``, ``image.int8-u8s8.onnx``, ...)."""
    name = ModelSpec.parse(encoder_id).model
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in name.split("/")[-1])[-40:]
    return (root or cache_root()) / f"{slug}-{model_fingerprint(encoder_id)}"


def is_cached(encoder_id: str, root: Path | None = None) -> bool:
    return (cache_dir_for(encoder_id, root) / "meta.json").is_file()


@dataclass
class Int8Verdict:
    """The outcome of comparing int8 with fp32 on a sample of the user's photos."""

    passed: bool
    cosine: float  # mean cosine between int8 and fp32 vectors of the same photo
    min_cosine: float
    overlap: float  # mean overlap of each photo's top-10 neighbours (int8 vs fp32)
    sample: int
    text_cosine: float | None = None

    def describe(self) -> str:
        text = "" if self.text_cosine is None else f", text cosine {self.text_cosine:.4f}"
        return (f"cosine {self.cosine:.4f} (min {self.min_cosine:.4f}), top-{INT8_TOP_K} overlap "
                f"{self.overlap:.3f} on {self.sample} of your photos{text}")


def int8_agreement(ref: np.ndarray, got: np.ndarray, k: int = INT8_TOP_K) -> tuple[float, float, float]:
    """(mean cosine, min cosine, mean top-k overlap) of ``got`` against ``ref`` (rows = the same
    photos, L2-normalised). The overlap compares each photo's k nearest other photos."""
    ref, got = l2_normalize(ref), l2_normalize(got)
    cos = np.sum(ref * got, axis=1)
    n = len(ref)
    k = min(k, n - 1)
    if k < 1:
        return float(cos.mean()), float(cos.min()), 1.0
    overlaps = []
    for sims_ref, sims_got, i in zip(ref @ ref.T, got @ got.T, range(n)):
        sims_ref[i] = sims_got[i] = -np.inf  # a photo is not its own neighbour
        a = set(np.argpartition(-sims_ref, k)[:k].tolist())
        b = set(np.argpartition(-sims_got, k)[:k].tolist())
        overlaps.append(len(a & b) / k)
    return float(cos.mean()), float(cos.min()), float(np.mean(overlaps))


# -- int8 schemes ----------------------------------------------------------------------------------
# Dynamic int8 schemes (activations u8, quantised per batch; weights per output channel):
# - u8s8: s8 weights, the most accurate where int8 products add into 32 bits (VNNI);
# - u8s8-7bit: ``reduce_range``, weights in [-64, 63]: 2 x 255 x 64 < 32,767, so the pair sums of
#   AVX2's vpmaddubsw cannot saturate (ONNX Runtime's own remedy for CPUs without VNNI);
# - u8u8: u8 weights, which MLAS multiplies in 16-bit lanes (vpmaddwd) on any x86: exact, slower.
INT8_SCHEMES = ("u8s8", "u8s8-7bit", "u8u8")


def int8_scheme(flags=None) -> str:
    """The dynamic int8 scheme for this CPU (``flags``: injected by tests): plain u8s8 where VNNI
    (or a non-x86 CPU) makes int8 sums exact; 7-bit weights elsewhere (see ``encoders.cpu``)."""
    from .cpu import has_int8_dot_product, is_x86

    if flags is None and not is_x86():
        return "u8s8"
    return "u8s8" if has_int8_dot_product(flags) else "u8s8-7bit"


def quantize_scheme(src: Path, dst: Path, scheme: str) -> None:
    """Write ``src`` quantised with dynamic int8 ``scheme`` to ``dst`` (atomically)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    if scheme not in INT8_SCHEMES:
        raise ValueError(f"unknown int8 scheme {scheme!r}: use {', '.join(INT8_SCHEMES)}")
    weight = QuantType.QUInt8 if scheme == "u8u8" else QuantType.QInt8
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    # ORT logs a pre-processing hint on the root logger at every call (it does not apply to
    # dynamic int8): quiet it for this call only
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        # MatMul/Gemm only: the transformer's GEMMs (and the patch embedding, exported as a matmul)
        quantize_dynamic(str(src), str(tmp), weight_type=weight, per_channel=True,
                         reduce_range=scheme == "u8s8-7bit", op_types_to_quantize=["MatMul", "Gemm"])
        os.replace(tmp, dst)
    finally:
        root.setLevel(level)
        tmp.unlink(missing_ok=True)


# -- the encoder ---------------------------------------------------------------------------------------
class OnnxEncoder(Encoder):
    """``torch_encoder``'s model run by ONNX Runtime: same ``id``, ``dim``, preprocessing and
    tokenizer; ``precision`` ``fp32`` or ``int8`` (checked first, see the module notes).

    ``threads`` (default: the cores available) is the intra-op pool; spinning is off so that
    decode threads sharing the cores are not starved by idle workers busy-waiting.
    """

    def __init__(self, torch_encoder: Encoder, *, precision: str = "fp32", threads: int | None = None,
                 cache: Path | None = None, scheme: str | None = None) -> None:
        if precision not in PRECISIONS:
            raise ModelLoadError(f"unknown precision {precision!r}: use {', '.join(PRECISIONS)}")
        precision = onnx_precision(precision)
        self.base = torch_encoder
        self.id = torch_encoder.id
        self.dim = torch_encoder.dim
        self.supports_text = torch_encoder.supports_text
        self.input_size = torch_encoder.input_size
        self.precision = precision
        self.scheme = scheme or int8_scheme()  # the int8 quantisation this CPU needs
        self.threads = threads or cpu_threads()
        self.folder = cache_dir_for(self.id, cache)
        if not (self.folder / "meta.json").is_file():
            export_for_cache(torch_encoder, self.folder)
        self.meta = json.loads((self.folder / "meta.json").read_text())
        self.causal = bool(self.meta.get("causal"))
        self.notes: list[str] = []
        self._sessions: dict[str, object] = {}
        self._lock = threading.Lock()
        self._verdict = self._read_verdict()
        self._sample_ref: list[np.ndarray] = []
        self._sample_int8: list[np.ndarray] = []
        if precision == "int8" and self._verdict is not None and not self._verdict.passed:
            self.notes.append(f"int8 was measured against fp32 for this model and failed "
                              f"({self._verdict.describe()}): using fp32")

    def __repr__(self) -> str:
        return f"OnnxEncoder({self.id!r}, precision={self.precision!r}, threads={self.threads})"

    # -- Encoder ---------------------------------------------------------------------------------------
    def preprocess(self, image: Image.Image):
        return self.base.preprocess(image)

    @property
    def active_precision(self) -> str:
        """What encodes right now: ``int8`` only once it passed its check."""
        ok = self.precision == "int8" and self._verdict is not None and self._verdict.passed
        return "int8" if ok else "fp32"

    def encode_pixels(self, batch) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(batch, dtype=np.float32))
        if x.ndim == 3:
            x = x[None]
        if len(x) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.precision == "int8" and self._verdict is None:
            ref = self._run("image.fp32", "pixels", x)
            self._observe(ref, self._run(self._part("image", "int8"), "pixels", x))
            return l2_normalize(ref)
        return l2_normalize(self._run(self._part("image", self.active_precision), "pixels", x))

    def expect(self, photos: int) -> None:
        """The run ahead has ``photos`` new photos (a cached export's transform decides on it)."""
        inner = getattr(self.base, "expect", None)
        if inner is not None:
            inner(photos)

    def warm_up(self) -> None:
        """Create the image sessions the next batch needs (~0.2 s each for ViT-B-32)."""
        parts = ["image.fp32", self._part("image", "int8")] if self.precision == "int8" and self._verdict is None \
            else [self._part("image", self.active_precision)]
        for part in parts:
            self._session(part)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not self.supports_text:
            return self.base.encode_texts(texts)  # raises the image-only message
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokens = self._tokens(texts)
        return l2_normalize(self._run(self._part("text", self.active_precision), "tokens", tokens))

    def _tokens(self, texts: Sequence[str]) -> np.ndarray:
        """The tokenizer's ids (int64), cut after the last real token when the tower is causal
        (``encoders.towers.cut_tokens``, in numpy)."""
        tokens = self.base.tokenizer(list(texts))
        tokens = np.asarray(tokens.numpy() if hasattr(tokens, "numpy") else tokens, dtype=np.int64)
        if self.causal and tokens.ndim == 2 and tokens.shape[1]:
            used = np.flatnonzero((tokens != 0).any(axis=0))
            tokens = tokens[:, :int(used.max()) + 1 if used.size else 1]
        return np.ascontiguousarray(tokens)

    # -- int8 check ------------------------------------------------------------------------------------
    def drain_notes(self) -> list[str]:
        """Settle a pending int8 check on what was seen (if enough), and hand over the notes."""
        if self.precision == "int8" and self._verdict is None \
                and sum(len(a) for a in self._sample_ref) >= INT8_MIN_SAMPLE:
            self._decide()
        notes, self.notes = self.notes, []
        return notes

    def _observe(self, ref: np.ndarray, q: np.ndarray) -> None:
        self._sample_ref.append(ref)
        self._sample_int8.append(q)
        if sum(len(a) for a in self._sample_ref) >= INT8_SAMPLE:
            self._decide()

    def _decide(self) -> None:
        ref, q = np.concatenate(self._sample_ref), np.concatenate(self._sample_int8)
        self._sample_ref, self._sample_int8 = [], []
        cos, min_cos, overlap = int8_agreement(ref, q)
        text_cos = self._text_cosine() if self.supports_text else None
        passed = cos >= INT8_MIN_COSINE and overlap >= INT8_MIN_OVERLAP \
            and (text_cos is None or text_cos >= INT8_MIN_COSINE)
        verdict = Int8Verdict(passed, cos, min_cos, overlap, len(ref), text_cos)
        self._verdict = verdict
        self._write_verdict(verdict)
        if passed:
            self.notes.append(f"int8 checked against fp32: {verdict.describe()}: using int8")
        else:
            self.notes.append(f"int8 is too far from fp32 for this model ({verdict.describe()}; needs "
                              f"cosine >= {INT8_MIN_COSINE} and overlap >= {INT8_MIN_OVERLAP}): "
                              "falling back to fp32")

    def _text_cosine(self) -> float:
        tokens = self._tokens(CHECK_TEXTS)
        ref = l2_normalize(self._run("text.fp32", "tokens", tokens))
        q = l2_normalize(self._run(self._part("text", "int8"), "tokens", tokens))
        return float(np.sum(ref * q, axis=1).mean())

    @property
    def verdict_path(self) -> Path:
        """Where the int8 check's verdict is kept: per quantisation scheme, so a cache shared by
        CPUs of both kinds (a synced home folder) keeps one verdict for each."""
        return self.folder / f"int8-check-{self.scheme}.json"

    def _read_verdict(self) -> Int8Verdict | None:
        path = self.verdict_path
        try:
            return Int8Verdict(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _write_verdict(self, verdict: Int8Verdict) -> None:
        path = self.verdict_path
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(asdict(verdict)))
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache only means checking again next time

    # -- sessions --------------------------------------------------------------------------------------
    def _run(self, part: str, name: str, x: np.ndarray) -> np.ndarray:
        return self._session(part).run(None, {name: x})[0]

    def _part(self, tower: str, precision: str) -> str:
        """The graph's file stem: ``image.fp32``, ``text.int8-u8s8-7bit``, ..."""
        return f"{tower}.fp32" if precision == "fp32" else f"{tower}.int8-{self.scheme}"

    def _session(self, part: str):
        with self._lock:
            sess = self._sessions.get(part)
            if sess is None:
                path = self.folder / f"{part}.onnx"
                if not path.is_file() and ".int8-" in part:  # quantised on first use, per scheme
                    tower, scheme = part.split(".int8-")
                    quantize_scheme(self.folder / f"{tower}.fp32.onnx", path, scheme)
                sess = self._sessions[part] = _make_session(path, self.threads)
            return sess


def _make_session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # idle pool threads sleep instead of spinning: decode threads need those cores
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelLoadError(f"cannot load the ONNX export {path} ({type(exc).__name__}): delete the "
                             f"folder {path.parent} to export again") from exc
