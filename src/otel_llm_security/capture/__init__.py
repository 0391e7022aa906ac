"""Capture: provider hooks. OpenAI first (:mod:`.instrumentor`)."""
