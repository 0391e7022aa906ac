"""A cheap, offline token estimate (no tokenizer, no model, linear, C-speed).

BPE tokenizers of the GPT family average about 4 characters per token on English and
code; scripts without spaces (CJK) and most non-Latin letters cost about one token per
character. The estimate counts ASCII characters at 1/4 token and other characters at
one token each, and never returns less than the number of whitespace-separated words
would suggest for short texts. It is meant for limits and for marking estimated usage
(``llm.security.tokens.estimated``), not billing.
"""

from __future__ import annotations

import math

ASCII_CHARS_PER_TOKEN = 4.0


def estimate_tokens(text: str) -> int:
    """Estimated token count of ``text`` for GPT-style BPE tokenizers."""
    if not text:
        return 0
    if text.isascii():
        return max(1, math.ceil(len(text) / ASCII_CHARS_PER_TOKEN))
    ascii_count = len(text.encode("ascii", "ignore"))
    other = len(text) - ascii_count
    return max(1, math.ceil(ascii_count / ASCII_CHARS_PER_TOKEN) + other)
