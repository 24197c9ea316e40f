"""ONNX Runtime encoders: the same vectors as torch, faster on a plain CPU, optionally int8.

``OnnxEncoder`` wraps a loaded torch encoder (open_clip or timm). The first time a model is used
it exports the image tower (and, for CLIP, the text tower with a free sequence length) to ONNX,
quantises both with dynamic int8, and caches the files per model under ``cache_root()``; later
runs load the cache in about a second.

int8 is checked before it is trusted: int8 GEMMs on CPUs without VNNI multiply-add pairs into
16-bit sums that can saturate, and outlier activations can ruin per-tensor activation scales, so
the first time int8 is used for a model, the first ``INT8_SAMPLE`` of the user's own photos are
encoded both ways. When the mean cosine to fp32 is below ``INT8_MIN_COSINE`` or the top-10
neighbour overlap below ``INT8_MIN_OVERLAP``, the model stays on fp32 for good and says so (the
verdict is cached with the model). Until the verdict, fp32 vectors are what gets stored.

The exported open_clip ViT image tower is rewritten for ONNX Runtime's CPU kernels (the torch
model is untouched, and the fp32 export gives the same vectors): each block's attention becomes
one ``com.microsoft.MultiHeadAttention`` node instead of ~20 reshapes, transposes and matmuls, and
the patch embedding (a convolution whose stride equals its kernel) becomes a matmul over the
flattened patches, so that int8 quantises it like the other GEMMs. ViT-B-32 int8, batch 32, 2
cores: 59 -> 68 images/s; the GEMMs are then 77% of the time, at about the VNNI int8 peak.

    >>> enc = OnnxEncoder(load_encoder(ModelSpec("ViT-B-32")), precision="int8")
    >>> enc.encode_texts(["a red bicycle"]).shape
    (1, 512)
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..errors import ModelLoadError
from .base import Encoder, ModelSpec, l2_normalize
from .device import resolve_device
from .towers import _plain_block

BACKENDS = ("auto", "torch", "onnx")
PRECISIONS = ("fp32", "int8")
EXPORT_VERSION = 3  # bump when the exported graphs change, so caches are rebuilt
OPSET = 17
CACHE_ENV = "PIXSEEK_CACHE"

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
    """True when onnxruntime and onnx (needed to export) can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except Exception:
        return False
    return True


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
                             "pip install 'pixseek[onnx]' (or onnx onnxruntime)")
    usable = encoder_kind in ("open_clip", "timm") and device == "cpu" and onnx_available()
    if backend == "onnx" and not usable:
        why = ("pip install 'pixseek[onnx]' (or onnx onnxruntime)" if not onnx_available() else
               "the ONNX back end runs on the CPU: use --device cpu" if device != "cpu" else
               "the ONNX back end takes open_clip and timm models only")
        raise ModelLoadError(f"--backend onnx is not available here: {why}")
    if backend == "auto" and not (usable and (precision == "int8" or cached)):
        return "torch"
    return "onnx"


def load_accelerated(load_torch, spec, backend: str, precision: str, encoder_id: str | None = None) -> Encoder:
    """``load_torch(spec)``, then wrapped in an ``OnnxEncoder`` when ``choose_backend`` says so.
    With ``auto``, an export that fails leaves the torch encoder in place.

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
        return enc
    try:
        return OnnxEncoder(enc, precision=precision)
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
        return OnnxEncoder(_ExportedParts(encoder_id, meta), precision=precision)
    except Exception:  # a tokenizer or transform that cannot be rebuilt: the full load will say why
        return None


def _parts_config(enc: Encoder, kind: str | None) -> dict | None:
    """What ``_ExportedParts`` needs to rebuild ``enc``'s preprocessing and tokenizer."""
    if kind == "open_clip":
        cfg = getattr(getattr(enc.model, "visual", None), "preprocess_cfg", None)
        name = getattr(enc, "tokenizer_name", None)
        if cfg is None or (enc.supports_text and name is None):
            return None
        return {"kind": kind, "preprocess_cfg": _jsonable(dict(cfg)), "tokenizer": name}
    if kind == "timm":
        return {"kind": kind, "data_config": _jsonable(dict(enc.data_config))}
    return None


