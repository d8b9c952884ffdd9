"""llama-cpp-python's `Llama.n_tokens` and `Llama.input_ids`: the tokens in the model's KV cache.

The embedded model reuses the previous prompt's prefix by telling llama-cpp-
python how many of its cached tokens are still valid (`n_tokens`) and reads
back the prompt tokens it evaluated (`input_ids`, a numpy array). Both are
undocumented attributes of `Llama`; checked with llama-cpp-python 0.3.8
through 0.3.36.
"""

from __future__ import annotations

from typing import Any

CHECKED = ((0, 3, 8), (0, 3, 36))
"""The llama-cpp-python versions (oldest, newest) this shim was checked against."""


def keep_cached_tokens(llama: Any, count: int) -> None:
    """Mark the first `count` tokens of the model's cache as still valid for the next prompt."""
    llama.n_tokens = count


def evaluated_token_count(llama: Any) -> int:
    """How many tokens the model's cache holds now (prompt and generated)."""
    return int(llama.n_tokens)


def evaluated_tokens(llama: Any, count: int) -> list[int]:
    """The first `count` tokens of the prompt the model last evaluated."""
    return list(llama.input_ids[:count].tolist())


def check() -> None:
    """Raise when the installed llama-cpp-python no longer has the attributes this shim uses."""
    import inspect
    from importlib.metadata import version

    import llama_cpp

    installed = version("llama-cpp-python")
    source = inspect.getsource(llama_cpp.Llama)
    missing = [name for name in ("self.n_tokens", "self.input_ids") if name not in source]
    if missing:
        raise AssertionError(
            f"llama-cpp-python {installed} no longer has Llama attributes {missing} (checked up to "
            f"{'.'.join(map(str, CHECKED[1]))}): update dspex_lab/compat/llama_cache.py"
        )
