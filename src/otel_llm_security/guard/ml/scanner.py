"""ML prompt-injection scanner: MiniLM embeddings (numpy) + hashed n-grams + the trained head.

Opt-in (``type: ml_prompt_injection``); this module, numpy, safetensors and tokenizers
are imported only when a policy names it. The model and head load when the guard is
built, so a missing ``ml`` extra is a start-up PolicyError, not a failure per call.

Long prompts are cut into overlapping windows of about ``window_chars`` characters
(MiniLM reads at most 256 tokens); at most ``max_windows`` are scored (the first and
last ones, then evenly spread) and the highest probability is the score. Each window
is scored by the head from its MiniLM embedding and, when the head file has one, a
logistic model over its hashed character/word n-grams (see ``head.py``). The default
threshold is the one the training script calibrated on the validation splits
(benign false-positive rate <= 1%), stored in the head file.
"""

from __future__ import annotations

from pathlib import Path

from otel_llm_security.attributes import Direction, Threat
from otel_llm_security.guard.ml.head import HEAD_PATH, load_head
from otel_llm_security.guard.ml.minilm import shared_encoder
from otel_llm_security.guard.scanner import ScanResult, ScanText


def windows(text: str, size: int, max_windows: int) -> list[str]:
    """Overlapping windows (half-overlap) covering ``text``; at most ``max_windows``."""
    if len(text) <= size:
        return [text]
    step = size // 2
    starts = list(range(0, max(1, len(text) - size) + 1, step))
    if starts[-1] + size < len(text):
        starts.append(len(text) - size)
    if len(starts) > max_windows:
        keep = {0, len(starts) - 1}
        for i in range(1, max_windows - 1):
            keep.add(round(i * (len(starts) - 1) / (max_windows - 1)))
        starts = [starts[i] for i in sorted(keep)]
    return [text[s : s + size] for s in starts]


class MLPromptInjectionScanner:
    kind = "ml_prompt_injection"
    isolated = True
    can_redact = False

    def __init__(
        self,
        *,
        name: str | None = None,
        direction: Direction = "input",
        threshold: float | None = None,
        model_dir: str | None = None,
        head: str | None = None,
        window_chars: int = 1000,
        max_windows: int = 4,
    ) -> None:
        if window_chars < 50 or max_windows < 1:
            raise ValueError("window_chars must be >= 50 and max_windows >= 1")
        self.name = name or self.kind
        self.direction: Direction = direction
        self.encoder = shared_encoder(model_dir)
        head_path = Path(head) if head else HEAD_PATH
        if not head_path.exists():
            raise ValueError(f"head file {str(head_path)!r} does not exist (train it with scripts/train_prompt_injection_head.py)")
        self.head, calibrated, self.head_metadata = load_head(head_path)
        self.threshold = calibrated if threshold is None else float(threshold)
        self.window_chars = int(window_chars)
        self.max_windows = int(max_windows)

    def probabilities(self, texts: list[str]) -> list[float]:
        """Injection probability per text (one window each); used by the benchmark."""
        return [float(p) for p in self.head.predict(self.encoder.encode(texts), texts)]

    def scan(self, text: ScanText, prompt: ScanText | None = None) -> ScanResult:
        chunks = windows(text.raw, self.window_chars, self.max_windows)
        probs = self.head.predict(self.encoder.encode(chunks), chunks)
        score = float(probs.max()) if len(probs) else 0.0
        passed = score < self.threshold
        return ScanResult(
            scanner=self.name,
            direction=self.direction,
            score=score,
            passed=passed,
            threats=(Threat.PROMPT_INJECTION.value,) if not passed else (),
            reason=f"MiniLM+n-gram head p={score:.2f} (threshold {self.threshold:.2f}, {len(chunks)} windows)",
            details={"windows": len(chunks)},
        )
