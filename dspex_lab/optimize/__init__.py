"""Optimizers (teleprompters) that compile programs from data."""
