"""The gate's rules, for callers the loopback tests cannot be: other machines."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.access import Gate
from qa.errors import Forbidden, RateLimited
from qa.keys import KeyStore


def test_without_keys_only_loopback_callers_are_answered_unless_opened(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys.sqlite")
    closed = Gate(keys, "600/minute")
    assert closed.admit(None, "write", "127.0.0.1").name == "anonymous"
    assert closed.admit(None, "read", "::1").name == "anonymous"
    with pytest.raises(Forbidden, match="qa keys create"):
        closed.admit(None, "read", "203.0.113.9")
    opened = Gate(keys, "2/minute", open_to_all=True)
    opened.admit(None, "read", "203.0.113.9")
    opened.admit(None, "read", "203.0.113.9")
    with pytest.raises(RateLimited):  # opened without keys: still one limit per address
        opened.admit(None, "read", "203.0.113.9")
    assert not (tmp_path / "keys.sqlite").exists()  # asking created no file


def test_from_the_first_key_on_a_key_is_needed_from_anywhere(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys.sqlite")
    _, token = keys.create("bot", "read")
    gate = Gate(keys, "600/minute", open_to_all=True)
    assert gate.admit(token, "read", "203.0.113.9").name == "bot"
    with pytest.raises(Forbidden, match="needs write"):
        gate.admit(token, "write", "127.0.0.1")
    assert keys.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
