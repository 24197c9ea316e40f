"""The two halves of an open_clip model as plain modules, shared by the torch and ONNX back ends.

``TextTower`` runs a *causal* text transformer on only the tokens a query uses. A CLIP text
tower pools the feature of the end-of-text token, and under a causal mask no position sees a later
one, so dropping the padding after the last real token changes nothing (the same floats, not an
approximation) while the work falls from 77 positions to ~8 for a short query. Towers that attend
both ways, append a class token or pool the last position are run at full length.

    >>> tower = TextTower(model)              # model: an open_clip CLIP
    >>> tower(cut_tokens(tokenizer(["a cat"]), tower.causal))
"""

from __future__ import annotations

import torch
from torch import nn


class ImageTower(nn.Module):
    """``pixels (N, 3, H, W) -> features (N, dim)``, not normalised; ``encode`` is the model's own
    image path (``encode_image`` for open_clip, pooled pre-logits for timm)."""

    def __init__(self, model: nn.Module, kind: str) -> None:
        super().__init__()
        self.model = model
        self.kind = kind

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.kind == "timm":
            return self.model.forward_head(self.model.forward_features(pixels), pre_logits=True)
        return self.model.encode_image(pixels)


class TextTower(nn.Module):
    """``tokens (N, L) -> features (N, dim)`` for any ``L`` up to the context length when the tower
    is causal (``self.causal``); otherwise ``L`` must be the full context length."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        # open_clip's CLIP keeps the text parts on the model; CustomTextCLIP has them in model.text
        text = model.text if hasattr(model, "text") and hasattr(model.text, "transformer") else model
        self.text = text
        self.model = model
        self.pool_type = getattr(text, "pool_type", None) or getattr(model, "text_pool_type", "argmax")
        self.eos_id = getattr(text, "eos_id", None) or getattr(model, "text_eos_id", None)
        self.causal = (
            getattr(text, "attn_mask", None) is not None
            and getattr(text, "cls_emb", None) is None
            and not getattr(text, "use_pad_mask", False)
            and self.pool_type in ("argmax", "eos")
            and hasattr(text, "token_embedding")
            and hasattr(text, "positional_embedding")
            and all(_plain_block(b) for b in getattr(getattr(text, "transformer", None), "resblocks", [None]))
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if not self.causal:
            return self.model.encode_text(tokens)
        from open_clip.transformer import text_global_pool

        t = self.text
        # positions 0..L-1 as a tensor, not a Python int: an ONNX export then keeps L free
        pos = torch.cumsum(torch.ones_like(tokens[0]), 0) - 1
        cast = t.transformer.get_cast_dtype()
        x = t.token_embedding(tokens).to(cast) + t.positional_embedding[pos].to(cast)
        mask = t.attn_mask[pos][:, pos].to(cast)
        for block in t.transformer.resblocks:
            x = x + block.ls_1(_attention(block.attn, block.ln_1(x), mask))
            x = x + block.ls_2(block.mlp(block.ln_2(x)))
        x = t.ln_final(x)
        x = text_global_pool(x, tokens, self.pool_type, eos_token_id=self.eos_id)
        proj = t.text_projection
        if proj is None:
            return x
        return proj(x) if isinstance(proj, nn.Linear) else x @ proj


def _plain_block(block) -> bool:
    """An open_clip ResidualAttentionBlock with torch's MultiheadAttention (what ``_attention``
    reproduces); other block kinds run through the model's own, full-length path."""
    return (type(block).__name__ == "ResidualAttentionBlock" and isinstance(block.attn, nn.MultiheadAttention)
            and block.attn.batch_first and block.attn.in_proj_weight is not None
            and not hasattr(block, "ln_1_kv") and getattr(block.attn, "bias_k", None) is None)


def _attention(attn: nn.MultiheadAttention, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``attn(x, x, x, attn_mask=mask)`` written out with no Python-int sequence length, so that
    an ONNX export keeps the length free (torch's own MHA bakes the traced length into reshapes)."""
    batch, width, heads = x.shape[0], x.shape[-1], attn.num_heads
    qkv = nn.functional.linear(x, attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = qkv.reshape(batch, -1, 3, heads, width // heads).permute(2, 0, 3, 1, 4).unbind(0)
    scores = (q * (width // heads) ** -0.5) @ k.transpose(-2, -1) + mask
    out = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, -1, width)
    return attn.out_proj(out)


def cut_tokens(tokens: torch.Tensor, causal: bool) -> torch.Tensor:
    """``tokens`` without the padding columns after the last real token of any row (padding is
    id 0); unchanged when the tower is not causal."""
    if not causal or tokens.ndim != 2 or tokens.shape[1] == 0:
        return tokens
    used = (tokens != 0).any(dim=0).nonzero()
    last = int(used.max()) + 1 if used.numel() else 1
    return tokens[:, :last]


def to_device(batch: torch.Tensor, device: str) -> torch.Tensor:
    """``batch`` on ``device``; to a GPU through pinned memory, without blocking the caller, so
    the copy overlaps the previous batch's work."""
    if not str(device).startswith("cuda"):
        return batch.to(device)
    return batch.pin_memory().to(device, non_blocking=True)


def gpu_autocast(device: str):
    """fp16 autocast on a GPU (twice the throughput, vectors within ~1e-3 of fp32); a no-op context
    elsewhere (bf16 on CPUs without AMX is several times slower than fp32)."""
    import contextlib

    if str(device).startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()
