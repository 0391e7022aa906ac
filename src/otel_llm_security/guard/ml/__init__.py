"""Offline ML prompt-injection scanner: MiniLM sentence embeddings in numpy + a small head."""
