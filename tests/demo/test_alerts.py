"""Turning a rule's ES|QL result rows into alert rows (rule, severity, user, count, first/last seen)."""

from __future__ import annotations

from datetime import datetime, timezone

from otel_llm_security.demo.alerts import alerts_from_rows, sorted_alerts
from otel_llm_security.demo.display import short_reason


def test_stats_rows_give_one_alert_per_user_with_their_count_and_times():
    rows = [
        {
            "labels.enduser_pseudo_id": "u1",
            "Esql.attempt_count": 3,
            "Esql.prompt_hash_count_distinct": 2,
            "Esql.timestamp_first": "2026-05-04T10:00:00.000Z",
            "Esql.timestamp_last": "2026-05-04T10:05:00.000Z",
        }
    ]
    (alert,) = alerts_from_rows("Repeated injection", "medium", 47, rows)
    assert (alert.user, alert.count) == ("u1", 3)
    assert alert.first_seen == datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)
    assert alert.last_seen == datetime(2026, 5, 4, 10, 5, tzinfo=timezone.utc)


def test_multi_valued_users_each_get_the_alert():
    rows = [{"Esql.conversation_key": "s1", "Esql.turn_count": 5, "Esql.user_values": ["u1", "u2"]}]
    assert sorted(a.user for a in alerts_from_rows("Crescendo", "high", 73, rows)) == ["u1", "u2"]


def test_event_rows_without_stats_are_grouped_per_user():
    rows = [
        {"labels.enduser_pseudo_id": "u1", "@timestamp": "2026-05-04T10:00:00Z"},
        {"labels.enduser_pseudo_id": "u1", "@timestamp": "2026-05-04T10:02:00Z"},
        {"labels.enduser_pseudo_id": "u2", "@timestamp": "2026-05-04T10:01:00Z"},
    ]
    alerts = {a.user: a for a in alerts_from_rows("High confidence", "high", 73, rows)}
    assert alerts["u1"].count == 2 and alerts["u2"].count == 1
    assert alerts["u1"].last_seen == datetime(2026, 5, 4, 10, 2, tzinfo=timezone.utc)


def test_alerts_sort_by_severity_then_risk():
    rows = [{"labels.enduser_pseudo_id": "u", "@timestamp": "2026-05-04T10:00:00Z"}]
    alerts = sorted_alerts(
        [
            type("Run", (), {"alerts": alerts_from_rows("low one", "low", 10, rows)})(),
            type("Run", (), {"alerts": alerts_from_rows("critical one", "critical", 90, rows)})(),
            type("Run", (), {"alerts": alerts_from_rows("high one", "high", 73, rows)})(),
        ]
    )
    assert [a.severity for a in alerts] == ["critical", "high", "low"]


def test_block_reasons_shorten_to_their_threats():
    reason = "input scanner prompt_injection (prompt_injection, system_prompt_leak; score 0.98)"
    assert short_reason(reason) == "prompt_injection, system_prompt_leak"
    assert short_reason("content_filter") == "content_filter"
