"""The local Kafka cluster's secrets: a CA, the brokers' certificate and the SCRAM user.

Made once with ``openssl`` under ``<stack>/kafka-cluster/tls/`` and kept (mode 0600), so the
brokers and every client of a test run share them. The brokers read a PEM keystore (their key
and certificate, valid for ``localhost`` and ``127.0.0.1``); clients trust ``ca.pem``.
``client.env`` holds the settings a client needs (the password included), to be exported or
given to ``start_worker``; nothing here prints the password.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import SecretStr

from riskstream.config import Settings
from riskstream.errors import StackError

SCRAM_MECHANISM: Final = "SCRAM-SHA-512"
USER = "riskstream"
_CA_EXT = [
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
]
_BROKER_EXT = """\
subjectAltName=DNS:localhost,IP:127.0.0.1
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
"""


@dataclass(frozen=True)
class ClusterSecrets:
    """Where the CA and the brokers' keystore are, and the SCRAM user's password."""

    ca: Path
    keystore: Path
    password: str
    env_file: Path

    def client_settings(self, brokers: str) -> Settings:
        """The settings of a SASL_SSL client of the local cluster."""
        return Settings(
            kafka_brokers=brokers,
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism=SCRAM_MECHANISM,
            kafka_sasl_username=USER,
            kafka_sasl_password=SecretStr(self.password),
            kafka_ssl_cafile=self.ca,
        )

    def client_env(self, brokers: str) -> dict[str, str]:
        """The RISKSTREAM_* settings of a SASL_SSL client of the local cluster."""
        return {
            "RISKSTREAM_KAFKA_BROKERS": brokers,
            "RISKSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "RISKSTREAM_KAFKA_SASL_MECHANISM": SCRAM_MECHANISM,
            "RISKSTREAM_KAFKA_SASL_USERNAME": USER,
            "RISKSTREAM_KAFKA_SASL_PASSWORD": self.password,
            "RISKSTREAM_KAFKA_SSL_CAFILE": str(self.ca),
        }


def ensure_secrets(root: Path, brokers: str) -> ClusterSecrets:
    """The cluster's CA, keystore and password, made on first use."""
    tls = root / "tls"
    tls.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca, ca_key, keystore = tls / "ca.pem", tls / "ca.key", tls / "broker.pem"
    password_file, env_file = tls / "scram-password", root / "client.env"
    if not keystore.exists():
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=riskstream local CA",
            "-keyout",
            str(ca_key),
            "-out",
            str(ca),
            *_CA_EXT,
        )
        key, csr, crt, ext = (tls / n for n in ("broker.key", "broker.csr", "broker.crt", "ext"))
        ext.write_text(_BROKER_EXT)
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(csr),
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-days",
            "3650",
            "-extfile",
            str(ext),
            "-out",
            str(crt),
        )
        keystore.write_text(key.read_text() + crt.read_text())
        for path in (key, csr, crt, ext):
            path.unlink()
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(24))
    for path in tls.iterdir():
        path.chmod(0o600)
    made = ClusterSecrets(ca, keystore, password_file.read_text().strip(), env_file)
    env_file.write_text("".join(f"{k}={v}\n" for k, v in made.client_env(brokers).items()))
    env_file.chmod(0o600)
    return made


def _openssl(*args: str) -> None:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        msg = f"openssl {args[0]} failed: {tail[0]}"
        raise StackError(msg)
