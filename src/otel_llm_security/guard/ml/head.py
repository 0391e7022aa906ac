"""The trained classification head of the ML prompt-injection scanner, in numpy.

Two models, trained by ``scripts/train_prompt_injection_head.py`` and stored together
in a small ``.npz`` with the decision threshold and the training metrics:

- a one-hidden-layer MLP over MiniLM sentence embeddings (``hidden`` = 0 makes it
  logistic regression);
- optionally, a logistic regression over hashed character/word n-grams
  (:mod:`otel_llm_security.guard.ml.lexical`).

The score is ``sigmoid(mix * mlp_logit + (1 - mix) * lexical_logit)``; a head file
without the lexical part (``mix`` = 1) is the MLP alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from otel_llm_security.guard.ml.lexical import LexicalHead

HEAD_PATH = Path(__file__).resolve().parent / "prompt_injection_head.npz"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


class MLPHead:
    def __init__(self, w1: np.ndarray | None, b1: np.ndarray | None, w2: np.ndarray, b2: float) -> None:
        self.w1, self.b1, self.w2, self.b2 = w1, b1, w2, float(b2)

    def logits(self, x: np.ndarray) -> np.ndarray:
        h = np.tanh(x @ self.w1 + self.b1) if self.w1 is not None else x
        return h @ self.w2 + self.b2

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probability of injection per row of ``x`` (n, 384)."""
        return _sigmoid(self.logits(x)).astype(np.float32)

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
        CombinedHead(self).save(path, threshold=threshold, metadata=metadata)


class CombinedHead:
    """The MLP over embeddings, optionally blended (in logit space) with the lexical model."""

    def __init__(self, mlp: MLPHead, lexical: LexicalHead | None = None, mix: float = 1.0) -> None:
        self.mlp, self.lexical = mlp, lexical
        self.mix = 1.0 if lexical is None else float(mix)

    def logits(self, embeddings: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        z = self.mlp.logits(embeddings).astype(np.float64)
        if self.lexical is None:
            return z
        if texts is None:
            raise ValueError("this head has a lexical part: pass the texts as well as their embeddings")
        return self.mix * z + (1.0 - self.mix) * self.lexical.logits(texts)

    def predict(self, embeddings: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        """Probability of injection per text (row of ``embeddings``)."""
        return _sigmoid(self.logits(embeddings, texts)).astype(np.float32)

    def save(self, path: str | Path, *, threshold: float, metadata: dict[str, Any]) -> None:
        m = self.mlp
        arrays: dict[str, Any] = {"w2": m.w2, "b2": np.float32(m.b2), "threshold": np.float32(threshold)}
        if m.w1 is not None and m.b1 is not None:
            arrays.update(w1=m.w1, b1=m.b1)
        if self.lexical is not None:
            arrays.update(lex_w=self.lexical.w.astype(np.float32), lex_b=np.float32(self.lexical.b), mix=np.float32(self.mix))
        arrays["metadata"] = np.array(json.dumps(metadata, sort_keys=True))
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)


def load_head(path: str | Path = HEAD_PATH) -> tuple[CombinedHead, float, dict[str, Any]]:
    """(head, threshold, metadata) from an ``.npz`` written by :meth:`CombinedHead.save`."""
    with np.load(path, allow_pickle=False) as z:
        w1 = z.get("w1")
        b1 = z.get("b1")
        mlp = MLPHead(w1, b1, z["w2"], float(z["b2"]))
        lexical = LexicalHead(z["lex_w"], float(z["lex_b"])) if "lex_w" in z else None
        mix = float(z["mix"]) if "mix" in z else 1.0
        return CombinedHead(mlp, lexical, mix), float(z["threshold"]), json.loads(str(z["metadata"]))
