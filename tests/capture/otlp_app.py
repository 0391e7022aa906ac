"""A tiny OpenAI app with no telemetry code: run under ``opentelemetry-instrument``.

The only test concession is the HTTP transport (the replay, so no network is needed);
everything else is what an ordinary app does.
"""

from __future__ import annotations

import sys

import openai

from otel_llm_security.testing import OpenAIReplay


def main() -> None:
    client = OpenAIReplay().client()
    answer = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        user="customer-7",
    )
    print(answer.choices[0].message.content)
    try:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": sys.argv[1] if len(sys.argv) > 1 else "hello"}],
        )
    except openai.OpenAIError as exc:
        print("refused:", type(exc).__name__)


if __name__ == "__main__":
    main()
