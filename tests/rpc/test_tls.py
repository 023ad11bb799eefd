"""TLS and mutual TLS (``--tls-cert``, ``--tls-key``, ``--tls-client-ca``) over a real port.

Why: these flags decide who may talk to the gateway and whether API keys cross the wire in
clear. A mistake here fails *open* (a plaintext listener, or mTLS that lets anyone in), and
nothing else in the suite would notice, because every other test dials a plaintext port. So
each test here dials the real listener with a real TLS client and asserts both sides: the
right credentials are served, the wrong ones are refused before any rpc runs.

A throw-away PKI (a CA, a server certificate for 127.0.0.1 and localhost, a client
certificate, and a second CA with its own client) is minted once per session with
``cryptography``; nothing is read from the machine's trust store.
"""

from __future__ import annotations

import datetime
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.app import Gateway
from gateway.simulator import Simulator
from generated.revox.campaigns.v1 import campaign_service_pb2 as pb
from generated.revox.campaigns.v1 import campaign_service_pb2_grpc

from ..support import auth, create_request

StartGateway = Callable[..., Gateway]
# A refused handshake is answered at once; the deadline only bounds a regression that hangs.
_REFUSAL_DEADLINE = 10.0


@dataclass(frozen=True)
class Identity:
    """A certificate and its key, as PEM bytes and as files."""

    cert: bytes
    key: bytes
    cert_path: Path
    key_path: Path


@dataclass(frozen=True)
class Pki:
    ca: Identity
    server: Identity
    client: Identity
    other_ca: Identity
    stranger: Identity  # a client certificate signed by other_ca


def _issue(
    directory: Path,
    name: str,
    *,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    server: bool = False,
) -> tuple[Identity, x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    is_ca = issuer is None
    signer_cert, signer_key = (None, key) if issuer is None else issuer
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if signer_cert is None else signer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    cert = builder.sign(signer_key, hashes.SHA256())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(key_pem)
    return Identity(cert_pem, key_pem, cert_path, key_path), cert, key


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca, ca_cert, ca_key = _issue(directory, "test-ca")
    server, _, _ = _issue(directory, "gateway", issuer=(ca_cert, ca_key), server=True)
    client, _, _ = _issue(directory, "client", issuer=(ca_cert, ca_key))
    other_ca, other_cert, other_key = _issue(directory, "other-ca")
    stranger, _, _ = _issue(directory, "stranger", issuer=(other_cert, other_key))
    return Pki(ca=ca, server=server, client=client, other_ca=other_ca, stranger=stranger)


def _credentials(trust: Identity, client: Identity | None = None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=trust.cert,
        private_key=client.key if client else None,
        certificate_chain=client.cert if client else None,
    )


async def _health(channel: grpc.aio.Channel, timeout: float | None = None) -> int:
    answer = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(), timeout=timeout
    )
    return answer.status


