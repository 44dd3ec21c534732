"""Throwaway TLS material for the transport tests, generated at test time with ``openssl``.

``generate(directory)`` writes a test CA, a server certificate for ``localhost`` and
``127.0.0.1`` signed by it, a client certificate signed by it, and a client certificate
signed by an unrelated CA (the one a server must refuse). Keys are unencrypted P-256 keys
valid for one day; they live only in the temporary directory the test gives, never in the
repository.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

_CA_EXTENSIONS = """\
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""

_SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""

_CLIENT_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


@dataclass(frozen=True)
class Certificates:
    """Paths of the generated PEM files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_client_cert: Path  # signed by a CA the server does not trust
    rogue_client_key: Path

    def server_options(self) -> dict[str, str]:
        """``certfile`` and ``keyfile`` for ``start_http_server``: serve TLS as ``localhost``."""
        return {"certfile": str(self.server_cert), "keyfile": str(self.server_key)}


def _openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.fail(
            "the openssl command generates the test certificates: install the Debian"
            " package 'openssl'"
        )
    return path


def _run(*args: str | Path) -> None:
    result = subprocess.run(
        [_openssl(), *map(str, args)], capture_output=True, timeout=30, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"openssl {' '.join(map(str, args))} failed:\n"
            + (result.stdout + result.stderr).decode("utf-8", "replace")
        )


def _key(path: Path) -> None:
    _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)


def _ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _key(key)
    # A self-signed CA: "req -x509" with the CA extensions from a minimal config.
    config = directory / f"{name}.cnf"
    config.write_text(
        "[req]\ndistinguished_name = dn\nx509_extensions = v3\nprompt = no\n"
        f"[dn]\nCN = {name}\n[v3]\n{_CA_EXTENSIONS}"
    )
    _run("req", "-x509", "-new", "-key", key, "-out", cert, "-days", "1", "-config", config)
    return cert, key


def _leaf(
    directory: Path, name: str, common_name: str, extensions: str, ca: tuple[Path, Path]
) -> tuple[Path, Path]:
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.pem"
    ext = directory / f"{name}.ext"
    ext.write_text(extensions)
    _key(key)
    _run("req", "-new", "-key", key, "-out", csr, "-subj", f"/CN={common_name}")
    _run(
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        ca[0],
        "-CAkey",
        ca[1],
        "-set_serial",
        str(secrets.randbits(63)),
        "-days",
        "1",
        "-extfile",
        ext,
        "-out",
        cert,
    )
    return cert, key


def generate(directory: Path) -> Certificates:
    """Write a CA, a server and a client certificate (plus a rogue client) to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _ca(directory, "test-ca")
    rogue_ca = _ca(directory, "rogue-ca")
    server = _leaf(directory, "server", "localhost", _SERVER_EXTENSIONS, ca)
    client = _leaf(directory, "client", "scraper", _CLIENT_EXTENSIONS, ca)
    rogue = _leaf(directory, "rogue-client", "intruder", _CLIENT_EXTENSIONS, rogue_ca)
    return Certificates(
        ca=ca[0],
        server_cert=server[0],
        server_key=server[1],
        client_cert=client[0],
        client_key=client[1],
        rogue_client_cert=rogue[0],
        rogue_client_key=rogue[1],
    )
