"""A caller's repr, the one that would reach a log line or a traceback, hides its key."""

from __future__ import annotations

from gateway.service import Caller

KEY = "sk_live_do_not_print_me"


def test_a_callers_repr_names_its_tenant_and_never_its_key() -> None:
    caller = Caller(api_key=KEY, tenant="0123456789abcdef")
    for text in (repr(caller), str(caller), f"{caller!r}", repr([caller])):
        assert KEY not in text and "sk_" not in text
    assert repr(caller) == "Caller(tenant=01234567…)"
