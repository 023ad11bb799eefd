"""``revox-gateway serve`` refuses a configuration that cannot work with one line.

Why: an operator who mistyped a flag, or started a second gateway on a busy port, used to
get a 20-line traceback ending in grpc's "Failed to bind ... set GRPC_VERBOSITY=debug".
Each case here runs the real CLI process and asserts the contract: exit status 2, exactly
one line on stderr naming the cause and the flag that fixes it, no traceback, nothing on
stdout (no banner: nothing was served).
"""

from __future__ import annotations

import datetime
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.app import Gateway
from gateway.config import StartupError
from gateway.simulator import Simulator


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without the gateway's own variables, so the machine's settings do
    not leak into a case; plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "REVOX_"))}
    return {**env, **extra}


def _refused(tmp_path: Path, *flags: str, env: dict[str, str] | None = None) -> str:
    """Run ``serve`` with ``flags``; assert the one-line refusal and return the line."""
    database = ["--database", f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}"]
    if any(flag.startswith("--database") for flag in flags):
        database = []
    listen = [] if "--listen" in flags else ["--listen", "127.0.0.1:0"]
    out = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", *listen, *database, *flags],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env or _clean_env(),
    )
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("revox-gateway"), lines[0]
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another server listens on, with SO_REUSEPORT set as grpc sets it by default:
    a second grpc server would silently share it."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_busy_port_names_the_port_and_the_listen_flag(tmp_path: Path, busy_port: int) -> None:
    line = _refused(tmp_path, "--listen", f"127.0.0.1:{busy_port}")
    assert line == (f"revox-gateway: port {busy_port} on 127.0.0.1 is in use (another "
                    "gateway?); choose another with --listen HOST:PORT")
    assert not (tmp_path / "gw.db").exists()  # refused before anything started


def test_a_busy_webhook_port_names_its_flag(tmp_path: Path, busy_port: int) -> None:
    line = _refused(tmp_path, "--webhook-listen", f"127.0.0.1:{busy_port}")
    assert "is in use" in line and "--webhook-listen HOST:PORT" in line


async def test_a_second_gateway_in_process_does_not_share_the_port(
    start_gateway: Callable[..., Gateway], upstream: Simulator
) -> None:
    """Behind the pre-check, grpc itself must refuse the port (SO_REUSEPORT off), still
    with the one-line error rather than grpc's RuntimeError."""
    async with start_gateway() as first:
        second = start_gateway(listen=first.address)
        with pytest.raises(StartupError, match="--listen"):
            async with second:
                pass


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--listen", "localhost"], "argument --listen: 'localhost' is not HOST:PORT"),
        (["--listen", "192.0.2.1:50051"], "192.0.2.1 is not an address of this machine"),
        (["--upstream-url", "localhost:8765"], "argument --upstream-url: 'localhost:8765' "
                                               "is not an http:// or https:// URL"),
        (["--upstream-url", "http://"], "argument --upstream-url:"),
        (["--cache-ttl", "soon"], "argument --cache-ttl: 'soon' is not a number"),
        (["--poll-interval", "0"], "argument --poll-interval: '0' is not a number > 0"),
        (["--log-level", "loud"], "argument --log-level: 'loud' is not one of DEBUG"),
        (["--simulator-seed", "x"], "argument --simulator-seed: 'x' is not an integer"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--max-poll-interval", "1"], "--max-poll-interval 1 is below --poll-interval 2"),
    ],
)
def test_a_bad_flag_value_is_one_line_naming_the_flag(
    tmp_path: Path, flags: list[str], expected: str
) -> None:
    assert expected in _refused(tmp_path, *flags)


def test_a_bad_env_value_names_the_variable_and_the_flag(tmp_path: Path) -> None:
    line = _refused(tmp_path, env=_clean_env(GATEWAY_CACHE_TTL="soon"))
    assert line.startswith("revox-gateway: env GATEWAY_CACHE_TTL='soon'")
    assert "--cache-ttl SECONDS" in line


def test_a_bad_upstream_url_env_value_names_it_and_never_the_key(tmp_path: Path) -> None:
    env = _clean_env(REVOX_API_KEY="sk_live_do_not_print", REVOX_BASE_URL="getrevox.com/api")
    line = _refused(tmp_path, env=env)
    assert "env REVOX_BASE_URL='getrevox.com/api'" in line and "--upstream-url URL" in line
    assert "sk_live_do_not_print" not in line


def _sqlite(path: Path) -> str:
    return f"--database=sqlite+aiosqlite:///{path}"


