"""Insecure output (output scanner): XSS payloads, exfiltration links, SQL and shell payloads.

What a browser would execute if the app renders the answer as HTML or markdown:
``<script>``, event-handler attributes inside a tag (``<img onerror=...>``,
``<svg onload=...>``), ``javascript:``/``vbscript:``/``data:text/html`` URLs in
attributes or markdown links, ``srcdoc``, frames/objects/``<base>``/meta refresh,
SVG ``<animate>`` rewriting ``href``, CSS ``expression()``, and template-injection
gadgets. The same rules run again on a decoded view (HTML entities, percent-encoding
and ``\\uXXXX``/``\\xXX`` escapes, twice, for double encoding), so encoded variants match.

Images (markdown inline or by reference, HTML ``<img>``) whose URL query carries data
are reported as data exfiltration, since rendering the image sends it: values that
look like base64/hex, e-mail or card/SSN-like digits, sentence-like text, or text
echoed from the prompt. Badge parameters (``?style=flat``, ``?url=https://...``) are not data.

Code that the answer shows *as code* (fenced blocks and inline backticks) is not
rendered by markdown renderers, so HTML/XSS rules skip it: an answer explaining
``<button onclick="save()">`` in a code block is not an attack. SQL-injection and
destructive or reverse-shell commands are matched everywhere, including code blocks,
because agents and users copy and run them.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Sequence
from urllib.parse import parse_qsl, unquote, unquote_plus

from otel_llm_security.attributes import Direction, Threat
from otel_llm_security.guard.scanner import ScanResult, ScanText
from otel_llm_security.guard.scanners.base import BuiltinScanner, Rule, RuleSet, noisy_or, word_index
from otel_llm_security.guard.scanners.decoders import unescape_html

IO, EX = Threat.INSECURE_OUTPUT, Threat.DATA_EXFILTRATION
SP = r"[\s\x00-\x1f/]*"  # browsers ignore whitespace, controls and slashes in these places
JS_SCHEME = r"(?:j[\s\x00-\x1f]*a[\s\x00-\x1f]*v[\s\x00-\x1f]*a[\s\x00-\x1f]*s[\s\x00-\x1f]*c[\s\x00-\x1f]*r[\s\x00-\x1f]*i[\s\x00-\x1f]*p[\s\x00-\x1f]*t|vbscript|livescript)[\s\x00-\x1f]*:"

def _with_anchors(anchors: dict[str, str], rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
    return tuple(dataclasses.replace(r, anchors=anchors.get(r.id, ""), gate=GATES.get(r.id, "")) for r in rules)


# Gates (see scanners.base.Rule.gate) for rules without anchors that ``re`` cannot skip
# through quickly (sqli_comment starts with an "a" or a quote): what every match holds.
GATES = {
    "sqli_tautology": "=",
    "sqli_comment": r"['\"]\s*[;)]?\s*(?:--|#)",
    "shell_reverse": r"/dev/tcp/|/bin/|mkfifo|socket\.socket\(",
    "shell_disk_wipe": r"/dev/|777",
}


# Anchors (see scanners.base): rules that start with a literal ("<", "](", "{{") need
# none, ``re`` skips to the literal; the others run only near their key words.
HTML_ANCHORS = {
    "js_url_attr": "href src action formaction data xlink background poster lowsrc dynsrc codebase",
    "js_url_bare": "javascript vbscript livescript j$ ja$ jav$ java$",
    "data_html_url": "data",
    "srcdoc": "srcdoc",
    "svg_animate_href": "=attributename",  # [^<>]{0,200} before it: any text may run into it
    "css_expression": "style",
}
CODE_ANCHORS = {
    "sqli_union": "union & select",
    "sqli_stacked": "drop delete truncate shutdown exec",
    "sqli_time": "waitfor sleep benchmark",
    "sqli_xp_cmdshell": "xp cmdshell load into",
    "shell_rm_root": "rm",
    "shell_reverse": "dev bash sh zsh nc ncat mkfifo socket",
    "shell_pipe_to_shell": "curl wget base64",
    "shell_disk_wipe": "dd mkfs dev chmod",
    "powershell_cradle": "iex powershell certutil",
}

HTML_RULES = RuleSet(
    prefilter="insecure_output",
    rules=_with_anchors(HTML_ANCHORS, (
        Rule("script_tag", IO, 0.95, r"<" + SP + r"script\b"),
        Rule("event_handler", IO, 0.9, r"<" + SP + r"[a-z][a-z0-9-]{0,20}\b[^<>]{0,400}?[\s\"'/]on[a-z]{3,30}" + SP + r"="),
        Rule("js_url_attr", IO, 0.95, r"(?:href|src|action|formaction|data|xlink:href|background|poster|lowsrc|dynsrc|codebase)" + SP + r"=" + SP + r"[\"'`]?" + SP + JS_SCHEME),
        Rule("js_url_markdown", IO, 0.9, r"\]\(\s*<?\s*(?:" + JS_SCHEME + r"|data:\s*text/html)"),
        Rule("js_url_bare", IO, 0.6, r"(?<![a-z])" + JS_SCHEME + r"\s*(?:alert|prompt|confirm|eval|fetch|document|window|location|this|top|self|parent|\(|\[|/|%|&|\\)"),
        Rule("data_html_url", IO, 0.85, r"(?:href|src|data|action|formaction)" + SP + r"=" + SP + r"[\"']?\s*data:\s*(?:text/html|image/svg\+xml|application/(?:xhtml|x-javascript|javascript)|text/javascript)"),
        Rule("srcdoc", IO, 0.9, r"\ssrcdoc" + SP + r"="),
        Rule("dangerous_tag", IO, 0.75, r"<" + SP + r"(?:iframe|frame|frameset|object|embed|applet|base|portal)\b"),
        Rule("meta_refresh", IO, 0.85, r"<" + SP + r"meta\b[^<>]{0,200}http-equiv" + SP + r"=" + SP + r"[\"']?refresh"),
        Rule("svg_animate_href", IO, 0.9, r"<" + SP + r"(?:animate|set)\b[^<>]{0,200}attributename" + SP + r"=" + SP + r"[\"']?(?:xlink:)?href"),
        Rule("css_expression", IO, 0.8, r"style" + SP + r"=[^<>]{0,200}(?:expression\s*\(|-moz-binding|behavior\s*:|url\s*\(\s*[\"']?\s*javascript:)"),
        Rule("template_gadget", IO, 0.85, r"\{\{[^}]{0,100}(?:constructor\s*\.\s*constructor|\$on\.constructor|\$eval\s*\(|__proto__)"),
        Rule("form_hijack", IO, 0.6, r"<" + SP + r"form\b[^<>]{0,300}action" + SP + r"=" + SP + r"[\"']?\s*https?://"),
    ))
)

CODE_RULES = RuleSet(
    prefilter="insecure_output",
    rules=_with_anchors(CODE_ANCHORS, (
        Rule("sqli_tautology", IO, 0.85, r"['\"`]\s*\)?\s*(?:or|\|\|)\s*\(?\s*['\"]?(?P<taut>\w{1,10})['\"]?\s*=\s*['\"]?(?P=taut)['\"]?(?:\s*(?:--|#|/\*|;)|\s*$|\s*['\"])"),
        Rule("sqli_comment", IO, 0.7, r"['\"]\s*(?:;|\))?\s*(?:--|#)\s*$|admin['\"]\s*--"),
        Rule("sqli_union", IO, 0.85, r"\bunion\s+(?:all\s+)?select\b[^;\n]{0,200}\b(?:from\s+(?:information_schema|mysql\.user|pg_catalog|sqlite_master|sys\.)|null\s*,\s*null|@@version|version\s*\(|user\s*\(\s*\)|password)"),
        Rule("sqli_stacked", IO, 0.85, r"['\"]\s*\)?\s*;\s*(?:drop\s+(?:table|database)|delete\s+from|truncate\s+table|shutdown|exec(?:ute)?\s+(?:xp_|sp_))"),
        Rule("sqli_time", IO, 0.8, r"(?:\bwaitfor\s+delay\s+['\"]\d|\b(?:and|or)\s+(?:sleep|pg_sleep|benchmark)\s*\(\s*\d)"),
        Rule("sqli_xp_cmdshell", IO, 0.85, r"\bxp_cmdshell\b|\bload_file\s*\(\s*['\"]/|\binto\s+(?:out|dump)file\s+['\"]"),
        Rule("shell_rm_root", IO, 0.9, r"\brm\s+(?:-[a-z]*\s+)*-(?:rf|fr|[a-z]*r[a-z]*f|[a-z]*f[a-z]*r)[a-z]*\s+(?:--no-preserve-root\s+)?(?:/|/\*|~|~/|\$home|\*|/(?:etc|usr|var|home|boot|bin|lib)/?)(?:\s|$|;|&|\|)"),
        Rule("shell_fork_bomb", IO, 0.95, r":\s*\(\s*\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:"),
        Rule("shell_reverse", IO, 0.95, r"(?:bash|sh|zsh)\s+-i\s*[>&]+\s*/dev/tcp/|/dev/tcp/\d{1,3}(?:\.\d{1,3}){3}/\d+|\bnc(?:at)?\b[^\n|;]{0,60}\s-[a-z]*e\s+/bin/(?:ba)?sh|mkfifo\s+/tmp/\S+\s*;\s*(?:nc|cat)|socket\.socket\([^)]*\)[^\n]{0,200}(?:subprocess|pty\.spawn|os\.dup2)"),
        Rule("shell_pipe_to_shell", IO, 0.45, r"\b(?:curl|wget)\b[^\n|;]{0,300}\|\s*(?:sudo\s+)?(?:ba|z|da)?sh\b|base64\s+(?:-d|--decode)[^\n|]{0,40}\|\s*(?:ba)?sh\b"),
        Rule("shell_disk_wipe", IO, 0.9, r"\bdd\s+if=/dev/(?:zero|random|urandom)\s+of=/dev/(?:sd|nvme|hd|xvd|vd)|\bmkfs(?:\.\w+)?\s+/dev/(?:sd|nvme|hd)|>\s*/dev/sd[a-z]\b|\bchmod\s+(?:-r\s+)?777\s+/(?:\s|$)"),
        Rule("powershell_cradle", IO, 0.9, r"\biex\s*\(?\s*\(?\s*new-object\s+(?:system\.)?net\.webclient\)?\s*\.\s*downloadstring|\bpowershell(?:\.exe)?\s+(?:-\w+\s+)*-e(?:nc|ncodedcommand)?\s+[a-z0-9+/=]{20,}|\bcertutil(?:\.exe)?\s+-urlcache\s+-split\s+-f\s+http"),
    ))
)

# Image URLs: markdown inline, markdown reference definitions, HTML <img src>.
_MD_IMAGE_RE = re.compile(r"!\[[^\]\n]{0,300}\]\(\s*<?(https?://[^\s)>]{1,2000})")
_MD_REF_USE_RE = re.compile(r"!\[[^\]\n]{0,300}\]\[([^\]\n]{1,100})\]")
_MD_REF_DEF_RE = re.compile(r"(?:^|\n)[ \t]{0,3}\[([^\]\n]{1,100})\]:\s*<?(https?://\S{1,2000})")
_HTML_IMG_RE = re.compile(r"<" + SP + r"img\b[^<>]{0,300}?\ssrc" + SP + r"=" + SP + r"[\"']?(https?://[^\s\"'>]{1,2000})")
_B64ISH_RE = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")
_HEXISH_RE = re.compile(r"[0-9a-fA-F]{32,}")
_EMAIL_ISH_RE = re.compile(r"(?<![^\s@])[^\s@]{1,64}@[^\s@.]{1,63}\.[a-z]{2,}")
_DIGITS_ISH_RE = re.compile(r"\d{3}[- ]?\d{2}[- ]?\d{4}|(?:\d[ -]?){13,19}")
MAX_VALUE_CHARS = 2000


def _suspicious_value(value: str, prompt: str) -> bool:
    """A query value that carries data rather than configuration."""
    if len(value) < 12 or value.startswith(("http://", "https://")):
        return False
    value = value[:MAX_VALUE_CHARS]
    if ("@" in value and _EMAIL_ISH_RE.search(value)) or _DIGITS_ISH_RE.search(value):
        return True
    if len(value.split()) >= 4:  # sentence-like text
        return True
    b64 = _B64ISH_RE.search(value)
    if b64 and any(c.isdigit() for c in b64.group(0)) and any(c.isupper() for c in b64.group(0)):
        return True
    if _HEXISH_RE.search(value):
        return True
    if prompt and len(value) >= 16:
        low = value.lower()
        # conversation content echoed into the URL
        for i in range(0, len(low) - 15, 8):
            if low[i : i + 16] in prompt:
                return True
    return False


def exfiltration_urls(rendered: str, prompt: str) -> list[str]:
    """Image URLs that would send conversation data when the answer is rendered."""
    urls = [m.group(1) for m in _MD_IMAGE_RE.finditer(rendered)]
    urls += [m.group(1) for m in _HTML_IMG_RE.finditer(rendered)]
    if "![" in rendered and "]:" in rendered:
        defs = {m.group(1).strip().lower(): m.group(2) for m in _MD_REF_DEF_RE.finditer(rendered)}
        urls += [defs[u] for u in (m.group(1).strip().lower() for m in _MD_REF_USE_RE.finditer(rendered)) if u in defs]
    found = []
    for url in urls:
        # (urlsplit's query, without urlsplit: it raises on a malformed host, "http://[x?d=1")
        query = url.partition("#")[0].partition("?")[2]
        if not query:
            continue
        values = [unquote_plus(v) for _, v in parse_qsl(query, keep_blank_values=True)] or [unquote_plus(query)]
        if any(_suspicious_value(v, prompt) for v in values):
            found.append(url)
    return found


# What mask_code blanks, by definition: fenced blocks, then inline code spans in what
# is left. Searched with these patterns over a whole text, both are quadratic on a long
# run of backticks (an answer of 20 KB of them took 11 s), and slow on ordinary text
# (the fence's lazy ".*?" tries its closing line at every character), so mask_code finds
# the same spans by lines and runs (tests/guard/test_gates.py checks them against these
# patterns).
_FENCE_RE = re.compile(r"(?ms)^[ \t]{0,3}(```+|~~~+)[^\n]*\n.*?(?:^[ \t]{0,3}\1[ \t]*$|\Z)")
_INLINE_CODE_RE = re.compile(r"(`+)(?!`)[^\n]*?(?<!`)\1(?!`)")
_ESCAPE_RE = re.compile(r"\\u([0-9a-fA-F]{4})|\\u\{([0-9a-fA-F]{1,6})\}|\\x([0-9a-fA-F]{2})")
_NEEDS_DECODE_RE = re.compile(r"&#?\w{1,10};?|%[0-9a-fA-F]{2}|\\u[0-9a-fA-F{]|\\x[0-9a-fA-F]{2}")


def _fence_spans(text: str) -> list[tuple[int, int]]:
    """The matches of ``_FENCE_RE.finditer(text)``, line by line. A fence opens at a
    line of up to three spaces or tabs, a run of three or more backticks or tildes and
    anything up to a newline (the last line opens none); it closes at the end of the
    first later line that holds, after up to three spaces or tabs, exactly that run and
    then only spaces or tabs, or else at the end of the text."""
    spans: list[tuple[int, int]] = []
    size = len(text)
    pos = 0
    # the next "```" and "~~~" at or after pos (-1: none left), searched again once passed
    ticks, tildes = text.find("```"), text.find("~~~")
    while True:
        if 0 <= ticks < pos:
            ticks = text.find("```", pos)
        if 0 <= tildes < pos:
            tildes = text.find("~~~", pos)
        p = min(ticks, tildes) if ticks >= 0 and tildes >= 0 else max(ticks, tildes)
        if p < 0:
            return spans
        line_end = text.find("\n", p)
        if line_end < 0:
            return spans
        line = text.rfind("\n", 0, p) + 1  # pos is a line start or a line's end: a short look back
        if line < pos or p - line > 3 or text[line:p].strip(" \t"):
            pos = line_end + 1  # a later run on this line is not at its start either
            continue
        q = p
        while q < size and text[q] == text[p]:
            q += 1
        run = text[p:q]
        end = size
        start = line_end + 1
        while start < size:
            newline = text.find("\n", start)
            stop = newline if newline >= 0 else size
            body = text[start:stop].lstrip(" \t")
            if stop - start - len(body) <= 3 and body.rstrip(" \t") == run:
                end = stop
                break
            if newline < 0:
                break
            start = newline + 1
        spans.append((line, end))
        pos = end


def _backtick_runs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each maximal run of backticks."""
    runs = []
    size = len(text)
    i = text.find("`")
    while i >= 0:
        j = i + 1
        while j < size and text[j] == "`":
            j += 1
        runs.append((i, j))
        i = text.find("`", j)
    return runs


