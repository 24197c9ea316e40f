"""Training the adapter in torch on stored vectors (no photo is decoded or encoded again).

- labels (albums, tags, a labels file, duplicate groups): supervised contrastive loss (SupCon,
  Khosla et al. 2020) over batches of P labels x K photos;
- captions: symmetric InfoNCE between photos and their captions (CLIP's loss), the adapter on both
  sides, since text queries pass it too.

Weight decay pulls ``A`` back towards zero, i.e. the adapter towards the identity.
"""

from __future__ import annotations

import contextlib

import numpy as np

from .adapter import Adapter

DEFAULT_RANK = 64
DEFAULT_STEPS = 300
TEMPERATURE = 0.1
PER_LABEL = 4  # photos of one label in a batch
BATCH = 256
KEEP_WEIGHT = 10.0  # bench/tune_drawings.py, 3 seeds: 0 -> +11 % / -0.164 on unseen kinds, 5 -> +13 % / -0.030, 10 -> +10 % / -0.012, 20 -> +6 % / +0.000


@contextlib.contextmanager
def _one_thread():
    """Steps are small (a 256 x dim batch through a rank-64 map): one thread does them in about a
    millisecond, while several threads spin and wait on each other when the cores are busy (100x
    slower measured with other processes on 2 cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _modules(dim: int, rank: int, seed: int):
    import torch

    gen = torch.Generator().manual_seed(seed)
    a = torch.zeros(dim, rank, requires_grad=True)
    b = (torch.randn(rank, dim, generator=gen) / dim ** 0.5).requires_grad_(True)
    return a, b


class _AdamW:
    """AdamW (Loshchilov & Hutter) on a few tensors. ``torch.optim``'s constructor imports
    ``torch._dynamo``, 4+ s of start-up on a busy 2-core machine: longer than the training itself."""

    def __init__(self, params, lr: float, weight_decay: float, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        import torch

        self.params, self.lr, self.wd, self.betas, self.eps = list(params), lr, weight_decay, betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def step(self) -> None:
        import torch

        self.t += 1
        b1, b2 = self.betas
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v):
                if p.grad is None:
                    continue
                p.mul_(1 - self.lr * self.wd)
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                denom = (v / (1 - b2 ** self.t)).sqrt_().add_(self.eps)
                p.addcdiv_(m, denom, value=-self.lr / (1 - b1 ** self.t))
                p.grad = None


def _adapt(x, a, b):
    import torch

    y = x + (x @ b.T) @ a.T
    return torch.nn.functional.normalize(y, dim=1)


def _supcon(z, y, temperature: float):
    import torch

    sim = z @ z.T / temperature
    eye = torch.eye(len(z), dtype=torch.bool)
    sim = sim.masked_fill(eye, float("-inf"))
    logprob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (y[:, None] == y[None, :]) & ~eye
    count = pos.sum(dim=1)
    keep = count > 0
    per_anchor = -(logprob.masked_fill(~pos, 0.0)).sum(dim=1)[keep] / count[keep]
    return per_anchor.mean()


def _batches(labels: np.ndarray, steps: int, rng: np.random.Generator):
    """``steps`` batches of row indices: P labels x up to K photos each."""
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    groups = [g for g in groups if len(g) >= 2]
    per_batch = max(2, min(len(groups), BATCH // PER_LABEL))
    for _ in range(steps):
        chosen = rng.choice(len(groups), per_batch, replace=False)
        rows = [rng.choice(groups[c], min(PER_LABEL, len(groups[c])), replace=False) for c in chosen]
        yield np.concatenate(rows)


def _keep_geometry(u, a, b):
    """How much the adapter moves the similarities among ``u`` (photos with no label): mean squared
    change of their cosine similarities. Keeps what the labels say nothing about where it was."""
    z = _adapt(u, a, b)
    return ((z @ z.T - u @ u.T) ** 2).mean()


def train_labels(vecs: np.ndarray, labels: np.ndarray, *, rank: int = DEFAULT_RANK, steps: int = DEFAULT_STEPS,
                 lr: float = 1e-3, weight_decay: float = 1e-4, temperature: float = TEMPERATURE,
                 keep: np.ndarray | None = None, keep_weight: float = KEEP_WEIGHT, seed: int = 0) -> Adapter:
    """An adapter that pulls photos of one label together (SupCon) from unit ``vecs`` ``(n, dim)``;
    with ``keep`` (other photos' vectors, e.g. the whole library), it also keeps their similarities
    to each other (``keep_weight`` x mean squared change), so unlabelled kinds of photos stay put."""
    import torch

    torch.manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(vecs, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    others = None if keep is None or not len(keep) else torch.from_numpy(np.ascontiguousarray(keep, dtype=np.float32))
    a, b = _modules(x.shape[1], rank, seed)
    opt = _AdamW([a, b], lr=lr, weight_decay=weight_decay)
    rng = np.random.default_rng(seed)
    with _one_thread():
        for rows in _batches(np.asarray(labels), steps, rng):
            idx = torch.from_numpy(rows)
            loss = _supcon(_adapt(x[idx], a, b), y[idx], temperature)
            if others is not None and keep_weight > 0:
                pick = torch.from_numpy(rng.choice(len(others), min(BATCH, len(others)), replace=False))
                loss = loss + keep_weight * _keep_geometry(others[pick], a, b)
            loss.backward()
            opt.step()
    return Adapter(a.detach().numpy().copy(), b.detach().numpy().copy())


def train_pairs(image_vecs: np.ndarray, text_vecs: np.ndarray, image_of: np.ndarray, *, rank: int = DEFAULT_RANK,
                steps: int = DEFAULT_STEPS, lr: float = 1e-3, weight_decay: float = 1e-4,
                temperature: float = 0.05, seed: int = 0) -> Adapter:
    """An adapter that brings each caption (``text_vecs[i]``) and its photo
    (``image_vecs[image_of[i]]``) together and apart from the others (symmetric InfoNCE)."""
    import torch

    torch.manual_seed(seed)
    xi = torch.from_numpy(np.ascontiguousarray(image_vecs, dtype=np.float32))
    xt = torch.from_numpy(np.ascontiguousarray(text_vecs, dtype=np.float32))
    of = np.asarray(image_of, dtype=np.int64)
    a, b = _modules(xi.shape[1], rank, seed)
    opt = _AdamW([a, b], lr=lr, weight_decay=weight_decay)
    rng = np.random.default_rng(seed)
    n = len(of)
    with _one_thread():
        _pair_steps(xi, xt, of, a, b, opt, rng, n, steps, temperature)
    return Adapter(a.detach().numpy().copy(), b.detach().numpy().copy())


def _pair_steps(xi, xt, of, a, b, opt, rng, n: int, steps: int, temperature: float) -> None:
    import torch

    for _ in range(steps):
        rows = rng.choice(n, min(BATCH, n), replace=False)
        # one caption per photo in a batch: two captions of one photo are not each other's negatives
        _, first = np.unique(of[rows], return_index=True)
        rows = rows[first]
        zi = _adapt(xi[torch.from_numpy(of[rows])], a, b)
        zt = _adapt(xt[torch.from_numpy(rows)], a, b)
        logits = zt @ zi.T / temperature
        target = torch.arange(len(rows))
        loss = (torch.nn.functional.cross_entropy(logits, target)
                + torch.nn.functional.cross_entropy(logits.T, target)) / 2
        loss.backward()
        opt.step()
