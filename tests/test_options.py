"""The one check for numeric options: finite, in range, whole where counted; a bool or a string is not a number."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dspex_lab.options import check_number


def test_good_values_come_back_as_floats_or_ints():
    assert check_number("timeout", 2) == 2.0
    assert isinstance(check_number("timeout", 2), float)
    assert check_number("num_retries", 3.0, integer=True) == 3
    assert isinstance(check_number("num_retries", np.int64(3), integer=True), int)
    assert check_number("rpm", None, optional=True) is None


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float64("nan")])
def test_nan_and_infinity_are_never_accepted_as_no_limit(bad):
    with pytest.raises(ValueError, match=r"timeout must be a finite number of seconds > 0, got"):
        check_number("timeout", bad, above=0, unit="seconds")


@pytest.mark.parametrize("bad", [True, "3", b"3", [3], None])
def test_bools_strings_and_none_are_not_numbers(bad):
    with pytest.raises(TypeError, match=rf"num_retries must be a whole number >= 0, got .* \({type(bad).__name__}\)"):
        check_number("num_retries", bad, minimum=0, integer=True)


def test_the_message_names_the_argument_the_value_and_what_is_accepted():
    with pytest.raises(ValueError, match=r"^num_retries must be a whole number >= 0, got 1.5 \(not a whole number\)$"):
        check_number("num_retries", 1.5, minimum=0, integer=True)
    with pytest.raises(ValueError, match=r"^circuit_wait must be a finite number of seconds >= 0, got -1$"):
        check_number("circuit_wait", -1, minimum=0, unit="seconds")
    with pytest.raises(ValueError, match=r"^rpm must be a finite number of requests per minute > 0 or None, got 0$"):
        check_number("rpm", 0, above=0, optional=True, unit="requests per minute")
    with pytest.raises(ValueError, match=r"^temperature must be a finite number >= 0 and <= 2, got 3$"):
        check_number("temperature", 3, minimum=0, maximum=2)