def _inline_code_spans(text: str, fences: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """The matches of ``_INLINE_CODE_RE.finditer(_blank(text, fences))``, in O(n log n).
    A match starts at a backtick ``i`` inside a run of backticks ending at ``e`` and ends
    with the first later run of exactly ``e - i`` backticks on the same line; where there
    is none, the pattern tries ``i + 1`` (a shorter opening run). The runs inside the
    fences (whole lines) are left out, as blanking them would."""
    runs = _backtick_runs(text)
    if fences:
        inside = iter(fences)
        fence = next(inside, None)
        kept = []
        for run in runs:
            while fence is not None and fence[1] <= run[0]:
                fence = next(inside, None)
            if fence is None or run[1] <= fence[0]:
                kept.append(run)
        runs = kept
    by_length: dict[int, list[int]] = {}
    for index, (start, end) in enumerate(runs):
        by_length.setdefault(end - start, []).append(index)
    spans: list[tuple[int, int]] = []
    index = 0
    line_end = -1
    while index < len(runs):
        start, end = runs[index]
        if end > line_end:  # once per line: many runs on one long line stay linear
            line_end = text.find("\n", end)
            if line_end < 0:
                line_end = len(text)
        for i in range(start, end):
            closers = by_length.get(end - i)
            if closers is None:
                continue
            c = bisect.bisect_right(closers, index)
            if c < len(closers) and runs[closers[c]][0] < line_end:
                closer = closers[c]
                spans.append((i, runs[closer][1]))
                index = closer + 1
                break
        else:
            index += 1
    return spans


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with every character of the spans but newlines made a space."""
    if not spans:
        return text
    parts: list[str] = []
    last = 0
    for start, end in spans:
        parts.append(text[last:start])
        code = text[start:end]
        # every character but newlines made a space (one C call per line)
        parts.append("\n".join(" " * len(line) for line in code.split("\n")) if "\n" in code else " " * len(code))
        last = end
    parts.append(text[last:])
    return "".join(parts)


def code_spans(text: str) -> list[tuple[int, int]]:
    """Where the fenced code blocks and inline code spans of ``text`` are, in order."""
    if "`" not in text and "~~~" not in text:
        return []
    fences = _fence_spans(text)
    inline = _inline_code_spans(text, fences) if "`" in text else []
    return sorted(fences + inline)


def mask_code(text: str) -> str:
    """Blank out fenced code blocks and inline code spans (keeps offsets)."""
    return _blank(text, code_spans(text))


def _unescape_js(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        code = m.group(1) or m.group(2) or m.group(3)
        try:
            return chr(int(code, 16))
        except (ValueError, OverflowError):
            return m.group(0)

    return _ESCAPE_RE.sub(repl, text)


def decode_view(text: str) -> str:
    """HTML entities, percent-encoding and JS escapes decoded, twice (double encoding)."""
    for _ in range(2):
        # Every match of _NEEDS_DECODE_RE starts with "&", "%" or a backslash: three
        # substring tests (memchr) rule most texts out, where the search tries its
        # alternatives at every character.
        if ("&" not in text and "%" not in text and "\\" not in text) or not _NEEDS_DECODE_RE.search(text):
            break
        text = unescape_html(unquote(_unescape_js(text)))
    return text


def _words(view: str, text: ScanText) -> list[str]:
    """The word index of ``view``: the text's own (shared with the other scanners through
    its cache) when ``view`` is its normalised form, as for ASCII answers without code."""
    if view == text.normalized:
        return word_index(text)
    return word_index(ScanText(view, view))


class InsecureOutputScanner(BuiltinScanner):
    """Options: ``mask_code`` (default True): ignore HTML inside markdown code for XSS rules."""

    kind = "insecure_output"
    directions = ("output", "input")
    default_threshold = 0.5

    def __init__(self, *, name: str | None = None, direction: Direction = "output", threshold: float | None = None, mask_code: bool = True) -> None:
        super().__init__(name=name, direction=direction, threshold=threshold)
        self.mask_code = mask_code

    def scan(self, text: ScanText, prompt: ScanText | None = None) -> ScanResult:
        raw = text.raw
        ascii_raw = raw.isascii()
        lowered = raw.lower() if ascii_raw else text.normalized
        if lowered is not text.normalized and lowered == text.normalized:
            lowered = text.normalized  # one object: its word index and Hyperscan scan are shared
        # An ASCII text and its lower case have their code in the same places: found once.
        spans = code_spans(lowered) if self.mask_code else []
        rendered = _blank(lowered, spans)
        weights: dict[str, float] = {}
        threats: set[Threat] = set()
        encoded = False
        views = [(rendered, False)]
        decoded = decode_view(rendered)
        if decoded != rendered:
            views.append((decoded.lower(), True))
        for view, is_decoded in views:
            for hit in HTML_RULES.finditer(view, lambda view=view: _words(view, text)):
                if hit.rule.id not in weights:
                    encoded = encoded or is_decoded
                weights.setdefault(hit.rule.id, hit.rule.weight)
                threats.add(hit.rule.threat)
        for hit in CODE_RULES.finditer(lowered, lambda: _words(lowered, text)):
            weights.setdefault(hit.rule.id, hit.rule.weight)
            threats.add(hit.rule.threat)
        if not self.mask_code:
            masked_raw = raw
        elif ascii_raw:
            masked_raw = _blank(raw, spans)
        else:  # the normalised text (its lower case) may differ in length
            masked_raw = mask_code(raw)
        if "http" in masked_raw and exfiltration_urls(masked_raw, prompt.normalized if prompt else ""):
            weights["image_exfiltration"] = 0.85
            threats.add(EX)
        if not weights:
            return self.result(0.0)
        details: dict[str, str | float | int | bool] = {"rules": len(weights), "encoded": encoded}
        return self.result(noisy_or(weights.values()), threats, "rules: " + ", ".join(sorted(weights)), details=details)
