"""ChatAdapter's options under DSPy's names."""

import dspex_lab as dx


def test_dspys_name_for_the_json_fallback_option_is_accepted():
    assert dx.ChatAdapter(use_json_adapter_fallback=False).fallback is None
    assert dx.ChatAdapter(use_json_adapter_fallback=True).fallback is not None
    assert repr(dx.ChatAdapter(use_json_adapter_fallback=False)) == "ChatAdapter(json_fallback=False)"
