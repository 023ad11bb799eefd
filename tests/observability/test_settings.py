"""The observability flags as the CLI parses them (flag, then env, then default), the
request id rules and the route templates that keep metric labels bounded."""

from __future__ import annotations

import pytest

from gateway.__main__ import build_parser
from gateway.config import Settings, StartupError, settings_from_args
from gateway.observability import accept_request_id, route_of, status_class


def _settings(*flags: str) -> Settings:
    return settings_from_args(build_parser().parse_args(["serve", *flags]))


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GATEWAY_METRICS_LISTEN", "GATEWAY_LOG_FORMAT", "GATEWAY_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)


def test_metrics_are_off_in_production_and_on_with_the_simulator() -> None:
    assert _settings().observability.metrics_listen is None
    simulated = _settings("--simulator").observability
    assert (simulated.metrics_listen, simulated.metrics_port_fallback) == ("127.0.0.1:9464", True)
    off = _settings("--simulator", "--metrics-listen", "off").observability
    assert off.metrics_listen is None
    chosen = _settings("--simulator", "--metrics-listen", "0.0.0.0:9100").observability
    assert (chosen.metrics_listen, chosen.metrics_port_fallback) == ("0.0.0.0:9100", False)


def test_the_env_gives_what_no_flag_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_METRICS_LISTEN", "127.0.0.1:9200")
    monkeypatch.setenv("GATEWAY_LOG_FORMAT", "JSON")
    s = _settings()
    assert (s.metrics_listen, s.log_format) == ("127.0.0.1:9200", "json")
    assert _settings("--log-format", "text", "--metrics-listen", "off").observability == \
        type(s.observability)(metrics_listen=None, log_level="INFO", log_format="text")
    monkeypatch.setenv("GATEWAY_METRICS_LISTEN", "9200")
    with pytest.raises(StartupError, match="GATEWAY_METRICS_LISTEN.*--metrics-listen HOST:PORT"):
        _settings()


@pytest.mark.parametrize(("flags", "why"), [
    (["--log-format", "xml"], "argument --log-format: 'xml' is not one of text, json"),
    (["--metrics-listen", "9464"], "argument --metrics-listen: '9464' is not HOST:PORT"),
])
def test_a_bad_value_is_refused_naming_its_flag(
    flags: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        _settings(*flags)
    assert exit_.value.code == 2 and why in capsys.readouterr().err


@pytest.mark.parametrize(("path", "route"), [
    ("/campaigns", "/campaigns"),
    ("/campaigns/cmp_123", "/campaigns/{id}"),
    ("/campaigns/a%2Fb/rows", "/campaigns/{id}/rows"),
    ("/campaigns/cmp_1/export", "/campaigns/{id}/export"),
    ("/campaigns/cmp_1/cancel?x=1", "/campaigns/{id}/cancel"),
    ("/campaigns/cmp_1/rows/extra", "other"),
    ("/campaigns/cmp_1/+14155550100", "other"),
    ("/assistants/asst_1", "other"),
])
def test_routes_are_templates_whatever_the_path_holds(path: str, route: str) -> None:
    assert route_of(path) == route


def test_status_classes() -> None:
    assert [status_class(s) for s in (200, 201, 302, 404, 429, 503, None, 99)] == \
        ["2xx", "2xx", "3xx", "4xx", "4xx", "5xx", "error", "error"]


def test_request_ids_are_kept_only_when_well_formed() -> None:
    assert accept_request_id("a.B-9_z") == ("a.B-9_z", True)
    assert accept_request_id(b"bytes-ok") == ("bytes-ok", True)
    for bad in ("x" * 129, "", "a b", "é", "a\nb", "{}", None):
        made, kept = accept_request_id(bad)
        assert not kept and len(made) == 32 and int(made, 16) >= 0
    assert accept_request_id(None)[0] != accept_request_id(None)[0]
