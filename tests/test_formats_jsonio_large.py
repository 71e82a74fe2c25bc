"""load_json reads a large file with the standard library's parser (a lower peak) only
where it gives what orjson gives: same objects (types included) and the same refusal,
in orjson's words, for everything the two parsers read differently."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from pipeline.formats import jsonio
from pipeline.formats.jsonio import JSONReadError, load_json

CASES = [
    b'{"images": [{"id": 1, "width": 640, "height": 480.0}], "annotations": []}',
    b"[0.1, 1.5, -0.0, -0, 123.456789012345, 1e5, 2.5E-3, 1e308, 5e-324, true, null]",
    b"[9223372036854775807, 9223372036854775808, 18446744073709551615]",
    b"[18446744073709551616]",  # orjson: a float
    b"[-9223372036854775809]",  # orjson: a float
    b"[0.12345678901234567890123]",
    b"[1e400]",  # orjson refuses
    b"[1E400]",  # the same, with a capital exponent
    b'["a\\nb", "c\\\\d"]',  # escapes but no \\u: the standard library may read it
    b"[-1e400]",
    b"[NaN]",
    b"[Infinity]",
    b'["\\ud800"]',  # a lone surrogate: orjson refuses
    b'["\\u00e9t\\u00e9", "\\ud83d\\ude00"]',
    '["caf\u00e9", "\u6f22\u5b57"]'.encode(),
    b"\xef\xbb\xbf[1]",  # a byte order mark
    b'["\xff"]',  # not UTF-8
    b'["\xed\xa0\x80"]',  # an encoded surrogate
    b'{"a": 1, "a": 2}',
    b"[" * 1100 + b"]" * 1100,
    b"[" * 300 + b"]" * 300,
    b'["a\tb"]',  # a raw control character
    b"[1, 2,]",
    b"[01]",
    b"",
    b'{"a": 1} x',
]


def _typed(value):
    if isinstance(value, dict):
        return ("dict", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    if isinstance(value, float):
        return ("float", value.hex())
    return (type(value).__name__, value)


def _read(path: Path):
    try:
        return ("ok", _typed(load_json(path)))
    except JSONReadError as exc:
        return ("refused", str(exc))


@pytest.mark.parametrize("text", CASES)
def test_large_and_small_reading_agree(text, tmp_path, monkeypatch):
    path = tmp_path / "doc.json"
    path.write_bytes(text)
    monkeypatch.setattr(jsonio, "LARGE", 1 << 62)
    orjson_only = _read(path)
    monkeypatch.setattr(jsonio, "LARGE", 0)
    assert _read(path) == orjson_only


def test_a_plain_large_file_is_read_by_the_standard_library(tmp_path, monkeypatch):
    """The test above must exercise the other parser: a plain document takes it."""
    path = tmp_path / "doc.json"
    path.write_bytes(CASES[0])
    monkeypatch.setattr(jsonio, "LARGE", 0)
    used = []
    monkeypatch.setattr(jsonio.json, "loads", lambda *a, **k: used.append(1) or {"x": 1})
    assert load_json(path) == {"x": 1} and used
    assert orjson.loads(CASES[0]) != {"x": 1}
