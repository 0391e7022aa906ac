"""A plain Flask chat app on the OpenAI API, with no observability code at all.

Run it under OpenTelemetry's zero-code launcher and otel-llm-security puts the
security record on every OpenAI call (see README.md next to this file):

    opentelemetry-instrument python app.py

The app only does what a careful app does anyway: it passes the end user's id in the
request's ``user`` field, and the session id as OTel baggage when the client sends one
(``X-Session-Id`` header), so that the security record can tie calls to users and sessions.
"""

from __future__ import annotations

import os

import openai
from flask import Flask, jsonify, request
from opentelemetry import baggage, context

SYSTEM_PROMPT = "You are a helpful assistant for Example Travel & Co. Answer briefly."
MODEL = os.environ.get("CHAT_MODEL", "gpt-4o-mini")

app = Flask(__name__)
# Reads OPENAI_API_KEY and OPENAI_BASE_URL from the environment, as usual.
client = openai.OpenAI(max_retries=1, timeout=30)


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/chat")
def chat():
    body = request.get_json(silent=True) or {}
    message = str(body.get("message") or "").strip()
    user = str(body.get("user") or request.headers.get("X-User-Id") or "anonymous")
    if not message:
        return jsonify(error="'message' is required"), 400
    session = request.headers.get("X-Session-Id")
    token = context.attach(baggage.set_baggage("session.id", session)) if session else None
    try:
        response = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": message}],
            user=user,
        )
    except openai.BadRequestError as exc:
        # Azure OpenAI's content filter refuses with HTTP 400 code "content_filter".
        if exc.code == "content_filter":
            return jsonify(error="This request was refused by the content filter."), 422
        raise
    except openai.OpenAIError as exc:
        # With OTEL_LLM_SECURITY_MODE=enforce a blocked call raises an openai.OpenAIError
        # subclass (otel_llm_security's OpenAIRequestBlocked): the app needs no import of ours.
        return jsonify(error=f"The assistant could not answer ({type(exc).__name__})."), 403
    finally:
        if token is not None:
            context.detach(token)
    return jsonify(answer=response.choices[0].message.content)


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")))