def _jsonable(cfg: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}


class _ExportedParts(Encoder):
    """The torch encoder minus its weights, for an ``OnnxEncoder`` whose export is cached: the same
    ``id``, ``dim`` and preprocessing (open_clip's ``image_transform_v2`` of the model's recorded
    ``preprocess_cfg``, or timm's ``create_transform`` of its data config) and the same tokenizer."""

    def __init__(self, encoder_id: str, meta: dict) -> None:
        parts = meta["parts"]
        self.id = encoder_id
        self.dim = int(meta["dim"])
        self.supports_text = bool(meta["supports_text"])
        self.input_size = int(meta["input_size"])
        if parts["kind"] == "open_clip":
            import open_clip
            from open_clip.transform import PreprocessCfg, image_transform_v2

            transform = image_transform_v2(PreprocessCfg(**parts["preprocess_cfg"]), is_train=False)
            self.tokenizer = open_clip.get_tokenizer(parts["tokenizer"]) if self.supports_text else None
        else:
            import timm.data

            transform = timm.data.create_transform(**parts["data_config"])
        from .pixels import ModelTransform

        self._preprocess = ModelTransform(transform)

    def __repr__(self) -> str:
        return f"_ExportedParts({self.id!r})"

    def preprocess(self, image: Image.Image):
        return self._preprocess(image)

    def encode_pixels(self, batch) -> np.ndarray:
        raise ModelLoadError("this encoder has no weights: its ONNX export encodes")


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
    parts = [encoder_id, f"export-{EXPORT_VERSION}", f"opset-{OPSET}"]
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
    """The folder holding one model's exports (``image.fp32.onnx``, ``image.int8.onnx``, ...)."""
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


