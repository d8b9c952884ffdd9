"""Evaluation: run a program over a dev set concurrently and score it."""
