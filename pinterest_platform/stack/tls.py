"""A local certificate authority and one server certificate (openssl), for the secured stack:
Kafka's SASL_SSL listener and Postgres' TLS use the same files under ``<home>/tls``.

Files: ``ca.pem`` (what clients trust: PINTEREST_KAFKA_SSL_CAFILE, ``sslrootcert``), ``server.pem``
(the server certificate, names 127.0.0.1, localhost and the bind host), ``server.key`` (its
unencrypted PKCS#8 key, mode 0600) and ``server-keystore.pem`` (key + certificate, Kafka's PEM
keystore). Made once; delete the folder to make new ones.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import tempfile
from pathlib import Path

from pinterest_assets.settings import Settings
from pinterest_platform.stack.common import StackError

DAYS = 825


def tls_dir(settings: Settings) -> Path:
    return settings.home / "tls"


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"openssl {args[0]} failed: {result.stderr.strip()[-300:]}")


def _subject_alt_names(hosts: list[str]) -> str:
    names = []
    for host in dict.fromkeys(hosts):
        try:
            ipaddress.ip_address(host)
            names.append(f"IP:{host}")
        except ValueError:
            names.append(f"DNS:{host}")
    return ",".join(names)


def ensure_certificates(settings: Settings, directory: Path | None = None) -> Path:
    """The CA and the server certificate in `directory` (default ``<home>/tls``); returns it."""
    folder = directory or tls_dir(settings)
    if (folder / "server-keystore.pem").exists():
        return folder
    if subprocess.run(["openssl", "version"], capture_output=True).returncode != 0:
        raise StackError("openssl is needed to make the local certificates (apt-get install openssl)")
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    ca_key, ca, key, csr, cert = (folder / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
             "-days", str(DAYS), "-subj", "/CN=pinterest-pipeline local CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
             "-subj", "/CN=localhost")
    sans = _subject_alt_names(["127.0.0.1", "localhost", settings.bind_host])
    with tempfile.NamedTemporaryFile("w", suffix=".ext", dir=folder, delete=False) as ext:
        ext.write(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n")
    try:
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
                 "-out", str(cert), "-days", str(DAYS), "-extfile", ext.name)
    finally:
        os.unlink(ext.name)
    for private in (ca_key, key):
        os.chmod(private, 0o600)
    keystore = folder / "server-keystore.pem"
    keystore.write_text(key.read_text() + cert.read_text())
    os.chmod(keystore, 0o600)
    return folder
