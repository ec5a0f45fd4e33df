"""The JSON depth scan of shared.kit.limits: brackets inside strings do not nest, escapes are
honoured, and text that is not JSON still gets a number (the parser refuses it after)."""

import pytest

from shared.kit.limits import json_depth


@pytest.mark.parametrize("body, depth", [
    (b"", 0),
    (b"42", 0),
    (b'"[[[["', 0),
    (b"[]", 1),
    (b'{"a": [1, {"b": []}]}', 4),
    (b'["\\"[[", ["x"]]', 2),  # an escaped quote does not end the string
    (b'["\\\\", ["x"]]', 2),  # an escaped backslash does
    (b'[["unterminated [[[[', 2),
    (b"]]]]", -1),
    (b"[" * 2000, 2000),
])
def test_json_depth(body: bytes, depth: int):
    assert json_depth(body) == depth
