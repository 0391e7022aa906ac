"""Detection rules as Elastic detection-rules TOML files: loading and window arithmetic."""

from __future__ import annotations

import datetime as dt
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# rules/ at the repository root, reached through the package so wheels carry it too:
# rules/builtin is a symlink to ../../../rules, copied into the wheel as package data.
RULES_DIR = Path(__file__).resolve().parent / "builtin"

_DATE_MATH = re.compile(r"^now-(\d+)([smhd])$")
_INTERVAL = re.compile(r"^(\d+)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class RuleLoadError(ValueError):
    """A rule file that is not valid TOML or lacks the [metadata]/[rule] tables."""


def parse_date_math(value: str) -> dt.timedelta:
    """Kibana ``from`` (``now-24h``) → the look-back as a timedelta."""
    m = _DATE_MATH.match(value.strip())
    if not m:
        raise ValueError(f"'from' must look like now-<n><s|m|h|d>, got {value!r}")
    return dt.timedelta(seconds=int(m.group(1)) * _SECONDS[m.group(2)])


def parse_interval(value: str) -> dt.timedelta:
    """Kibana ``interval`` (``10m``) → timedelta."""
    m = _INTERVAL.match(value.strip())
    if not m:
        raise ValueError(f"'interval' must look like <n><s|m|h|d>, got {value!r}")
    return dt.timedelta(seconds=int(m.group(1)) * _SECONDS[m.group(2)])


@dataclass
class Rule:
    path: Path
    metadata: dict[str, Any]
    rule: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.rule.get("name", self.path.stem))

    @property
    def rule_id(self) -> str:
        return str(self.rule.get("rule_id", ""))

    @property
    def query(self) -> str:
        return str(self.rule.get("query", ""))

    @property
    def tags(self) -> list[str]:
        return list(self.rule.get("tags", []))

    def tag_values(self, prefix: str) -> list[str]:
        return [t.split(":", 1)[1].strip() for t in self.tags if t.startswith(prefix + ":")]

    @property
    def lookback(self) -> dt.timedelta:
        return parse_date_math(str(self.rule.get("from", "now-6m")))

    @property
    def interval(self) -> dt.timedelta:
        return parse_interval(str(self.rule.get("interval", "5m")))

    def time_range(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The @timestamp range one execution at ``now`` covers (Kibana's from/to filter)."""
        return now - self.lookback, now


def load_rule(path: Path) -> Rule:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RuleLoadError(f"{path}: {exc}") from exc
    if not isinstance(data.get("metadata"), dict) or not isinstance(data.get("rule"), dict):
        raise RuleLoadError(f"{path}: needs [metadata] and [rule] tables")
    return Rule(path=path, metadata=data["metadata"], rule=data["rule"])


def rule_files(paths: list[Path] | None = None) -> list[Path]:
    """TOML files under the given files/directories (default: the repository's rules/)."""
    out: list[Path] = []
    for p in paths or [RULES_DIR]:
        if p.is_dir():
            out.extend(sorted(p.glob("*.toml")))
        elif p.is_file():
            out.append(p)
        else:
            # e.g. an installed package without the repository's rules/ next to it: say so
            # rather than run zero rules and report zero alerts.
            raise RuleLoadError(f"no rule file or directory at {p}: give the path of the rules/ directory")
    return out


def load_rules(paths: list[Path] | None = None) -> list[Rule]:
    return [load_rule(p) for p in rule_files(paths)]


def find_rule(key: str, paths: list[Path] | None = None) -> Rule:
    """A rule by file path, file stem, rule_id or exact name."""
    p = Path(key)
    if p.suffix == ".toml" and p.exists():
        return load_rule(p)
    for rule in load_rules(paths):
        if key in (rule.path.stem, rule.rule_id, rule.name):
            return rule
    raise KeyError(f"no rule named {key!r} (give a file, its stem, a rule_id or the rule name)")
