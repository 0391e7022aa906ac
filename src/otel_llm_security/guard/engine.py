"""The guard: runs the policy's scanners on a prompt or an output and decides.

Order of work per text: normalise once (:func:`~otel_llm_security.guard.normalize.scan_text`),
run each enabled scanner of that direction with its time budget, turn failed checks into
the policy's actions, and apply the mode. A scanner that raises or overruns its budget
never propagates: its result carries ``error`` and the ``scanner_error`` threat, and the
call is handled per the scanner's ``fail`` setting (``open``: continue with a warning;
``closed``: block).

Built-in scanners run inline (they are linear and take microseconds to a few ms), and
an overrun is detected afterwards; their one-time set-up in the process (a pattern's
first compile: see :mod:`~otel_llm_security.guard.setup_time`) does not count.
Scanners that declare ``isolated = True`` (the llm-guard adapter and the ML scanner,
which can take much longer) run on a small thread pool, and the caller stops waiting
when the budget is spent; each gets one warm-up scan on that pool when it is built.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_llm_security.attributes import ACTION_SEVERITY, Action, Direction, Mode, Threat
from otel_llm_security.guard import setup_time, warm_up
from otel_llm_security.guard.errors import LLMSecurityBlockedError, PolicyError
from otel_llm_security.guard.normalize import scan_text
from otel_llm_security.guard.policy import (
    FailMode,
    Policy,
    ScannerPolicy,
    default_policy,
    load_policy,
    parse_policy,
    policy_from_environment,
)
from otel_llm_security.guard.registry import create_scanner, known_types
from otel_llm_security.guard.scanner import Scanner, ScanResult, ScanText
from otel_llm_security.guard.verdict import Verdict

log = logging.getLogger(__name__)

_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="llm-security-scan")
        return _executor


@dataclass(frozen=True)
class ConfiguredScanner:
    """A scanner plus what the policy says about it."""

    scanner: Scanner
    action: Action
    fail: FailMode
    budget_ms: float

    @property
    def name(self) -> str:
        return self.scanner.name

    @property
    def isolated(self) -> bool:
        return bool(getattr(self.scanner, "isolated", False))

    def __post_init__(self) -> None:
        # Looked up once, not per scan: the bound scan method and whether it runs isolated.
        object.__setattr__(self, "_scan_fn", self.scanner.scan)
        object.__setattr__(self, "_isolated", bool(getattr(self.scanner, "isolated", False)))


class Guard:
    """Scans prompts and outputs per a :class:`~otel_llm_security.guard.policy.Policy`.

    Thread-safe: scanners are pure, and the guard holds no per-call state.
    """

    def __init__(self, policy: Policy, scanners: Sequence[ConfiguredScanner]) -> None:
        self.policy = policy
        self.mode: Mode = policy.mode
        self.input_scanners: tuple[ConfiguredScanner, ...] = tuple(s for s in scanners if s.scanner.direction == "input")
        self.output_scanners: tuple[ConfiguredScanner, ...] = tuple(s for s in scanners if s.scanner.direction == "output")
        # The warm-up thread of start_warm_up() until a scan has waited for it.
        self._warming: threading.Thread | None = None
        # Verdict is frozen: a direction without scanners answers with one shared instance.
        self._empty = {
            d: dataclasses.replace(Verdict.empty(self.mode), direction=d) for d in ("input", "output")
        }

    @property
    def fail_closed(self) -> bool:
        """True when the policy's default is fail-closed (the capture layer uses it when
        the guard as a whole fails, which the engine itself never lets happen)."""
        return self.policy.fail == "closed"

    # --- construction -------------------------------------------------------------
    @classmethod
    def from_policy(cls, policy: Policy | Mapping[str, Any] | str | os.PathLike[str] | None = None) -> Guard:
        """Build from a Policy, a mapping, or a YAML/TOML path (None: the default policy).

        Raises PolicyError naming the key when a scanner type or its options are invalid.
        """
        if policy is None:
            policy = default_policy()
        elif isinstance(policy, (str, Path, os.PathLike)):
            policy = load_policy(policy)
        elif not isinstance(policy, Policy):
            policy = parse_policy(policy)
        configured = []
        for i, entry in enumerate(policy.scanners):
            if not entry.enabled:
                continue
            configured.append(
                ConfiguredScanner(
                    scanner=_build(i, entry),
                    action=entry.action,
                    fail=policy.fail_of(entry),
                    budget_ms=policy.budget_of(entry),
                )
            )
        return cls(policy, configured)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Guard:
        """OTEL_LLM_SECURITY_POLICY (path; default: the shipped fast built-ins),
        OTEL_LLM_SECURITY_MODE, OTEL_LLM_SECURITY_FAIL_CLOSED and per-scanner overrides."""
        return cls.from_policy(policy_from_environment(env))

    def start_warm_up(self) -> threading.Thread | None:
        """Runs the inline scanners' one-time set-up in a daemon thread
        (:mod:`~otel_llm_security.guard.warm_up`; ``instrument()`` calls this; None when
        no thread could be started). A scan that starts while it runs waits for it (at
        most ``warm_up.SCAN_WAIT_S``) instead of doing the same work at the same time."""
        self._warming = warm_up.start_in_background(self)
        return self._warming

    def _wait_for_warm_up(self) -> None:
        warming = self._warming
        if warming is not None:
            warming.join(warm_up.SCAN_WAIT_S)
            self._warming = None

    def prepare(self, timeout: float | None = 300.0) -> list[Any]:
        """Loads or compiles the pattern databases of the scanners now, in the calling
        thread, instead of in the background during the first seconds of traffic (when
        scans take the slower pure-Python path). ``otel-llm-security prepare`` and the
        demo call it. Returns the Hyperscan prefilter groups, each with ``source``
        ("cache" or "compiled"), ``build_ms`` and ``error``; [] when Hyperscan is not
        used here."""
        from otel_llm_security.guard.scanners import hyperscan_prefilter

        if not hyperscan_prefilter.ENABLED:
            return []
        return hyperscan_prefilter.build_all(timeout=timeout)

    # --- scanning -------------------------------------------------------------------
    def scan_input(self, text: str) -> Verdict:
        """Scan a prompt (all its text parts joined). Never raises for scanner failures."""
        return self._scan("input", self.input_scanners, text, None)

    def scan_output(self, text: str, prompt: str = "") -> Verdict:
        """Scan a model output; ``prompt`` is the prompt that produced it."""
        return self._scan("output", self.output_scanners, text, prompt)

    def stream_output_scanner(self, prompt: str = "") -> Callable[[str], Verdict] | None:
        """What a stream scans each window of its output with, in ``enforce`` mode.

        Returns a function ``scan(window) -> Verdict`` that runs only the output
        scanners that can stop delivery (action ``block`` or ``redact``), with the
        prompt normalised once, at the first window (not before the first chunk).
        None in ``monitor`` mode or when no output scanner blocks or redacts: the
        stream's output is then scanned once, when it ends, as always. The whole
        output is still scanned by :meth:`scan_output` when the stream ends.
        """
        if self.mode is not Mode.ENFORCE:
            return None
        scanners = tuple(s for s in self.output_scanners if s.action in (Action.BLOCK, Action.REDACT))
        if not scanners:
            return None
        prompt_text: list[ScanText] = []

        def scan(window: str) -> Verdict:
            started = time.perf_counter()
            if not prompt_text:
                prompt_text.append(scan_text(prompt))
            pst = prompt_text[0]
            st = scan_text(window)
            return self._decide("output", scanners, [_run_one(cs, st, pst) for cs in scanners], st, pst, started)

        return scan

    def check_input(self, text: str) -> Verdict:
        """``scan_input`` that raises LLMSecurityBlockedError when the verdict blocks."""
        verdict = self.scan_input(text)
        if verdict.blocked:
            raise LLMSecurityBlockedError(verdict)
        return verdict

    def check_output(self, text: str, prompt: str = "") -> Verdict:
        verdict = self.scan_output(text, prompt)
        if verdict.blocked:
            raise LLMSecurityBlockedError(verdict)
        return verdict

    def _scan(
        self, direction: Direction, scanners: Sequence[ConfiguredScanner], text: str, prompt: str | None
    ) -> Verdict:
        if not scanners:
            return self._empty[direction]
        if self._warming is not None:
            self._wait_for_warm_up()
        started = time.perf_counter()
        limit = self.policy.max_scan_chars
        st = _sampled_scan_text(text, limit)
        pst = _sampled_scan_text(prompt, limit) if prompt is not None else None
        results = [_run_one(cs, st, pst) for cs in scanners]
        return self._decide(direction, scanners, results, st, pst, started)

    def _decide(
        self,
        direction: Direction,
        scanners: Sequence[ConfiguredScanner],
        results: list[tuple[ScanResult, float | None]],
        st: ScanText,
        pst: ScanText | None,
        started: float,
    ) -> Verdict:
        action = Action.ALLOW
        reasons: list[str] = []
        redactors: list[tuple[ConfiguredScanner, ScanResult]] = []
        final: list[ScanResult] = []
        allow = Action.ALLOW
        for cs, (res, elapsed) in zip(scanners, results, strict=True):
            if res.passed and not res.error:  # the common case: nothing to decide
                # _finish's first case, inline (it runs for most scanners of every scan)
                if elapsed is not None and type(res) is ScanResult:
                    state = res.__dict__
                    if state.get("action", 0) is None and state.get("duration_ms") == 0.0:
                        state["duration_ms"] = elapsed
                        state["action"] = allow
                        final.append(res)
                        continue
                final.append(_finish(res, elapsed, allow))
                continue
            taken = Action.ALLOW
            if res.error:
                taken = Action.BLOCK if cs.fail == "closed" else Action.WARN
                if not res.passed and cs.fail == "open":
                    taken = _stronger(taken, cs.action)
                    if taken is Action.REDACT:
                        # An inline scanner that overran its budget still found something
                        # and may hold the redacted text: send that, as on time; without
                        # it (or on a sample) block, as on time. Never record "redact"
                        # and send the original.
                        if res.sanitized is not None and st.original_length is None:
                            redactors.append((cs, res))
                        else:
                            taken = Action.BLOCK
                if taken is Action.BLOCK:
                    reasons.append(f"{direction} scanner {cs.name} failed closed ({res.error})")
            elif not res.passed:
                taken = cs.action
                sampled = st.original_length is not None
                if taken is Action.REDACT and (res.sanitized is None or sampled):
                    # The scanner cannot redact what it found (or saw only a sample, and
                    # redacting that would send a truncated text): the safe reading is block.
                    taken = Action.BLOCK
                if taken is Action.BLOCK:
                    why = f"{', '.join(res.threats) or 'risk'}; score {res.score:.2f}"
                    if sampled and cs.action is Action.REDACT:
                        why += f"; text over {self.policy.max_scan_chars} chars cannot be redacted"
                    reasons.append(f"{direction} scanner {cs.name} ({why})")
                elif taken is Action.REDACT:
                    redactors.append((cs, res))
            action = _stronger(action, taken)
            # One copy per result: the scanner's own result with the time it took and
            # what the policy did about it (failed results already carry their time).
            final.append(_finish(res, elapsed, taken))
        enforce = self.mode is Mode.ENFORCE
        sanitized = None
        if enforce and action is Action.REDACT and redactors:
            sanitized = _apply_redactions(redactors, st, pst)
            action, sanitized = self._recheck(direction, scanners, final, reasons, sanitized, pst)
        blocked = enforce and action is Action.BLOCK
        return _verdict(
            self.mode,
            action,
            blocked,
            "; ".join(reasons) if action is Action.BLOCK else "",
            tuple(final),
            sanitized,
            (time.perf_counter() - started) * 1000.0,
            direction,
        )

    def _recheck(
        self,
        direction: Direction,
        scanners: Sequence[ConfiguredScanner],
        final: list[ScanResult],
        reasons: list[str],
        sanitized: str,
        pst: ScanText | None,
    ) -> tuple[Action, str | None]:
        """The redacted text is what the model gets: the scanners that passed the original
        scan it too (a redaction can put something back together: stripping a zero-width
        space joins the two halves of a key). One that fails now acts as the policy says
        (its result replaces the passing one in ``final``); at most three rounds.
        Returns the action and the text to send (None when it is blocked)."""
        action = Action.REDACT
        for _ in range(3):
            st = scan_text(sanitized)
            changed = False
            for i, cs in enumerate(scanners):
                if not final[i].passed or final[i].error:
                    continue
                res, elapsed = _run_one(cs, st, pst)
                if res.error:
                    if cs.fail == "closed":  # as in the first scan: no verdict, no text sent
                        reasons.append(f"{direction} scanner {cs.name} failed closed after redaction ({res.error})")
                        final[i] = _evolve(res, action=Action.BLOCK)
                        return Action.BLOCK, None
                    continue
                if res.passed:
                    continue
                taken = cs.action
                if taken is Action.REDACT and res.sanitized is None:
                    taken = Action.BLOCK
                if taken is Action.REDACT:
                    sanitized = res.sanitized  # type: ignore[assignment]
                    changed = True
                elif taken is Action.BLOCK:
                    reasons.append(f"{direction} scanner {cs.name} after redaction ({', '.join(res.threats) or 'risk'}; score {res.score:.2f})")
                final[i] = _evolve(_finish(res, elapsed, taken), reason=f"after redaction: {res.reason}")
                action = _stronger(action, taken)
            if action is Action.BLOCK:
                return action, None
            if not changed:
                break
        return action, sanitized

    def __repr__(self) -> str:
        names = [f"{s.scanner.direction}:{s.name}" for s in (*self.input_scanners, *self.output_scanners)]
        return f"Guard(mode={self.mode.value}, policy={self.policy.id!r}, scanners={names})"


def _verdict(
    mode: Mode,
    action: Action,
    blocked: bool,
    block_reason: str,
    results: tuple[ScanResult, ...],
    sanitized_text: str | None,
    duration_ms: float,
    direction: Direction,
) -> Verdict:
    """``Verdict(...)`` made through its instance dict, fields in their order (the frozen
    dataclass's ``__init__`` sets each with ``object.__setattr__``: ~4x the cost, paid
    twice per call)."""
    verdict = object.__new__(Verdict)
    state = verdict.__dict__
    state["mode"] = mode
    state["action"] = action
    state["blocked"] = blocked
    state["block_reason"] = block_reason
    state["results"] = results
    state["sanitized_text"] = sanitized_text
    state["duration_ms"] = duration_ms
    state["direction"] = direction
    return verdict


def _stronger(a: Action, b: Action) -> Action:
    return a if ACTION_SEVERITY[a] >= ACTION_SEVERITY[b] else b


def _build(index: int, entry: ScannerPolicy) -> Scanner:
    key = f"scanners[{index}]"
    try:
        scanner = create_scanner(
            entry.type,
            name=entry.resolved_name,
            direction=entry.direction,
            threshold=entry.threshold,
            options=dict(entry.options),
        )
    except KeyError:
        raise PolicyError(f"{key}.type: unknown scanner type {entry.type!r} (known: {', '.join(known_types())})") from None
    except PolicyError:
        raise
    except ImportError as exc:
        raise PolicyError(f"{key}.type: {entry.type!r} needs a package that is not installed: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"{key}.options: {exc}") from None
    if entry.action is Action.REDACT and not getattr(scanner, "can_redact", False):
        raise PolicyError(f"{key}.action: scanner {entry.resolved_name!r} cannot redact; use warn or block")
    if getattr(scanner, "isolated", False):
        _pool().submit(warm_up.warm_up_scanner, scanner)
    return scanner


def _failed_result(cs: ConfiguredScanner, error: str, duration_ms: float, partial: ScanResult | None) -> ScanResult:
    threats = tuple(sorted({*(partial.threats if partial else ()), Threat.SCANNER_ERROR.value}))
    closed = cs.fail == "closed"
    if partial is not None and not closed:  # finished late: keep what it found
        return dataclasses.replace(partial, threats=threats, error=error, duration_ms=duration_ms)
    return ScanResult(
        scanner=cs.name,
        direction=cs.scanner.direction,
        score=1.0 if closed else 0.0,
        passed=not closed,
        threats=threats,
        reason=f"failed {cs.fail}: {error}",
        error=error,
        duration_ms=duration_ms,
    )


def _finish(res: ScanResult, elapsed: float | None, action: Action) -> ScanResult:
    """The result as the verdict holds it: with its duration (None: it has one already)
    and the action taken. A result the scanner has just built (no action yet, no
    duration: what every built-in scanner returns) is completed in place, since nothing
    else holds it yet; any other is copied."""
    state = getattr(res, "__dict__", None)
    if elapsed is not None and state is not None and state.get("action", 0) is None and state.get("duration_ms") == 0.0 and type(res) is ScanResult:
        state["duration_ms"] = elapsed
        state["action"] = action
        return res
    return _evolve(res, action=action) if elapsed is None else _evolve(res, duration_ms=elapsed, action=action)


def _evolve(res: ScanResult, **changes: Any) -> ScanResult:
    """``dataclasses.replace`` for the per-scanner results of every scan, at a fraction
    of its cost (it re-runs ``__init__`` through field introspection): a copy of the
    instance dict with ``changes`` applied. Falls back to ``replace`` for result types
    without a plain ``__dict__``."""
    try:
        state = res.__dict__
    except AttributeError:
        return dataclasses.replace(res, **changes)
    new = object.__new__(type(res))
    new.__dict__.update(state, **changes)
    return new


def _run_one(cs: ConfiguredScanner, st: ScanText, pst: ScanText | None) -> tuple[ScanResult, float | None]:
    """The scanner's result and its duration in ms; a failed scanner's result already
    carries its duration (None then)."""
    t0 = time.perf_counter()
    try:
        if cs._isolated:  # type: ignore[attr-defined]
            future = _pool().submit(cs.scanner.scan, st, pst)
            try:
                res = future.result(timeout=cs.budget_ms / 1000.0)
            except concurrent.futures.TimeoutError:
                future.cancel()
                return _failed_result(cs, "timeout", (time.perf_counter() - t0) * 1000.0, None), None
        else:
            res = cs._scan_fn(st, pst)  # type: ignore[attr-defined]
    except Exception as exc:  # a scanner bug must never break the app's call
        log.warning("scanner %s raised %s", cs.name, type(exc).__name__, exc_info=log.isEnabledFor(logging.DEBUG))
        return _failed_result(cs, type(exc).__name__, (time.perf_counter() - t0) * 1000.0, None), None
    elapsed = (time.perf_counter() - t0) * 1000.0
    if elapsed > cs.budget_ms and elapsed - setup_time.spent_since(t0) * 1000.0 > cs.budget_ms:
        return _failed_result(cs, "timeout", elapsed, res), None
    return res, elapsed


def _sampled_scan_text(text: str, limit: int) -> ScanText:
    """scan_text of ``text``, or of its first 3/4 and last 1/4 of ``limit`` characters
    when it is longer (injections sit at the start or the end of a pasted document far
    more often than in its middle; the sample keeps both ends)."""
    if len(text) <= limit:
        return scan_text(text)
    head = limit * 3 // 4
    sample = text[:head] + "\n" + text[len(text) - (limit - head) :]
    return dataclasses.replace(scan_text(sample), original_length=len(text))


def _apply_redactions(
    redactors: list[tuple[ConfiguredScanner, ScanResult]], st: ScanText, pst: ScanText | None
) -> str:
    """Chain redactions: the first from its result, the next ones re-run on the redacted text."""
    first = redactors[0][1].sanitized
    assert first is not None
    current = first
    for cs, _ in redactors[1:]:
        try:
            again = cs.scanner.scan(scan_text(current), pst)
        except Exception:  # already redacted by at least one scanner; keep that
            continue
        if not again.passed and again.sanitized is not None:
            current = again.sanitized
    return current
