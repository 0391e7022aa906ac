"""The scripted traffic is well formed and the chat app plays it against the fake API."""

from __future__ import annotations

from collections import Counter

from otel_llm_security.demo.app import ChatApp
from otel_llm_security.demo.server import FakeOpenAIServer
from otel_llm_security.demo.traffic import interleaved, responder_for, scenarios


def test_every_scenario_has_its_own_user_and_sessions_are_unique():
    items = scenarios()
    assert len({s.user for s in items}) == len(items)
    sessions = [s.session for s in items if s.session]
    assert len(sessions) == len(set(sessions))
    assert {s.kind for s in items} == {"ordinary", "attack"}
    names = {s.name for s in items}
    for required in (
        "prompt-injection",
        "multi-turn-escalation",
        "xss-bait",
        "token-flood",
        "secret-leak",
        "content-filter",
    ):
        assert required in names
    assert next(s for s in items if s.name == "multi-turn-escalation").session


def test_interleaving_keeps_each_scenarios_order_and_plays_every_turn():
    items = scenarios()
    played = list(interleaved(items))
    assert len(played) == sum(s.requests for s in items)
    for s in items:
        assert [i for sc, i, _ in played if sc is s] == list(range(s.requests))


def test_chat_app_plays_all_traffic_against_the_fake_api():
    items = scenarios()
    with FakeOpenAIServer(responder_for(items)) as server:
        app = ChatApp(server.base_url, server.azure_endpoint)
        try:
            outcomes = Counter()
            for scenario, _, turn in interleaved(items):
                outcome = app.chat(
                    scenario.user, turn.prompt, scenario.session, turn.stream, turn.azure, scenario.model
                )
                outcomes[(scenario.name, outcome.status)] += 1
                if outcome.status == "answered":
                    assert outcome.text == turn.reply.content
        finally:
            app.close()
    assert outcomes[("content-filter", "refused")] == 3
    assert outcomes[("token-flood", "answered")] == 60
    assert not [k for k in outcomes if k[1] in ("error", "blocked")]
    # Multi-turn sessions send their history: the last escalation turn carries all previous turns.
    last = [r for r in server.requests if r["body"]["user"] == "eve@attacker.test"][-1]["body"]
    assert len(last["messages"]) == 1 + 2 * 4 + 1
    azure = [r for r in server.requests if r["deployment"]]
    assert {r["deployment"] for r in azure} == {"prod-gpt-4o"}
