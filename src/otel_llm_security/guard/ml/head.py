"""The trained classification head over MiniLM embeddings, in numpy.

A one-hidden-layer MLP (``hidden`` = 0 makes it logistic regression), trained by
``scripts/train_prompt_injection_head.py`` and stored as a small ``.npz`` with its
decision threshold and training metrics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

HEAD_PATH = Path(__file__).resolve().parent / "prompt_injection_head.npz"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


class MLPHead:
    def __init__(self, w1: np.ndarray | None, b1: np.ndarray | None, w2: np.ndarray, b2: float) -> None:
        self.w1, self.b1, self.w2, self.b2 = w1, b1, w2, float(b2)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probability of injection per row of ``x`` (n, 384)."""
        h = np.tanh(x @ self.w1 + self.b1) if self.w1 is not None else x
        return _sigmoid(h @ self.w2 + self.b2).astype(np.float32)

    @classmethod
    def train(
        cls, x: np.ndarray, y: np.ndarray, *, hidden: int = 64, l2: float = 1e-4, epochs: int = 600, lr: float = 0.01, seed: int = 0
    ) -> MLPHead:
        """Full-batch Adam on class-balanced logistic loss. Deterministic for a seed."""
        rng = np.random.default_rng(seed)
        x = x.astype(np.float64)
        y = y.astype(np.float64)
        n, d = x.shape
        pos = max(y.sum(), 1.0)
        neg = max(n - y.sum(), 1.0)
        sw = np.where(y == 1, n / (2 * pos), n / (2 * neg))
        params: list[np.ndarray] = []
        if hidden:
            params += [rng.normal(0, 1 / np.sqrt(d), (d, hidden)), np.zeros(hidden)]
            params += [rng.normal(0, 1 / np.sqrt(hidden), hidden), np.zeros(1)]
        else:
            params += [np.zeros(d), np.zeros(1)]
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        b1_, b2_, eps = 0.9, 0.999, 1e-8
        for t in range(1, epochs + 1):
            if hidden:
                w1, bb1, w2, bb2 = params
                a = x @ w1 + bb1
                h = np.tanh(a)
                p = _sigmoid(h @ w2 + bb2[0])
                g = (p - y) * sw / n
                gw2 = h.T @ g + l2 * w2
                gb2 = np.array([g.sum()])
                gh = np.outer(g, w2) * (1 - h * h)
                grads = [x.T @ gh + l2 * w1, gh.sum(0), gw2, gb2]
            else:
                w, bb = params
                p = _sigmoid(x @ w + bb[0])
                g = (p - y) * sw / n
                grads = [x.T @ g + l2 * w, np.array([g.sum()])]
            for i, gr in enumerate(grads):
                m[i] = b1_ * m[i] + (1 - b1_) * gr
                v[i] = b2_ * v[i] + (1 - b2_) * gr * gr
                mh = m[i] / (1 - b1_**t)
                vh = v[i] / (1 - b2_**t)
                params[i] = params[i] - lr * mh / (np.sqrt(vh) + eps)
        if hidden:
            return cls(params[0].astype(np.float32), params[1].astype(np.float32), params[2].astype(np.float32), float(params[3][0]))
        return cls(None, None, params[0].astype(np.float32), float(params[1][0]))

    def save(self, path: str | Path, *, threshold: float, metadata: dict[str, Any]) -> None:
        arrays: dict[str, Any] = {"w2": self.w2, "b2": np.float32(self.b2), "threshold": np.float32(threshold)}
        if self.w1 is not None and self.b1 is not None:
            arrays.update(w1=self.w1, b1=self.b1)
        arrays["metadata"] = np.array(json.dumps(metadata, sort_keys=True))
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)


def load_head(path: str | Path = HEAD_PATH) -> tuple[MLPHead, float, dict[str, Any]]:
    """(head, threshold, metadata) from an ``.npz`` written by :meth:`MLPHead.save`."""
    with np.load(path, allow_pickle=False) as z:
        w1 = z.get("w1")
        b1 = z.get("b1")
        head = MLPHead(w1, b1, z["w2"], float(z["b2"]))
        return head, float(z["threshold"]), json.loads(str(z["metadata"]))
