"""An app on the classic Elastic APM Python agent, with otel-llm-security.

Apps that already run ``elastic-apm`` (not an OpenTelemetry SDK) get the same security
record: the agent's OpenTelemetry bridge (``elasticapm.contrib.opentelemetry``) turns
the spans our instrumentor makes into agent spans, and the agent sends their
attributes as ``otel.attributes`` over APM intake v2. APM Server (7.16+) runs those
through the same OTel translation as OTLP, so the documents in ``traces-apm-*`` carry
``labels.llm_security_blocked``, ``numeric_labels.gen_ai_usage_input_tokens`` and the
rest, and the detection rules work unchanged.

Run it (the agent reads its usual ``ELASTIC_APM_*`` variables)::

    ELASTIC_APM_SERVER_URL=https://<deployment>.apm.<region>.cloud.es.io:443 \\
    ELASTIC_APM_API_KEY=<key> ELASTIC_APM_SERVICE_NAME=support-bot \\
    OPENAI_API_KEY=<key> OTEL_LLM_SECURITY_MODE=enforce \\
    python examples/elastic-apm-agent/app.py "What is the capital of France?"

Two limits of the bridge (elastic-apm 6.x) to know:

* It implements no span events (``Span.add_event`` raises ``NotImplementedError``), so
  the per-finding ``gen_ai.security.finding`` events cannot travel this way; the flat
  summary on the call's own span (which every rule reads) does. The recorder notices
  the first refused event, skips events on such spans from then on and says so once
  in the ``otel_llm_security`` log (INFO), so the bridge is used as it is.
* It does not register a global tracer provider, so instrumentations must be handed
  one: :class:`BridgeTracerProvider` below.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import elasticapm
from elasticapm.contrib.opentelemetry import Tracer
from opentelemetry import trace


class BridgeTracerProvider(trace.TracerProvider):
    """Hands out the agent's OpenTelemetry bridge tracers to instrumentations."""

    def __init__(self, client: elasticapm.Client) -> None:
        self.client = client

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> trace.Tracer:
        return Tracer(instrumenting_module_name, elasticapm_client=self.client)


def instrument(client: elasticapm.Client, **kwargs: Any) -> Any:
    """Our instrumentor, reporting through the agent. Returns it (call ``uninstrument()`` to undo)."""
    from otel_llm_security.capture.instrumentor import OpenAISecurityInstrumentor

    inst = OpenAISecurityInstrumentor()
    inst.instrument(tracer_provider=BridgeTracerProvider(client), **kwargs)
    return inst


@contextmanager
def request_transaction(client: elasticapm.Client, name: str) -> Iterator[None]:
    """What a web framework integration of the agent does around each request."""
    client.begin_transaction("request")
    outcome = "success"
    try:
        yield
    except Exception:
        outcome = "failure"
        raise
    finally:
        elasticapm.set_transaction_outcome(outcome)
        client.end_transaction(name, "HTTP 2xx" if outcome == "success" else "HTTP 4xx")


def ask(openai_client: Any, question: str, user: str = "example-user") -> str:
    reply = openai_client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question}], user=user
    )
    return reply.choices[0].message.content or ""


def main(argv: Sequence[str] | None = None) -> int:
    import openai

    from otel_llm_security.guard.errors import LLMSecurityBlockedError

    question = " ".join(argv if argv is not None else sys.argv[1:]) or "What is the capital of France?"
    client = elasticapm.Client()  # ELASTIC_APM_SERVER_URL, ELASTIC_APM_SERVICE_NAME, ... from the environment
    inst = instrument(client)
    try:
        with request_transaction(client, "POST /chat"):
            try:
                print(ask(openai.OpenAI(), question))
            except LLMSecurityBlockedError as exc:
                print(f"blocked: {exc}")
    finally:
        inst.uninstrument()
        client.close()  # flushes the agent's queue
    return 0


if __name__ == "__main__":
    sys.exit(main())
