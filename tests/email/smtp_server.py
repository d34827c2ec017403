"""A real SMTP server on 127.0.0.1 (aiosmtpd in a thread) that keeps what it receives.

It can offer STARTTLS with a certificate from the test CA (or an untrusted one), require
AUTH, and refuse chosen recipients or the message itself with any SMTP reply, so the
provider meets the replies a real relay gives.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    over_tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.raw)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class CollectingHandler:
    """aiosmtpd handler: keeps every message; refuses what a test asked it to refuse."""

    refuse_recipients: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply
    refuse_data: str | None = None
    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str, bool]] = field(default_factory=list)  # login, password, over TLS

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refuse_recipients:
            return self.refuse_recipients[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_data:
            return self.refuse_data
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                bytes(envelope.content),
                session.ssl is not None,
                session.auth_data if session.authenticated else None,
            )
        )
        return "250 Message accepted for delivery"


class _BoundController(Controller):
    """Listens on a socket bound before the server starts: the OS picks the port, and no
    other process can take it between choosing and listening."""

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        self.sock = sock
        super().__init__(handler, hostname="127.0.0.1", port=sock.getsockname()[1], **kwargs)

    def _create_server(self):  # type: ignore[no-untyped-def]
        return self.loop.create_server(self._factory_invoker, sock=self.sock)


@contextmanager
def smtp_server(
    handler: CollectingHandler,
    *,
    tls: ssl.SSLContext | None = None,
    credentials: tuple[str, str] | None = None,
    auth_without_tls: bool = False,
) -> Iterator[int]:
    """Run an SMTP server for `handler` on 127.0.0.1 until the block ends; yield its port.

    `tls` offers STARTTLS with that server context; `credentials` offers AUTH (PLAIN,
    LOGIN) and accepts only that login. AUTH is offered only after STARTTLS, as relays do,
    unless `auth_without_tls` (a relay misconfigured, or a STARTTLS-stripping attacker).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    kwargs: dict[str, Any] = {"ready_timeout": 10.0}
    if tls is not None:
        kwargs["tls_context"] = tls
    if credentials is not None:

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            assert isinstance(data, LoginPassword)
            login, password = data.login.decode(), data.password.decode()
            handler.logins.append((login, password, session.ssl is not None))
            # handled=False: aiosmtpd answers the failure itself (535).
            return AuthResult(success=(login, password) == credentials, handled=False, auth_data=login)

        kwargs["authenticator"] = authenticate
        kwargs["auth_require_tls"] = not auth_without_tls
    controller = _BoundController(handler, sock, **kwargs)
    controller.start()
    try:
        yield sock.getsockname()[1]
    finally:
        controller.stop()
        sock.close()


@contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that is bound but not listening: connecting to it is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


# -- certificates -------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    """A CA the client is told to trust, a server certificate for 127.0.0.1 it signed, and
    a self-signed certificate for 127.0.0.1 that nobody trusts."""

    ca_file: Path
    server_cert: Path
    server_key: Path
    untrusted_cert: Path
    untrusted_key: Path

    def server_context(self, trusted: bool = True) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        if trusted:
            context.load_cert_chain(self.server_cert, self.server_key)
        else:
            context.load_cert_chain(self.untrusted_cert, self.untrusted_key)
        return context


def make_certificates(folder: Path) -> Certificates:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def write_key(key: ec.EllipticCurvePrivateKey, name: str) -> Path:
        path = folder / name
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return path

    def write_cert(cert: x509.Certificate, name: str) -> Path:
        path = folder / name
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    def leaf(
        subject: str, issuer: x509.Name, issuer_key: ec.EllipticCurvePrivateKey, key: ec.EllipticCurvePrivateKey
    ) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
            .sign(issuer_key, hashes.SHA256())
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "RestoreClick test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    return Certificates(
        ca_file=write_cert(ca, "ca.pem"),
        server_cert=write_cert(leaf("127.0.0.1", ca_name, ca_key, server_key), "server.pem"),
        server_key=write_key(server_key, "server.key"),
        untrusted_cert=write_cert(leaf("127.0.0.1", rogue_name, rogue_key, rogue_key), "untrusted.pem"),
        untrusted_key=write_key(rogue_key, "untrusted.key"),
    )
