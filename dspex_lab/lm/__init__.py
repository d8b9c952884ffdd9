"""LM clients: providers over HTTP, the embedded local model, and the scripted test LM."""