def test_a_database_in_a_missing_directory(tmp_path: Path) -> None:
    line = _refused(tmp_path, _sqlite(tmp_path / "nowhere" / "gw.db"))
    assert f"directory {tmp_path / 'nowhere'} of --database" in line
    assert "does not exist" in line and "choose another --database" in line


def test_a_database_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a directory")
    line = _refused(tmp_path, _sqlite(tmp_path / "plain" / "gw.db"))
    assert f"{tmp_path / 'plain'} is a file, not a directory" in line and "--database" in line


def test_a_database_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    line = _refused(tmp_path, _sqlite(tmp_path / "dir.db"))
    assert "--database" in line and "is a directory" in line


def test_a_database_that_is_not_sqlite(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("hello")
    line = _refused(tmp_path, _sqlite(tmp_path / "notes.db"))
    assert "is not a SQLite database" in line and "--database" in line


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nonsense", "is not a database URL"),
        ("sqlite:///gw.db", "names a synchronous driver"),
        ("sqlite+aiosqlite:///:memory:", "in-memory SQLite"),
    ],
)
def test_a_database_url_that_cannot_work(tmp_path: Path, url: str, expected: str) -> None:
    line = _refused(tmp_path, f"--database={url}")
    assert expected in line and "--database" in line


def test_a_simulator_state_in_a_missing_directory(tmp_path: Path) -> None:
    line = _refused(tmp_path, "--simulator", "--simulator-state",
                    str(tmp_path / "nowhere" / "sim.db"))
    assert "--simulator-state" in line and "does not exist" in line


# --- TLS files ------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path
    other_key: Path
    garbage: Path


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = _self_signed(directory, "server")
    _, other_key = _self_signed(directory, "other")
    garbage = directory / "garbage.pem"
    garbage.write_bytes(b"\x00\xffnot PEM at all\n")
    return Tls(cert, key, other_key, garbage)


def test_tls_cert_missing(tmp_path: Path, tls: Tls) -> None:
    line = _refused(tmp_path, "--tls-cert", str(tmp_path / "absent.crt"), "--tls-key",
                    str(tls.key))
    assert f"cannot read --tls-cert {tmp_path / 'absent.crt'} (No such file or directory)" \
        in line


def test_tls_cert_unreadable(tmp_path: Path, tls: Tls) -> None:
    """A directory stands for an unreadable file (root reads any mode-000 file)."""
    line = _refused(tmp_path, "--tls-cert", str(tmp_path), "--tls-key", str(tls.key))
    assert f"cannot read --tls-cert {tmp_path}" in line


def test_tls_cert_garbage(tmp_path: Path, tls: Tls) -> None:
    line = _refused(tmp_path, "--tls-cert", str(tls.garbage), "--tls-key", str(tls.key))
    assert f"--tls-cert {tls.garbage} holds no PEM certificate" in line


def test_tls_key_garbage(tmp_path: Path, tls: Tls) -> None:
    line = _refused(tmp_path, "--tls-cert", str(tls.cert), "--tls-key", str(tls.garbage))
    assert f"--tls-key {tls.garbage} holds no PEM private key" in line


def test_tls_key_of_another_certificate(tmp_path: Path, tls: Tls) -> None:
    line = _refused(tmp_path, "--tls-cert", str(tls.cert), "--tls-key", str(tls.other_key))
    assert f"--tls-key {tls.other_key} is not the key of the certificate in --tls-cert" in line


def test_tls_cert_without_its_key(tmp_path: Path, tls: Tls) -> None:
    line = _refused(tmp_path, "--tls-cert", str(tls.cert))
    assert "holds no private key of its certificate; give the key with --tls-key" in line


def test_tls_client_ca_garbage(tmp_path: Path, tls: Tls) -> None:
    line = _refused(tmp_path, "--tls-cert", str(tls.cert), "--tls-key", str(tls.key),
                    "--tls-client-ca", str(tls.garbage))
    assert f"--tls-client-ca {tls.garbage} holds no PEM certificate" in line


def test_tls_client_ca_empty(tmp_path: Path, tls: Tls) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    line = _refused(tmp_path, "--tls-cert", str(tls.cert), "--tls-key", str(tls.key),
                    "--tls-client-ca", str(empty))
    assert f"--tls-client-ca {empty} is empty" in line


@pytest.mark.parametrize("flag", ["--tls-key", "--tls-client-ca"])
def test_tls_files_without_a_certificate(tmp_path: Path, tls: Tls, flag: str) -> None:
    line = _refused(tmp_path, flag, str(tls.key))
    assert f"{flag} needs --tls-cert" in line
