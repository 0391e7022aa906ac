"""Model denial of service (input scanner): size, token estimate, repetition.

Over ``max_chars`` characters or ``max_tokens`` estimated tokens
(:func:`otel_llm_security.guard.tokens.estimate_tokens`) scores 1.0; below the limits
the score grows with the larger ratio but stays under 0.5. Repetition is measured
by compressibility: a prompt of at least ``min_repetition_chars`` that zlib
compresses more than ``max_compression_ratio`` times is a flood ("a a a a ...", one
paragraph pasted 500 times). Ordinary prose and code compress 2-4x. A text over
``max_chars`` or ``max_tokens`` (scored 1.0 whatever its repetition) has its ratio
measured on three samples of REPETITION_SAMPLE_BYTES.
"""

from __future__ import annotations

import zlib

from otel_llm_security.attributes import Direction, Threat
from otel_llm_security.guard.scanner import ScanResult, ScanText
from otel_llm_security.guard.scanners.base import BuiltinScanner
from otel_llm_security.guard.tokens import estimate_tokens

REPETITION_SAMPLE_BYTES = 16_384


class DenialOfServiceScanner(BuiltinScanner):
    kind = "denial_of_service"
    directions = ("input", "output")
    default_threshold = 0.5

    def __init__(
        self,
        *,
        name: str | None = None,
        direction: Direction = "input",
        threshold: float | None = None,
        max_chars: int = 100_000,
        max_tokens: int = 32_000,
        max_compression_ratio: float = 12.0,
        min_repetition_chars: int = 2_000,
    ) -> None:
        super().__init__(name=name, direction=direction, threshold=threshold)
        if max_chars <= 0 or max_tokens <= 0 or max_compression_ratio <= 1 or min_repetition_chars <= 0:
            raise ValueError("max_chars, max_tokens, min_repetition_chars must be > 0 and max_compression_ratio > 1")
        self.max_chars = int(max_chars)
        self.max_tokens = int(max_tokens)
        self.max_compression_ratio = float(max_compression_ratio)
        self.min_repetition_chars = int(min_repetition_chars)

    def scan(self, text: ScanText, prompt: ScanText | None = None) -> ScanResult:
        raw = text.raw
        chars = text.length
        tokens = estimate_tokens(raw)
        if chars > len(raw):  # a sample of a longer text: scale the estimate to the whole
            tokens = tokens * chars // max(1, len(raw))
        reasons: list[str] = []
        score = 0.49 * min(1.0, max(chars / self.max_chars, tokens / self.max_tokens))
        if chars > self.max_chars:
            score = 1.0
            reasons.append(f"{chars} chars > {self.max_chars}")
        if tokens > self.max_tokens:
            score = 1.0
            reasons.append(f"~{tokens} tokens > {self.max_tokens}")
        ratio = 0.0
        if chars >= self.min_repetition_chars:
            data = raw.encode("utf-8", "surrogatepass")
            if score >= 1.0 and len(data) > 3 * REPETITION_SAMPLE_BYTES:
                # Over a size limit the score is 1.0 already and the ratio only says
                # what kind of flood it is: from three samples (head, middle, tail;
                # zlib looks back 32 KB at most anyway), not the whole text (2 ms per
                # 200 KB).
                middle = (len(data) - REPETITION_SAMPLE_BYTES) // 2
                samples = [data[:REPETITION_SAMPLE_BYTES], data[middle : middle + REPETITION_SAMPLE_BYTES], data[-REPETITION_SAMPLE_BYTES:]]
                ratio = sum(map(len, samples)) / max(1, sum(len(zlib.compress(s, 1)) for s in samples))
            else:
                ratio = len(data) / max(1, len(zlib.compress(data, 1)))
            if ratio > self.max_compression_ratio:
                score = max(score, 0.8 if ratio < 2 * self.max_compression_ratio else 0.95)
                reasons.append(f"repetitive (compresses {ratio:.0f}x)")
        return self.result(
            score,
            [Threat.DENIAL_OF_SERVICE] if reasons else [],
            "; ".join(reasons),
            details={"chars": chars, "tokens_estimated": tokens, "compression_ratio": round(ratio, 2)},
        )
