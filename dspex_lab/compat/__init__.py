"""Shims over the private internals of other packages the project relies on, one module each.

Each module names the versions it was checked against and fails loudly (a
test calls every `check()`) when an upgrade moves or removes what it uses, so
the breakage shows in the test suite and not as a silent slowdown or a hang.
"""
