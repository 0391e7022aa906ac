"""Hashed character/word n-gram features and a logistic model over them, in numpy.

The lexical half of the ML prompt-injection scanner: the text is NFKC-normalised,
case-folded and whitespace-collapsed; its character 3-, 4- and 5-grams, words and word
bigrams are hashed (CRC-32) into ``2**18`` buckets, binary, scaled to unit length. A
logistic regression over them (trained by ``scripts/train_prompt_injection_head.py``)
catches the wording of attacks that sentence embeddings blur, and the other way round.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
import zlib
from collections.abc import Sequence

import numpy as np

DIM_BITS = 18
MAX_CHARS = 4000  # a window is at most ~1000 characters; longer texts are cut
_WS = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def grams(text: str) -> set[str]:
    t = normalise(text)[:MAX_CHARS]
    padded = f" {t} "
    out: set[str] = set()
    for n in (3, 4, 5):
        out.update("c" + padded[i : i + n] for i in range(len(padded) - n + 1))
    words = _WORD.findall(t)
    out.update("w" + w for w in words)
    out.update(f"b{a} {b}" for a, b in itertools.pairwise(words))
    return out


def bucket_ids(text: str, bits: int = DIM_BITS) -> np.ndarray:
    """Sorted distinct hash buckets of ``text``'s n-grams."""
    mask = (1 << bits) - 1
    return np.unique(np.fromiter((zlib.crc32(g.encode("utf-8", "surrogatepass")) & mask for g in grams(text)), dtype=np.int64))


class SparseRows:
    """Binary rows scaled to unit length, as flat (row, bucket, value) arrays."""

    def __init__(self, texts: Sequence[str], bits: int = DIM_BITS) -> None:
        rows = [bucket_ids(t, bits) for t in texts]
        lens = np.array([len(r) for r in rows], dtype=np.int64)
        self.n = len(rows)
        self.dim = 1 << bits
        self.idx = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        self.row = np.repeat(np.arange(self.n), lens)
        self.val = np.repeat(1.0 / np.sqrt(np.maximum(lens, 1)), lens)

    def dot(self, w: np.ndarray) -> np.ndarray:
        return np.bincount(self.row, weights=w[self.idx].astype(np.float64) * self.val, minlength=self.n)

    def tdot(self, g: np.ndarray) -> np.ndarray:
        return np.bincount(self.idx, weights=g[self.row] * self.val, minlength=self.dim)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


class LexicalHead:
    """Logistic regression over hashed n-grams."""

    def __init__(self, w: np.ndarray, b: float) -> None:
        self.w = w
        self.b = float(b)
        self.bits = int(np.log2(w.size))

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        return SparseRows(texts, self.bits).dot(self.w) + self.b

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return _sigmoid(self.logits(texts)).astype(np.float32)

    @classmethod
    def train(
        cls, x: SparseRows, y: np.ndarray, *, l2: float = 1e-5, epochs: int = 200, lr: float = 0.05
    ) -> LexicalHead:
        """Full-batch Adam on class-balanced logistic loss (deterministic: zero init)."""
        y = y.astype(np.float64)
        n = x.n
        pos, neg = max(y.sum(), 1.0), max(n - y.sum(), 1.0)
        sw = np.where(y == 1, n / (2 * pos), n / (2 * neg))
        w = np.zeros(x.dim)
        b = 0.0
        m, v = np.zeros(x.dim), np.zeros(x.dim)
        mb = vb = 0.0
        for t in range(1, epochs + 1):
            g = (_sigmoid(x.dot(w) + b) - y) * sw / n
            gw = x.tdot(g) + l2 * w
            gb = float(g.sum())
            m = 0.9 * m + 0.1 * gw
            v = 0.999 * v + 0.001 * gw * gw
            w -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
            mb = 0.9 * mb + 0.1 * gb
            vb = 0.999 * vb + 0.001 * gb * gb
            b -= lr * (mb / (1 - 0.9**t)) / (np.sqrt(vb / (1 - 0.999**t)) + 1e-8)
        return cls(w.astype(np.float32), b)