async def _refused(channel: grpc.aio.Channel) -> grpc.StatusCode:
    """The code of a health check that must not be served on ``channel``."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _health(channel, timeout=_REFUSAL_DEADLINE)
    return info.value.code()


async def _create_then_get(channel: grpc.aio.Channel) -> None:
    stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
    created = await stub.CreateCampaign(create_request(2), metadata=auth())
    got = await stub.GetCampaign(pb.GetCampaignRequest(id=created.id), metadata=auth())
    assert got.id == created.id and got.row_stats.total == 2


# --- TLS ------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_tls_serves_a_client_that_trusts_the_ca(
    start_gateway: StartGateway, upstream: Simulator, pki: Pki, host: str
) -> None:
    async with start_gateway(tls_cert=pki.server.cert_path, tls_key=pki.server.key_path) as gw:
        # The server certificate names both 127.0.0.1 (IP SAN) and localhost (DNS SAN).
        target = f"{host}:{gw.port}"
        async with grpc.aio.secure_channel(target, _credentials(pki.ca)) as channel:
            assert await _health(channel) == health_pb2.HealthCheckResponse.SERVING
            await _create_then_get(channel)


async def test_tls_port_does_not_speak_plaintext(
    start_gateway: StartGateway, upstream: Simulator, pki: Pki
) -> None:
    async with start_gateway(tls_cert=pki.server.cert_path, tls_key=pki.server.key_path) as gw:
        async with grpc.aio.insecure_channel(gw.address) as channel:
            assert await _refused(channel) == grpc.StatusCode.UNAVAILABLE
        # The same port still serves TLS: the refusal was the protocol, not a dead server.
        async with grpc.aio.secure_channel(gw.address, _credentials(pki.ca)) as channel:
            assert await _health(channel) == health_pb2.HealthCheckResponse.SERVING


async def test_tls_client_rejects_a_server_it_does_not_trust(
    start_gateway: StartGateway, upstream: Simulator, pki: Pki
) -> None:
    """The gateway presents the configured certificate, not some default one."""
    async with start_gateway(tls_cert=pki.server.cert_path, tls_key=pki.server.key_path) as gw:
        async with grpc.aio.secure_channel(gw.address, _credentials(pki.other_ca)) as channel:
            assert await _refused(channel) == grpc.StatusCode.UNAVAILABLE


async def test_tls_key_may_live_in_the_certificate_file(
    start_gateway: StartGateway, upstream: Simulator, pki: Pki, tmp_path: Path
) -> None:
    """Without ``tls_key`` the key is read from the ``tls_cert`` PEM (a combined file)."""
    combined = tmp_path / "combined.pem"
    combined.write_bytes(pki.server.cert + pki.server.key)
    async with start_gateway(tls_cert=combined) as gw:
        async with grpc.aio.secure_channel(gw.address, _credentials(pki.ca)) as channel:
            assert await _health(channel) == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("field", ["tls_key", "tls_client_ca"])
async def test_tls_options_without_a_certificate_refuse_to_start(
    start_gateway: StartGateway, upstream: Simulator, pki: Pki, field: str
) -> None:
    """A key or client CA without ``tls_cert`` must not silently serve plaintext."""
    with pytest.raises(ValueError, match="tls_cert"):
        async with start_gateway(**{field: pki.ca.cert_path}):
            pass


# --- mutual TLS -----------------------------------------------------------------------


def _mtls(start_gateway: StartGateway, pki: Pki) -> Gateway:
    return start_gateway(
        tls_cert=pki.server.cert_path, tls_key=pki.server.key_path, tls_client_ca=pki.ca.cert_path
    )


async def test_mtls_serves_a_client_certificate_signed_by_the_ca(
    start_gateway: StartGateway, upstream: Simulator, pki: Pki
) -> None:
    async with _mtls(start_gateway, pki) as gw:
        async with grpc.aio.secure_channel(gw.address, _credentials(pki.ca, pki.client)) as channel:
            assert await _health(channel) == health_pb2.HealthCheckResponse.SERVING
            await _create_then_get(channel)


async def test_mtls_refuses_a_client_without_a_certificate(
    start_gateway: StartGateway, upstream: Simulator, pki: Pki
) -> None:
    async with _mtls(start_gateway, pki) as gw:
        async with grpc.aio.secure_channel(gw.address, _credentials(pki.ca)) as channel:
            assert await _refused(channel) == grpc.StatusCode.UNAVAILABLE
        assert upstream.request_count == 0


async def test_mtls_refuses_a_client_certificate_from_another_ca(
    start_gateway: StartGateway, upstream: Simulator, pki: Pki
) -> None:
    async with _mtls(start_gateway, pki) as gw:
        stranger = _credentials(pki.ca, pki.stranger)
        async with grpc.aio.secure_channel(gw.address, stranger) as channel:
            assert await _refused(channel) == grpc.StatusCode.UNAVAILABLE
            # Nor does an rpc that would reach the upstream get through.
            stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.CreateCampaign(
                    create_request(1), metadata=auth(), timeout=_REFUSAL_DEADLINE
                )
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert upstream.request_count == 0


# --- the CLI --------------------------------------------------------------------------


def test_cli_serves_tls_with_the_certificate_flags(tmp_path: Path, pki: Pki) -> None:
    """``serve --tls-cert --tls-key --tls-client-ca`` wires the flags through to the listener."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--simulator", "--listen", "127.0.0.1:0",
         "--database", f"sqlite+aiosqlite:///{tmp_path / 'tls.db'}",
         "--tls-cert", str(pki.server.cert_path), "--tls-key", str(pki.server.key_path),
         "--tls-client-ca", str(pki.ca.cert_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        env={**os.environ},
    )
    try:
        banner: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:  # the banner is printed once the port is bound and started
            banner.append(line)
            if "ListCampaigns" in line:
                break
        text = "".join(banner)
        found = re.search(r"serving \S+ on (\S+:\d+)", text)
        assert found, text
        assert "-plaintext" not in text
        address = found.group(1)

        def check(credentials: grpc.ChannelCredentials | None) -> Any:
            with (
                grpc.secure_channel(address, credentials) if credentials
                else grpc.insecure_channel(address)
            ) as channel:
                return health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=_REFUSAL_DEADLINE
                ).status

        assert check(_credentials(pki.ca, pki.client)) == health_pb2.HealthCheckResponse.SERVING
        for refused in (None, _credentials(pki.ca)):
            with pytest.raises(grpc.RpcError) as info:
                check(refused)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
