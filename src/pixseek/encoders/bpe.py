"""CLIP's byte-pair tokenizer without torch: open_clip's ``SimpleTokenizer``, returning numpy.

open_clip's tokenizer module imports torch (its output is a ``LongTensor``), and importing
open_clip imports torch and timm: ~5 s of a cold text query. A cached ONNX export needs only the
token ids, so this is the same algorithm (OpenAI's CLIP tokenizer: ftfy + HTML unescape, lower
case, CLIP's regex, byte-level BPE over the same merges file, start/end tokens, truncation that
keeps the end token) with numpy out. ``tests/test_onnx.py`` checks it gives open_clip's ids::

    tok = BpeTokenizer(export_folder / VOCAB_FILE)
    tok(["a cat"])[:, :4]    # array([[49406,   320,  2368, 49407]])
"""

from __future__ import annotations

import functools
import gzip
import html
import os
from collections.abc import Sequence

import numpy as np

VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"
_MERGES = 49152 - 256 - 2  # the merges CLIP's vocabulary uses (the file holds more)


@functools.lru_cache
def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def _clean(text: str) -> str:
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split()).strip().lower()


class BpeTokenizer:
    """``tokenizer(texts) -> int64 array (N, context_length)``, as open_clip's default tokenizer."""

    def __init__(self, vocab_path: str | os.PathLike, context_length: int = 77) -> None:
        import regex

        with gzip.open(vocab_path) as f:
            merges = [tuple(m.split()) for m in f.read().decode("utf-8").split("\n")[1:_MERGES + 1]]
        byte_chars = list(_bytes_to_unicode().values())
        vocab = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
        special = ["<start_of_text>", "<end_of_text>"]
        vocab += special
        self.encoder = {token: i for i, token in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.cache = {t: t for t in special}
        self.sot, self.eot = self.encoder[special[0]], self.encoder[special[1]]
        self.context_length = context_length
        self.pattern = regex.compile("|".join(special) + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
                                     regex.IGNORECASE)

    def bpe(self, token: str) -> str:
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            bigram = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if bigram not in self.ranks:
                break
            first, second = bigram
            merged: list[str] = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    merged.extend(word[i:])
                    break
                merged.extend(word[i:j])
                i = j
                if i < len(word) - 1 and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        out = " ".join(word)
        self.cache[token] = out
        return out

    def encode(self, text: str) -> list[int]:
        byte_map = _bytes_to_unicode()
        ids: list[int] = []
        for token in self.pattern.findall(_clean(text)):
            token = "".join(byte_map[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token).split(" "))
        return ids

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else list(texts)
        out = np.zeros((len(texts), self.context_length), dtype=np.int64)
        for row, text in zip(out, texts):
            ids = [self.sot] + self.encode(text) + [self.eot]
            if len(ids) > self.context_length:
                ids = ids[:self.context_length]
                ids[-1] = self.eot
            row[:len(ids)] = ids
        return out
