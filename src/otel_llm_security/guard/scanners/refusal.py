"""Refusal in the model's output (output scanner).

Matches the stock phrasings of a refusal on the normalised output ("I'm sorry, but I
can't assist with that", "As an AI language model, I cannot", "I must decline") in
English and the most common other languages. A refusal near the start of the answer
scores higher than one buried in a long answer. Refusals are a probing signal: one is
normal, a burst from one user is what the detection rule looks for.
"""

from __future__ import annotations

import dataclasses

from otel_llm_security.attributes import Threat
from otel_llm_security.guard.scanner import ScanResult, ScanText
from otel_llm_security.guard.scanners.base import BuiltinScanner, Rule, RuleSet, noisy_or, word_index

R = Threat.REFUSAL
A = r"['\u2019]"  # apostrophes: NFKC keeps the typographic one
HELP = r"(?:help|assist|comply|provide|fulfil+|do\s+that|support|create|generate|write|answer|share|engage|participate|give)"

ANCHORS = {
    "sorry_cant": "sorry",
    "apologize_but": "apologi",
    "i_cannot_help": "can cannot won will unable able allowed permitted & that this request such information content",
    "as_an_ai": "ai artificial",
    "must_decline": "decline refuse",
    "against_policy": "against",
    "not_appropriate": "appropriate ethical something",
    "afraid_cant": "afraid",
    "unable_to_comply": "unable able",
    "ml_refusal": "siento leid dispiace desculpe desol =désol =抱歉 =申し訳 =죄송",  # desol: "desolé" without its first accent
}

# In insecure_output's Hyperscan database: both scan the normalised answer (the same
# object, for answers without code), so one scan of it serves both scanners.
RULES = RuleSet(
    prefilter="insecure_output",
    rules=tuple(dataclasses.replace(r, anchors=ANCHORS[r.id]) for r in (
        Rule("sorry_cant", R, 0.9, rf"(?:i{A}m|i\s+am)\s+(?:really\s+|very\s+|so\s+)?sorry,?\s+(?:but\s+)?(?:i|that)\s+(?:can{A}?t|cannot|won{A}t|will\s+not|am\s+(?:not\s+able|unable)|{A}m\s+(?:not\s+able|unable)|must\s+(?:decline|refuse))"),
        Rule("apologize_but", R, 0.85, rf"i\s+apologi[sz]e,?\s+but\s+(?:i|that)\s+(?:can{A}?t|cannot|won{A}t|am\s+(?:not\s+able|unable)|{A}m\s+(?:not\s+able|unable))"),
        Rule("i_cannot_help", R, 0.75, rf"i\s+(?:can{A}?t|cannot|won{A}t|will\s+not|am\s+(?:not\s+able|unable)\s+to|{A}m\s+(?:not\s+able|unable)\s+to|am\s+not\s+(?:allowed|permitted)\s+to)\s+(?:\w+\s+){{0,2}}?{HELP}\s+(?:you\s+)?(?:with\s+)?(?:that|this|your\s+request|such|the\s+request|requests?\s+(?:like|of)|information\s+(?:on|about)|content)"),
        Rule("as_an_ai", R, 0.55, r"as\s+an?\s+(?:ai|artificial\s+intelligence)(?:\s+language\s+model|\s+assistant|\s+model)?,\s+i\s+(?:can|do|am|don|must|have)"),
        Rule("must_decline", R, 0.85, r"i\s+(?:must|have\s+to|need\s+to)\s+(?:respectfully\s+|politely\s+)?(?:decline|refuse)"),
        Rule("against_policy", R, 0.75, r"(?:goes|go|is|it{A}s|that{A}s)\s+against\s+(?:my|our|the)\s+(?:guidelines|programming|policies|policy|principles|usage\s+polic(?:y|ies)|content\s+polic(?:y|ies))".replace("{A}", A)),
        Rule("not_appropriate", R, 0.6, r"(?:it\s+(?:is|would\s+(?:not\s+)?be)|it{A}s)\s+not\s+(?:appropriate|ethical|something\s+i\s+can)\s+(?:for\s+me\s+)?(?:to\s+)?(?:help|assist|provide|do|share|discuss)".replace("{A}", A)),
        Rule("afraid_cant", R, 0.85, rf"i{A}m\s+afraid\s+(?:i|that)\s+(?:can{A}?t|cannot|won{A}t)"),
        Rule("unable_to_comply", R, 0.85, r"(?:unable|not\s+able)\s+to\s+(?:comply|fulfil+|help\s+with\s+(?:that|this))\s*(?:request)?"),
        Rule("ml_refusal", R, 0.85, r"(?:lo\s+siento,?\s+pero\s+no\s+puedo|je\s+suis\s+d[ée]sol[ée],?\s+mais\s+je\s+ne\s+peux\s+pas|es\s+tut\s+mir\s+leid,?\s+aber\s+ich\s+kann|mi\s+dispiace,?\s+ma\s+non\s+posso|desculpe,?\s+mas\s+n[ãa]o\s+posso|抱歉,?我(?:不能|无法)|申し訳(?:ありませんが|ございませんが)|죄송하지만)"),
    ))
)
LEAD_CHARS = 300


class RefusalScanner(BuiltinScanner):
    kind = "refusal"
    directions = ("output",)
    default_threshold = 0.5

    def scan(self, text: ScanText, prompt: ScanText | None = None) -> ScanResult:
        weights: dict[str, float] = {}
        for hit in RULES.finditer(text.normalized, lambda: word_index(text)):
            w = hit.rule.weight if hit.start < LEAD_CHARS else hit.rule.weight * 0.6
            weights[hit.rule.id] = max(weights.get(hit.rule.id, 0.0), w)
        if not weights:
            return self.result(0.0)
        return self.result(noisy_or(weights.values()), [Threat.REFUSAL], "rules: " + ", ".join(sorted(weights)))
