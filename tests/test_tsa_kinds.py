"""RFC 3161 tokens from OpenSSL TSAs of every signature kind: RSA, EC, RSA-PSS, ESS v1 and v2.

Each token is asked for through chanwatch's client (rfc3161-client decodes it) and checked
by the pack's verifier against the test CA, as `chanwatch verify --tsa-cert` does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509

from chanwatch import proofcheck
from chanwatch.tsa import request_token
from tests import tsa_openssl

MESSAGE = b"a checkpoint's statement and signature"
KINDS: dict[str, dict[str, Any]] = {
    "rsa-ess-v1": {"key": "rsa", "ess": "sha1"},
    "ec-ess-v1": {"key": "ec", "ess": "sha1"},
    "ec-ess-v2": {"key": "ec", "ess": "sha256"},
    "rsa-pss-sha384-salt20": {"key": "rsa-pss", "pss": ("sha384", 20)},
    "rsa-pss-sha256-salt32": {"key": "rsa-pss", "pss": ("sha256", 32)},
}


async def _token(folder: Path, **kind: Any) -> tuple[bytes, x509.Certificate]:
    """A token for MESSAGE from a fresh OpenSSL TSA of that kind; and the test CA."""
    tsa_openssl.make_tsa(folder, **kind)
    async with tsa_openssl.serve_tsa(folder) as url, aiohttp.ClientSession() as http:
        token = await request_token(http, url, MESSAGE)
    return token, x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())


def _flip_last(token: bytes) -> bytes:
    """The last byte of the token sits in the TSA's signature."""
    return token[:-1] + bytes([token[-1] ^ 0x01])


@pytest.mark.parametrize("name", list(KINDS))
async def test_tokens_of_each_signature_kind_verify_and_a_flipped_byte_is_named(
    name: str, tmp_path: Path
) -> None:
    kind = KINDS[name]
    token, ca = await _token(tmp_path / "tsa", **kind)
    assert proofcheck.token_problem(token, MESSAGE, [ca]) is None
    assert proofcheck.token_problem(_flip_last(token), MESSAGE, [ca]) == (
        "TSA signature does not verify (altered, or signed by another key)"
    )
    parsed = proofcheck.parse_token(token)
    if kind["key"] == "rsa-pss":
        # The PSS parameters are read from the token, not assumed.
        hash_name, salt = kind["pss"]
        assert proofcheck._pss_params(parsed.signature_algorithm) == (hash_name, hash_name, salt)
        return
    assert parsed.signing_cert is not None and parsed.signing_cert[0] == kind["ess"]
    # OpenSSL itself agrees the token is good.
    (tmp_path / "msg").write_bytes(MESSAGE)
    (tmp_path / "tok.tsr").write_bytes(token)
    check = subprocess.run(
        ["openssl", "ts", "-verify", "-data", "msg", "-in", "tok.tsr", "-CAfile", "tsa/ca.pem",
         "-untrusted", "tsa/tsa.pem"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert "Verification: OK" in check.stdout, check.stdout + check.stderr


@pytest.mark.parametrize("ess", ["sha1", "sha256"])
async def test_a_token_carrying_another_certificate_for_the_same_key_is_named(
    ess: str, tmp_path: Path
) -> None:
    """The ESS attribute binds the token to one certificate: a twin (same key, issuer and
    serial, other dates) swapped in for the one carried is caught, ESS v1 as v2."""
    folder = tmp_path / "tsa"
    token, ca = await _token(folder, key="ec", ess=ess)
    signed_with = x509.load_pem_x509_certificate((folder / "tsa.pem").read_bytes())
    twin = x509.load_pem_x509_certificate(tsa_openssl.twin_certificate(folder).read_bytes())
    original, other = (
        c.public_bytes(proofcheck.serialization.Encoding.DER) for c in (signed_with, twin)
    )
    assert original in token and len(other) == len(original)
    swapped = token.replace(original, other)
    assert proofcheck.token_problem(swapped, MESSAGE, [ca]) == (
        "TSA signature does not verify (signed for another TSA certificate)"
    )
