"""Exporting a torch encoder (open_clip or timm) to ONNX: the towers, rewritten for ONNX Runtime.

Only the first use of a model on the ONNX back end imports this (and torch); a cached export is
loaded by ``encoders.onnx`` without it.

The exported open_clip ViT image tower is rewritten for ONNX Runtime's CPU kernels (the torch
model is untouched, and the fp32 export gives the same vectors): each block's attention becomes
one ``com.microsoft.MultiHeadAttention`` node instead of ~20 reshapes, transposes and matmuls, and
the patch embedding (a convolution whose stride equals its kernel) becomes a matmul over the
flattened patches, so that int8 quantises it like the other GEMMs.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelLoadError
from .base import Encoder
from .towers import _plain_block

OPSET = 17


def export_model(torch_encoder: Encoder, folder: Path, kind: str | None, meta: dict,
                 files: dict[str, Path] | None = None, finish=None) -> None:
    """Write ``folder`` with the fp32 towers, copies of ``files`` (name -> source) and ``meta.json``
    (``meta`` plus what the export learns), atomically (a temp folder renamed into place: a crash
    leaves no half-written cache, and concurrent exports are harmless). ``finish(tmp_folder)``
    runs before the rename (the int8 graphs for this CPU)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        meta = {**meta, **_export_into(torch_encoder, kind, tmp)}
        for name, src in (files or {}).items():
            shutil.copyfile(src, tmp / name)
        if finish is not None:
            finish(tmp)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / "meta.json").is_file():  # not a concurrent winner: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _export_into(enc: Encoder, kind: str | None, tmp: Path) -> dict:
    from .towers import ImageTower, TextTower, cut_tokens

    model = enc.model.float().eval()
    size = int(getattr(enc, "image_size", 0) or _crop_size(enc))
    pixels = torch.zeros(2, 3, size, size)
    meta = {"id": enc.id, "dim": enc.dim, "kind": kind, "image_size": size, "causal": False,
            "context_length": None, "opset": OPSET}
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
    meta.update(supports_text=bool(enc.supports_text), input_size=int(enc.input_size))
    return meta  # the int8 graphs are quantised on first use, with this CPU's scheme


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


def _crop_size(enc: Encoder) -> int:
    cfg = getattr(enc, "data_config", None)
    if cfg:
        return int(cfg["input_size"][-1])
    size = getattr(getattr(enc.model, "visual", None), "image_size", 224)
    return int(size[0] if isinstance(size, (tuple, list)) else size)