# -- export --------------------------------------------------------------------------------------------
def export_model(torch_encoder: Encoder, folder: Path) -> None:
    """Write ``folder`` with the fp32 and int8 towers and ``meta.json``, atomically (a temp folder
    renamed into place: a crash leaves no half-written cache, and concurrent exports are harmless)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        meta = _export_into(torch_encoder, tmp)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / "meta.json").is_file():  # not a concurrent winner: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _export_into(enc: Encoder, tmp: Path) -> dict:
    import torch

    from .towers import ImageTower, TextTower, cut_tokens

    kind = encoder_kind(enc)
    model = enc.model.float().eval()
    size = int(getattr(enc, "image_size", 0) or _crop_size(enc))
    pixels = torch.zeros(2, 3, size, size)
    meta = {"id": enc.id, "dim": enc.dim, "kind": kind, "image_size": size, "causal": False,
            "context_length": None, "export_version": EXPORT_VERSION}
    # grad stays on: under no_grad, nn.MultiheadAttention takes a fused fast path ONNX cannot express
    with torch.inference_mode(False), torch.enable_grad():
        with _ort_friendly_visual(model, kind):
            _export(ImageTower(model, kind), pixels, tmp / "image.fp32.onnx", "pixels")
        if enc.supports_text:
            tower = TextTower(model)
            ctx = int(getattr(model, "context_length", 77))
            # a cut example: at full length the slices would fold away and fix the length at 77
            tokens = cut_tokens(enc.tokenizer(["a photo of a cat", "a dog"]), tower.causal)
            _export(tower, tokens, tmp / "text.fp32.onnx", "tokens")
            meta.update(causal=bool(tower.causal), context_length=ctx)
    meta.update(supports_text=bool(enc.supports_text), input_size=int(enc.input_size), parts=_parts_config(enc, kind))
    for part in ("image", "text"):
        src = tmp / f"{part}.fp32.onnx"
        if src.exists():
            _quantize(src, tmp / f"{part}.int8.onnx")
    return meta


@contextmanager
def _ort_friendly_visual(model, kind: str | None):
    """While exporting, ``model.visual`` is a copy with ORT's fused attention and the patch
    embedding as a matmul (see the module notes); the model is restored afterwards."""
    visual = getattr(model, "visual", None) if kind == "open_clip" else None
    blocks = list(getattr(getattr(visual, "transformer", None), "resblocks", None) or [])
    if visual is None or not blocks:
        yield
        return
    fused = copy.deepcopy(visual)
    for block in fused.transformer.resblocks:
        if _plain_block(block):
            block.attn = _FusedSelfAttention(block.attn)
    conv = getattr(fused, "conv1", None)
    if isinstance(conv, nn.Conv2d) and _PatchMatMul.fits(conv):
        fused.conv1 = _PatchMatMul(conv)
    model.visual = fused
    try:
        yield
    finally:
        model.visual = visual


class _OrtMultiHeadAttention(torch.autograd.Function):
    """Scaled dot-product attention of ``(N, L, width)`` q, k, v with ``heads`` heads; exported
    as one ``com.microsoft.MultiHeadAttention`` node (ONNX Runtime's CPU kernel)."""

    @staticmethod
    def forward(ctx, q, k, v, heads: int):
        batch, length, width = q.shape

        def split(t):
            return t.reshape(batch, -1, heads, width // heads).transpose(1, 2)

        out = nn.functional.scaled_dot_product_attention(split(q), split(k), split(v))
        return out.transpose(1, 2).reshape(batch, length, width)

    @staticmethod
    def symbolic(g, q, k, v, heads: int):
        out = g.op("com.microsoft::MultiHeadAttention", q, k, v, num_heads_i=heads)
        out.setType(q.type())
        return out


class _FusedSelfAttention(nn.Module):
    """Drop-in for a batch-first ``nn.MultiheadAttention`` used as self-attention without a mask
    (open_clip's image blocks); any other call runs the original module."""

    def __init__(self, attn: nn.MultiheadAttention) -> None:
        super().__init__()
        self.attn = attn

    def forward(self, query, key, value, need_weights: bool = False, attn_mask=None, **kwargs):
        a = self.attn
        if attn_mask is not None or need_weights or kwargs or key is not query or value is not query:
            return a(query, key, value, need_weights=need_weights, attn_mask=attn_mask, **kwargs)
        q, k, v = nn.functional.linear(query, a.in_proj_weight, a.in_proj_bias).chunk(3, dim=-1)
        return a.out_proj(_OrtMultiHeadAttention.apply(q, k, v, a.num_heads)), None


class _PatchMatMul(nn.Module):
    """A convolution with stride == kernel and no padding, as (flattened patches) @ weight."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.patch = conv.kernel_size
        self.out_channels = conv.out_channels
        self.weight = nn.Parameter(conv.weight.detach().reshape(conv.out_channels, -1).clone())
        self.bias = conv.bias

    @staticmethod
    def fits(conv: nn.Conv2d) -> bool:
        return (conv.stride == conv.kernel_size and conv.padding in (0, (0, 0)) and conv.groups == 1
                and conv.dilation == (1, 1) and conv.padding_mode == "zeros")

    def forward(self, x):
        (ph, pw), (n, c, h, w) = self.patch, x.shape
        gh, gw = h // ph, w // pw
        x = x[:, :, :gh * ph, :gw * pw]  # as the convolution, a partial last patch is dropped
        x = x.reshape(n, c, gh, ph, gw, pw).permute(0, 2, 4, 1, 3, 5).reshape(n, gh * gw, c * ph * pw)
        y = nn.functional.linear(x, self.weight, self.bias)
        return y.transpose(1, 2).reshape(n, self.out_channels, gh, gw)


def _export(module, example, path: Path, input_name: str) -> None:
    import torch

    axes = {input_name: {0: "batch"}, "features": {0: "batch"}}
    if input_name == "tokens":
        axes[input_name][1] = "length"
    try:
        with warnings.catch_warnings():  # tracer warnings about Python-side checks: not for users
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), str(path), input_names=[input_name],
                              output_names=["features"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    except Exception as exc:  # exporter gaps differ per architecture: say which and fall back
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelLoadError(f"could not export the model to ONNX ({first}): use --backend torch") from exc


def _quantize(src: Path, dst: Path) -> None:
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # ORT logs a pre-processing hint on the root logger at every call (it does not apply to
    # dynamic int8): quiet it for this call only
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        # s8 weights per output channel, the most accurate dynamic scheme; MatMul/Gemm only: the
        # transformer's GEMMs (65% of the int8 image tower's time); its one conv, the patch
        # embedding (7.5%), stays fp32
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Gemm"])
    finally:
        root.setLevel(level)


def _crop_size(enc: Encoder) -> int:
    cfg = getattr(enc, "data_config", None)
    if cfg:
        return int(cfg["input_size"][-1])
    size = getattr(getattr(enc.model, "visual", None), "image_size", 224)
    return int(size[0] if isinstance(size, (tuple, list)) else size)


# -- the encoder ---------------------------------------------------------------------------------------
class OnnxEncoder(Encoder):
    """``torch_encoder``'s model run by ONNX Runtime: same ``id``, ``dim``, preprocessing and
    tokenizer; ``precision`` ``fp32`` or ``int8`` (checked first, see the module notes).

    ``threads`` (default: the cores available) is the intra-op pool; spinning is off so that
    decode threads sharing the cores are not starved by idle workers busy-waiting.
    """

    def __init__(self, torch_encoder: Encoder, *, precision: str = "fp32", threads: int | None = None,
                 cache: Path | None = None) -> None:
        if precision not in PRECISIONS:
            raise ModelLoadError(f"unknown precision {precision!r}: use {', '.join(PRECISIONS)}")
        self.base = torch_encoder
        self.id = torch_encoder.id
        self.dim = torch_encoder.dim
        self.supports_text = torch_encoder.supports_text
        self.input_size = torch_encoder.input_size
        self.precision = precision
        self.threads = threads or cpu_threads()
        self.folder = cache_dir_for(self.id, cache)
        if not (self.folder / "meta.json").is_file():
            export_model(torch_encoder, self.folder)
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
            self._observe(ref, self._run("image.int8", "pixels", x))
            return l2_normalize(ref)
        return l2_normalize(self._run(f"image.{self.active_precision}", "pixels", x))

    def warm_up(self) -> None:
        """Create the image sessions the next batch needs (~0.2 s each for ViT-B-32)."""
        parts = ["image.fp32", "image.int8"] if self.precision == "int8" and self._verdict is None \
            else [f"image.{self.active_precision}"]
        for part in parts:
            self._session(part)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not self.supports_text:
            return self.base.encode_texts(texts)  # raises the image-only message
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        from .towers import cut_tokens

        tokens = cut_tokens(self.base.tokenizer(list(texts)), self.causal).numpy().astype(np.int64)
        return l2_normalize(self._run(f"text.{self.active_precision}", "tokens", tokens))

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
        from .towers import cut_tokens

        tokens = cut_tokens(self.base.tokenizer(list(CHECK_TEXTS)), self.causal).numpy().astype(np.int64)
        ref = l2_normalize(self._run("text.fp32", "tokens", tokens))
        q = l2_normalize(self._run("text.int8", "tokens", tokens))
        return float(np.sum(ref * q, axis=1).mean())

    def _read_verdict(self) -> Int8Verdict | None:
        path = self.folder / "int8-check.json"
        try:
            return Int8Verdict(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _write_verdict(self, verdict: Int8Verdict) -> None:
        path = self.folder / "int8-check.json"
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(asdict(verdict)))
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache only means checking again next time

    # -- sessions --------------------------------------------------------------------------------------
    def _run(self, part: str, name: str, x: np.ndarray) -> np.ndarray:
        return self._session(part).run(None, {name: x})[0]

    def _session(self, part: str):
        with self._lock:
            sess = self._sessions.get(part)
            if sess is None:
                sess = self._sessions[part] = _make_session(self.folder / f"{part}.onnx", self.threads)
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
