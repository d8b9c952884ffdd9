"""Real parts for tests, notebooks and benchmarks (the loopback provider server)."""
