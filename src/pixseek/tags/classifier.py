"""A tag's classifier: logistic regression on the stored vectors (scikit-learn), class-balanced, with
probabilities calibrated by Platt scaling (``CalibratedClassifierCV``, sigmoid) on held-out folds.

A handful of positive examples and few or no counter-examples is the normal start, so random
photos that carry no label stand in as *background* negatives (:func:`background_sample`): most
photos are not a given tag, and the few that are among them cost less than having no negatives at
all (``bench/tag_eval.py`` measures both ways). Explicit counter-examples weigh more than background.

>>> model = train(pos, neg, background)                       # doctest: +SKIP
>>> model.probabilities(vectors)                             # doctest: +SKIP
array([0.93, 0.02, ...], dtype=float32)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_POSITIVES = 2
BACKGROUND_PER_POSITIVE = 10
MIN_BACKGROUND = 100
MAX_BACKGROUND = 2000
NEGATIVE_WEIGHT = 3.0  # an explicit counter-example counts as three background photos
C = 10.0  # LogisticRegression's inverse regularisation: unit vectors need large weights (bench/tag_eval.py)


@dataclass
class TagModel:
    """Calibrated P(tag | vector) as one or more linear scorers averaged (one per calibration fold),
    reduced to plain numpy so that scoring 100k vectors is a few matrix products."""

    coefs: np.ndarray      # (n, dim) weights
    intercepts: np.ndarray  # (n,)
    slopes: np.ndarray     # (n,) Platt a: p = 1 / (1 + exp(a * score + b))
    offsets: np.ndarray    # (n,) Platt b

    def probabilities(self, vectors: np.ndarray, chunk: int = 65536) -> np.ndarray:
        """P(tag) per row of ``vectors`` (float32)."""
        out = np.empty(len(vectors), np.float32)
        for start in range(0, len(vectors), chunk):
            scores = vectors[start:start + chunk] @ self.coefs.T.astype(np.float32) + self.intercepts
            z = np.clip(scores * self.slopes + self.offsets, -50, 50)
            out[start:start + chunk] = (1.0 / (1.0 + np.exp(z))).mean(axis=1)
        return out


def train(pos: np.ndarray, neg: np.ndarray, background: np.ndarray, *, seed: int = 0) -> TagModel:
    """Fit the tag's classifier on positive examples, counter-examples and background photos."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    x, y, w = _design(pos, neg, background)
    base = LogisticRegression(C=C, class_weight="balanced", solver="liblinear", max_iter=1000)
    folds = min(3, len(pos), int((y == 0).sum()))
    if folds < 2:
        base.fit(x, y, sample_weight=w)
        return TagModel(base.coef_.astype(np.float32), base.intercept_.astype(np.float32),
                        np.array([-1.0], np.float32), np.zeros(1, np.float32))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    model = CalibratedClassifierCV(base, method="sigmoid", cv=cv)
    model.fit(x, y, sample_weight=w)
    coefs, intercepts, slopes, offsets = [], [], [], []
    for fitted in model.calibrated_classifiers_:
        coefs.append(fitted.estimator.coef_[0])
        intercepts.append(fitted.estimator.intercept_[0])
        sigmoid = fitted.calibrators[0]
        slopes.append(sigmoid.a_)
        offsets.append(sigmoid.b_)
    return TagModel(np.asarray(coefs, np.float32), np.asarray(intercepts, np.float32),
                    np.asarray(slopes, np.float32), np.asarray(offsets, np.float32))


def cross_validated(pos: np.ndarray, neg: np.ndarray, background: np.ndarray, *,
                    seed: int = 0) -> dict[str, float | int] | None:
    """How well the classifier ranks photos it was not trained on, by k-fold cross-validation over
    the labelled photos (positives against counter-examples and background): ``precision`` is the
    share of positives among the top-P held-out predictions (P = the number of positives: the
    R-precision, what the top of ``--suggest`` looks like), ``average_precision`` the area under the
    held-out precision-recall curve. ``None`` with fewer than 3 positives. Background photos that
    are in fact the tag count as mistakes, so both are floors rather than exact."""
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import StratifiedKFold

    if len(pos) < 3:
        return None
    x, y, w = _design(pos, neg, background)
    folds = min(5, len(pos))
    predicted = np.zeros(len(y), np.float32)
    for train_idx, test_idx in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(x, y):
        tp, tn = train_idx[y[train_idx] == 1], train_idx[y[train_idx] == 0]
        explicit = tn[w[tn] > 1.0]
        model = train(x[tp], x[explicit], x[np.setdiff1d(tn, explicit)], seed=seed)
        predicted[test_idx] = model.probabilities(x[test_idx])
    top = np.argsort(-predicted, kind="stable")[:len(pos)]
    return {"precision": float(y[top].mean()), "average_precision": float(average_precision_score(y, predicted)),
            "folds": folds}


def background_size(positives: int) -> int:
    return int(min(MAX_BACKGROUND, max(MIN_BACKGROUND, BACKGROUND_PER_POSITIVE * positives)))


def background_sample(candidates: np.ndarray, positives: int, seed: int) -> np.ndarray:
    """A seeded random choice of row numbers among ``candidates`` (unlabelled photos)."""
    n = min(len(candidates), background_size(positives))
    if n == len(candidates):
        return candidates
    return np.sort(np.random.default_rng(seed).choice(candidates, size=n, replace=False))


def _design(pos: np.ndarray, neg: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dim = pos.shape[1]
    x = np.concatenate([pos, neg.reshape(-1, dim), background.reshape(-1, dim)]).astype(np.float32)
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg) + len(background))]).astype(np.int64)
    w = np.concatenate([np.ones(len(pos)), np.full(len(neg), NEGATIVE_WEIGHT), np.ones(len(background))])
    return x, y, w
