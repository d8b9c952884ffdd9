"""Tracing: every step as an event in one store that answers queries and replays time."""
