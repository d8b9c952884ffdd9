"""Adapters turn a signature, demos and inputs into LM messages, and LM replies into fields."""
