"""Check a chanwatch proof pack, offline. Needs only Python 3.11+ and `cryptography`.

This one file is both `chanwatch verify PACK` and the `verify.py` inside every pack:
`python verify.py` in an unpacked pack checks the folder it sits in; `python verify.py
PACK.zip` checks a ZIP. Timestamp tokens are read with a small DER reader here (parsing
only); every hash and signature is checked by `cryptography`.

What is checked: every file against manifest.json; manifest.json against the log record
that sealed it (seal.json); each checkpoint's Ed25519 signature; each day's hash chain and
RFC 6962 Merkle root from the chain rows; each record's hash, chain position and
inclusion proof; media files against their SHA-256 names; RFC 3161 timestamp tokens
against the signed checkpoints. Exit 0 when all holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = bytes(32)
UNSEALED = ("manifest.json", "seal.json")  # manifest.json is sealed by seal.json instead


# --- the hashing every part of chanwatch shares -------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def chain_next(prev: bytes, record_hash: bytes) -> bytes:
    """Chain hash = SHA-256(previous chain hash ‖ record hash)."""
    return sha256(prev + record_hash)


def leaf_hash(record: bytes) -> bytes:
    """RFC 6962 leaf: SHA-256(0x00 ‖ record)."""
    return sha256(b"\x00" + record)


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node: SHA-256(0x01 ‖ left ‖ right)."""
    return sha256(b"\x01" + left + right)


def merkle_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the RFC 6962 tree, leaves first; an odd last node moves up as it is
    (which gives the same tree as RFC 6962's split at the largest power of two)."""
    if not leaves:
        return [[sha256(b"")]]
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        up = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            up.append(level[-1])
        levels.append(up)
    return levels


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    return merkle_levels(leaves)[-1][0]


def inclusion_ok(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does `path` lead from leaf `index` of `size` to `root`?"""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, hex: how chanwatch names a signing key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def tsa_message(statement: str, signature_hex: str) -> bytes:
    """What a timestamp token covers: the signed statement followed by its signature."""
    return statement.encode() + bytes.fromhex(signature_hex)


# --- RFC 3161 timestamp tokens: a small DER reader, all cryptography by `cryptography` ----

# Object identifiers as dotted text.
_SIGNED_DATA = "1.2.840.113549.1.7.2"
_TST_INFO = "1.2.840.113549.1.9.16.1.4"
_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_SIGNING_CERT = "1.2.840.113549.1.9.16.2.12"  # ESS v1: a SHA-1 hash of the certificate
_SIGNING_CERT_V2 = "1.2.840.113549.1.9.16.2.47"
_HASHES = {
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_SHA1 = "1.3.14.3.2.26"
_RSA = "1.2.840.113549.1.1.1"
_RSA_PSS = "1.2.840.113549.1.1.10"
_MGF1 = "1.2.840.113549.1.1.8"
_EC_KEY = "1.2.840.10045.2.1"
_ED25519 = "1.3.101.112"
# Signature algorithms that name their hash: (key kind, hash).
_SIGNATURES = {
    "1.2.840.113549.1.1.11": ("rsa", "sha256"),
    "1.2.840.113549.1.1.12": ("rsa", "sha384"),
    "1.2.840.113549.1.1.13": ("rsa", "sha512"),
    "1.2.840.10045.4.3.2": ("ec", "sha256"),
    "1.2.840.10045.4.3.3": ("ec", "sha384"),
    "1.2.840.10045.4.3.4": ("ec", "sha512"),
}


class DerError(ValueError):
    """Bytes that are not the DER structure expected."""


@dataclass(frozen=True)
class _Tlv:
    tag: int
    raw: bytes  # the whole encoding, header included
    body: bytes


def _tlvs(data: bytes) -> list[_Tlv]:
    """The DER elements one after another in `data` (single-byte tags, definite lengths)."""
    out, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise DerError("truncated")
        tag, first = data[pos], data[pos + 1]
        if tag & 0x1F == 0x1F:
            raise DerError("multi-byte tag")
        head = 2
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0 or count > 4 or pos + 2 + count > len(data):
                raise DerError("bad length")
            length = int.from_bytes(data[pos + 2 : pos + 2 + count], "big")
            head += count
        stop = pos + head + length
        if stop > len(data):
            raise DerError("truncated")
        out.append(_Tlv(tag, data[pos:stop], data[pos + head : stop]))
        pos = stop
    return out


def _one(data: bytes, tag: int) -> _Tlv:
    items = _tlvs(data)
    if len(items) != 1 or items[0].tag != tag:
        raise DerError(f"expected one element with tag {tag:#x}")
    return items[0]


def _fields(tlv: _Tlv, tag: int = 0x30, least: int = 1) -> list[_Tlv]:
    if tlv.tag != tag:
        raise DerError(f"expected tag {tag:#x}, found {tlv.tag:#x}")
    items = _tlvs(tlv.body)
    if len(items) < least:
        raise DerError("too few fields")
    return items


def _oid(tlv: _Tlv) -> str:
    if tlv.tag != 0x06 or not tlv.body:
        raise DerError("expected an object identifier")
    parts, value = [], 0
    for byte in tlv.body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    first = min(parts[0] // 40, 2)
    return ".".join(str(n) for n in [first, parts[0] - 40 * first, *parts[1:]])


def _hash_of(algorithm: _Tlv) -> str:
    oid = _oid(_fields(algorithm)[0])
    name = _HASHES.get(oid)
    if name is None:
        raise DerError("SHA-1 is not accepted" if oid == _SHA1 else f"unsupported hash {oid}")
    return name


@dataclass(frozen=True)
class TimeStampToken:
    """The parts of an RFC 3161 TimeStampResp a verifier needs, as DER bytes."""

    tst_info: bytes  # the DER TSTInfo (what the TSA signed, through the signed attributes)
    imprint_hash: str
    imprint: bytes
    gen_time: str
    digest_hash: str  # the SignerInfo's digest algorithm
    signed_attrs: bytes  # re-tagged as the SET the signature covers
    message_digest: bytes
    content_type: str
    # The signer certificate's hash from ESS signingCertificateV2 or v1: (hash name, digest).
    signing_cert: tuple[str, bytes] | None
    signature_algorithm: _Tlv  # the SignerInfo's AlgorithmIdentifier, parameters included
    signature: bytes
    sid: _Tlv
    certificates: tuple[bytes, ...]


def parse_token(data: bytes) -> TimeStampToken:
    """Read a TimeStampResp (RFC 3161 section 2.4.2); DerError when it is not one."""
    resp = _fields(_one(data, 0x30), least=2)
    status = _fields(resp[0])[0]
    if status.tag != 0x02 or int.from_bytes(status.body, "big") not in (0, 1):
        raise DerError("the TSA did not grant the timestamp")
    content_info = _fields(resp[1], least=2)
    if _oid(content_info[0]) != _SIGNED_DATA:
        raise DerError("not CMS SignedData")
    signed = _fields(_one(_fields(content_info[1], tag=0xA0)[0].raw, 0x30))
    encap = _fields(signed[2], least=2)
    if _oid(encap[0]) != _TST_INFO:
        raise DerError("the signed content is not a TSTInfo")
    tst_der = _one(_fields(encap[1], tag=0xA0)[0].raw, 0x04).body
    tst = _fields(_one(tst_der, 0x30), least=5)
    imprint = _fields(tst[2], least=2)
    rest = signed[3:]
    certificates: tuple[bytes, ...] = ()
    if rest and rest[0].tag == 0xA0:
        certificates = tuple(c.raw for c in _tlvs(rest[0].body))
    rest = [r for r in rest if r.tag not in (0xA0, 0xA1)]
    if not rest or not _tlvs(rest[-1].body if rest[-1].tag == 0x31 else b""):
        raise DerError("no signer")
    signer = _fields(_tlvs(rest[-1].body)[0], least=5)
    attrs_tlv = signer[3]
    if attrs_tlv.tag != 0xA0:
        raise DerError("no signed attributes")
    attributes: dict[str, _Tlv] = {}
    for attr in _tlvs(attrs_tlv.body):
        kind, values = _fields(attr, least=2)[:2]
        attributes[_oid(kind)] = _fields(values, tag=0x31)[0]
    if _MESSAGE_DIGEST not in attributes or _CONTENT_TYPE not in attributes:
        raise DerError("signed attributes lack messageDigest or contentType")
    signing_cert = _signing_cert(attributes)
    if signer[5].tag != 0x04:
        raise DerError("no signature")
    return TimeStampToken(
        tst_info=tst_der,
        imprint_hash=_hash_of(imprint[0]),
        imprint=imprint[1].body,
        gen_time=tst[4].body.decode("ascii", "replace"),
        digest_hash=_hash_of(signer[2]),
        # The signature covers the DER of the attributes as a SET, not the [0] they sit in.
        signed_attrs=b"\x31" + attrs_tlv.raw[1:],
        message_digest=attributes[_MESSAGE_DIGEST].body,
        content_type=_oid(attributes[_CONTENT_TYPE]),
        signing_cert=signing_cert,
        signature_algorithm=signer[4],
        signature=signer[5].body,
        sid=signer[1],
        certificates=certificates,
    )


def _signing_cert(attributes: dict[str, _Tlv]) -> tuple[str, bytes] | None:
    """The first ESSCertID(v2)'s hash of the signer's certificate (RFC 5035, RFC 2634)."""
    if _SIGNING_CERT_V2 in attributes:
        first_id = _fields(_fields(_fields(attributes[_SIGNING_CERT_V2])[0])[0], least=1)
        if first_id[0].tag == 0x30:
            return _hash_of(first_id[0]), first_id[1].body
        return "sha256", first_id[0].body  # hashAlgorithm left out: SHA-256 by default
    if _SIGNING_CERT in attributes:
        first_id = _fields(_fields(_fields(attributes[_SIGNING_CERT])[0])[0], least=1)
        # SHA-1 here only names the certificate; the token's own hashes are SHA-2.
        return "sha1", _one(first_id[0].raw, 0x04).body
    return None


def _is_signer(cert: Any, sid: _Tlv) -> bool:
    from cryptography import x509

    if sid.tag == 0x80:  # subjectKeyIdentifier
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        except x509.ExtensionNotFound:
            return False
        return bool(ski.value.digest == sid.body)
    issuer, serial = _fields(sid, least=2)[:2]
    number = int.from_bytes(serial.body, "big", signed=True)
    return bool(cert.issuer.public_bytes() == issuer.raw and cert.serial_number == number)


def _pss_params(algorithm: _Tlv) -> tuple[str, str, int]:
    """RSASSA-PSS-params (RFC 4055): hash, MGF1 hash and salt length, defaults read as such."""
    fields = _fields(algorithm)
    params = {f.tag: f for f in _fields(fields[1], least=0)} if len(fields) > 1 else {}
    # The DER defaults are SHA-1 for both hashes and a 20-byte salt.
    hash_name = _hash_of(_one(params[0xA0].body, 0x30)) if 0xA0 in params else "sha1"
    mgf_hash = "sha1"
    if 0xA1 in params:
        mgf = _fields(_one(params[0xA1].body, 0x30), least=2)
        if _oid(mgf[0]) != _MGF1:
            raise DerError(f"unsupported mask generation function {_oid(mgf[0])}")
        mgf_hash = _hash_of(mgf[1])
    salt = int.from_bytes(_one(params[0xA2].body, 0x02).body, "big") if 0xA2 in params else 20
    if 0xA3 in params and _one(params[0xA3].body, 0x02).body != b"\x01":
        raise DerError("unsupported PSS trailer field")
    if "sha1" in (hash_name, mgf_hash):
        raise DerError("SHA-1 is not accepted")
    return hash_name, mgf_hash, salt


def _signature_problem(cert: Any, token: TimeStampToken) -> str | None:
    """Why the SignerInfo's signature over the signed attributes does not hold (None: it does).

    The scheme is the one the SignerInfo names (PKCS#1 v1.5, RSASSA-PSS with its own
    parameters, ECDSA or Ed25519), and it must fit the certificate's key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    kinds: dict[str, Callable[[], hashes.HashAlgorithm]] = {
        "sha256": hashes.SHA256,
        "sha384": hashes.SHA384,
        "sha512": hashes.SHA512,
    }
    key = cert.public_key()
    algorithm = token.signature_algorithm
    try:
        oid = _oid(_fields(algorithm)[0])
        kind, hash_name = _SIGNATURES.get(oid, ("", token.digest_hash))
        if oid == _RSA_PSS:
            hash_name, mgf_hash, salt = _pss_params(algorithm)
    except DerError as exc:
        return f"TSA signature uses an algorithm not accepted ({exc})"
    data, signature, digest = token.signed_attrs, token.signature, kinds[hash_name]()
    try:
        if oid == _RSA_PSS and isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(kinds[mgf_hash]()), salt_length=salt)
            key.verify(signature, data, pss, digest)
        elif (oid == _RSA or kind == "rsa") and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), digest)
        elif (oid == _EC_KEY or kind == "ec") and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(digest))
        elif oid == _ED25519 and isinstance(key, Ed25519PublicKey):
            key.verify(signature, data)
        else:
            return f"TSA signature algorithm {oid} does not fit the TSA certificate's key"
    except InvalidSignature:
        return "TSA signature does not verify (altered, or signed by another key)"
    return None


def _name(cert: Any) -> str:
    return str(cert.subject.rfc4514_string())


def token_problem(token: bytes, message: bytes, roots: Sequence[Any]) -> str | None:
    """Why an RFC 3161 response does not timestamp `message` (None: it does).

    The TSTInfo's message imprint must be the hash of `message`; the signed attributes'
    messageDigest the hash of the TSTInfo; the signature over those attributes must verify
    with the TSA certificate's key; and, with `roots` given, that certificate must be
    issued by one of them (or be one), carry the critical timeStamping key usage and be
    valid at the token's time."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    try:
        tst = parse_token(token)
        carried = [x509.load_der_x509_certificate(c) for c in tst.certificates]
    except ValueError as exc:
        return f"not an RFC 3161 response ({exc})"
    if tst.imprint != hashlib.new(tst.imprint_hash, message).digest():
        return "it timestamps another message (message imprint differs)"
    if tst.content_type != _TST_INFO:
        return "TSA signature does not verify (signed content type is not TSTInfo)"
    if tst.message_digest != hashlib.new(tst.digest_hash, tst.tst_info).digest():
        return "TSA signature does not verify (the TSTInfo differs from the one signed)"
    signer = next((c for c in [*carried, *roots] if _is_signer(c, tst.sid)), None)
    if signer is None:
        return None if not roots else "the token names a TSA certificate that is not given"
    problem = _signature_problem(signer, tst)
    if problem:
        return problem
    if tst.signing_cert is not None:
        hash_name, cert_hash = tst.signing_cert
        der = signer.public_bytes(serialization.Encoding.DER)
        if cert_hash != hashlib.new(hash_name, der).digest():
            return "TSA signature does not verify (signed for another TSA certificate)"
    if not roots:
        return None
    if signer not in roots and not any(_issued_by(signer, ca) for ca in roots):
        return f"TSA certificate ({_name(signer)}) is not issued by a given TSA CA"
    try:
        eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or not eku.critical or ExtendedKeyUsageOID.TIME_STAMPING not in eku.value:
        return f"TSA certificate ({_name(signer)}) is not for timestamping (critical EKU)"
    at = _gen_time(tst.gen_time)
    if at is not None and not signer.not_valid_before_utc <= at <= signer.not_valid_after_utc:
        return f"TSA certificate ({_name(signer)}) was not valid at {at.isoformat()}"
    return None


def _issued_by(cert: Any, ca: Any) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _gen_time(text: str) -> datetime | None:
    """GeneralizedTime (YYYYMMDDHHMMSS[.fff]Z) as an aware datetime."""
    try:
        whole, _, fraction = text.rstrip("Z").partition(".")
        at = datetime.strptime(whole, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return at.replace(microsecond=int((fraction + "000000")[:6])) if fraction else at


# --- reading a pack -----------------------------------------------------------------


class PackError(Exception):
    """The input is not a readable proof pack at all."""


class Pack:
    """The files of a pack, from a ZIP or an unpacked folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        if path.is_dir():
            self._names = sorted(
                p.relative_to(path).as_posix()
                for p in path.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts
            )
        else:
            try:
                self._zip = zipfile.ZipFile(path)
                self._names = sorted(n for n in self._zip.namelist() if not n.endswith("/"))
            except (OSError, zipfile.BadZipFile, ValueError) as exc:
                raise PackError(f"{path} is not a proof pack ZIP ({exc})") from None
        if "manifest.json" not in self._names:
            raise PackError(f"{path} is not a proof pack (no manifest.json)")

    def names(self) -> list[str]:
        return list(self._names)

    def has(self, name: str) -> bool:
        return name in self._names

    def read(self, name: str) -> bytes:
        try:
            if self._zip is not None:
                return self._zip.read(name)
            return (self.path / name).read_bytes()
        except (OSError, KeyError, zipfile.BadZipFile, ValueError) as exc:
            raise PackError(f"cannot read {name} from {self.path} ({exc})") from None

    def json(self, name: str) -> Any:
        try:
            return json.loads(self.read(name))
        except ValueError as exc:
            raise PackError(f"{name} is not JSON ({exc})") from None

    def jsonl(self, name: str) -> Iterator[Any]:
        for number, line in enumerate(self.read(name).decode().splitlines(), 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    raise PackError(f"{name} line {number} is not JSON") from None


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _load_key(pack: Pack, report: Report) -> Ed25519PublicKey | None:
    try:
        key = serialization.load_pem_public_key(pack.read("public_key.pem"))
    except (PackError, ValueError) as exc:
        report.problems.append(f"public_key.pem: not an Ed25519 public key ({exc})")
        return None
    if not isinstance(key, Ed25519PublicKey):
        report.problems.append("public_key.pem: not an Ed25519 public key")
        return None
    return key


def _check_checkpoint(
    cp: dict[str, Any],
    key: Ed25519PublicKey | None,
    roots: Sequence[Any],
    report: Report,
    tsa_state: dict[str, int],
) -> dict[str, Any] | None:
    """The statement of a checkpoint whose signature holds; problems reported."""
    try:
        statement = json.loads(cp["statement"])
        name = (
            f"checkpoint {statement['day']} (seq {statement['first_seq']}-{statement['last_seq']})"
        )
        signature = bytes.fromhex(cp["signature"])
    except (KeyError, TypeError, ValueError):
        report.problems.append("checkpoints: a checkpoint is malformed")
        return None
    good = True
    if key is not None:
        if statement.get("key_fingerprint") != fingerprint(key):
            report.problems.append(
                f"{name}: signed for key {statement.get('key_fingerprint')}, "
                f"but public_key.pem is {fingerprint(key)}"
            )
            good = False
        try:
            key.verify(signature, cp["statement"].encode())
        except InvalidSignature:
            report.problems.append(
                f"{name}: Ed25519 signature does not verify (altered or re-signed)"
            )
            good = False
    for token in cp.get("tsa_tokens", []):
        try:
            problem = token_problem(
                _b64(token["token"]), tsa_message(cp["statement"], cp["signature"]), roots
            )
        except (KeyError, ValueError) as exc:
            problem = f"malformed token ({exc})"
        if problem:
            report.problems.append(f"{name}: timestamp token from {token.get('url')}: {problem}")
        else:
            tsa_state["checked"] += 1
    if not cp.get("tsa_tokens"):
        tsa_state["untimestamped"] += 1
    return statement if good else None


def _b64(value: str) -> bytes:
    import base64

    return base64.b64decode(value, validate=True)


def _tsa_roots(pack: Pack, extra: Sequence[Path], report: Report) -> list[Any]:
    from cryptography import x509

    roots = []
    blobs = [(str(p), p.read_bytes()) for p in extra]
    blobs += [
        (n, pack.read(n)) for n in pack.names() if n.startswith("tsa/") and n.endswith(".pem")
    ]
    for name, blob in blobs:
        try:
            roots.extend(x509.load_pem_x509_certificates(blob))
        except ValueError:
            report.problems.append(f"{name}: not a PEM certificate")
    return roots


def verify(
    path: Path,
    tsa_certs: Sequence[Path] = (),
    expect_key: str | None = None,
    expect_from: str = "given with --key",
) -> Report:
    """Check everything in the pack at `path`; raises PackError only for unreadable input.

    `expect_key` is the fingerprint the pack must be signed with, `expect_from` where it
    came from (said in the report)."""
    pack = Pack(path)
    report = Report()
    manifest_bytes = pack.read("manifest.json")
    try:
        manifest = json.loads(manifest_bytes)
        listed: dict[str, str] = manifest["files"]
    except (ValueError, KeyError, TypeError):
        report.problems.append("manifest.json: not a chanwatch manifest (altered?)")
        manifest, listed = {}, {}

    # 1. Every file is the one the manifest names.
    for name, digest in sorted(listed.items()):
        if not pack.has(name):
            report.problems.append(f"{name}: listed in manifest.json but missing from the pack")
        elif hashlib.sha256(pack.read(name)).hexdigest() != digest:
            report.problems.append(f"{name}: SHA-256 differs from manifest.json (file altered)")
    for name in pack.names():
        if name not in listed and name not in UNSEALED:
            report.problems.append(f"{name}: not listed in manifest.json (file added)")

    key = _load_key(pack, report)
    if key is not None:
        report.summary["key_fingerprint"] = fingerprint(key)
        if expect_key:
            wanted = "".join(expect_key.lower().replace(":", "").split())
            report.summary["key_expected_from"] = expect_from
            if fingerprint(key) != wanted:
                report.problems.append(
                    f"public_key.pem: the pack is signed by key {fingerprint(key)}, which is "
                    f"not the expected key {wanted} ({expect_from}): re-signed, or made by "
                    "another installation"
                )
    roots = _tsa_roots(pack, tsa_certs, report)
    tsa_state = {"checked": 0, "untimestamped": 0}

    # 2. Checkpoints, and each day's chain and tree from the chain rows.
    statements: list[dict[str, Any]] = []
    for cp in pack.json("checkpoints.json") if pack.has("checkpoints.json") else []:
        statement = _check_checkpoint(cp, key, roots, report, tsa_state)
        if statement is not None:
            statements.append(statement)
    rows = {r["seq"]: r for r in pack.jsonl("chain.jsonl")} if pack.has("chain.jsonl") else {}
    day_of_seq: dict[int, dict[str, Any]] = {}
    trees: dict[str, list[bytes]] = {}
    for checkpoint in statements:
        name = f"checkpoint {checkpoint['day']}"
        seqs = range(checkpoint["first_seq"], checkpoint["last_seq"] + 1)
        missing = [seq for seq in seqs if seq not in rows]
        if missing or len(seqs) != checkpoint["count"]:
            report.problems.append(
                f"{name}: chain.jsonl lacks seq {missing[0] if missing else '?'} "
                f"of the {checkpoint['count']} signed records"
            )
            continue
        chain = bytes.fromhex(checkpoint["prev_chain"])
        for seq in seqs:
            chain = chain_next(chain, bytes.fromhex(rows[seq]["record_hash"]))
            if chain.hex() != rows[seq]["chain"]:
                report.problems.append(f"{name}: hash chain broken at seq {seq}")
                break
            day_of_seq[seq] = checkpoint
        else:
            if chain.hex() != checkpoint["chain_head"]:
                report.problems.append(f"{name}: chain head differs from the signed one")
        leaves = [bytes.fromhex(rows[seq]["leaf"]) for seq in seqs]
        trees[checkpoint["day"]] = leaves
        if merkle_root(leaves).hex() != checkpoint["root"]:
            report.problems.append(f"{name}: Merkle root differs from the signed root")

    # 3. The channel's records: content, order, chain position, inclusion proof.
    seen: set[int] = set()
    last_seq = 0
    observed: list[str] = []
    media: list[dict[str, Any]] = []
    lines = list(pack.jsonl("records.jsonl")) if pack.has("records.jsonl") else []
    for number, line in enumerate(lines, 1):
        seq = line.get("seq")
        where = f"record seq {seq} (records.jsonl line {number})"
        if not isinstance(seq, int) or not isinstance(line.get("record"), str):
            report.problems.append(f"records.jsonl line {number}: malformed")
            continue
        if seq <= last_seq:
            report.problems.append(
                f"{where}: comes after seq {last_seq} (records out of order or repeated)"
            )
        last_seq = max(last_seq, seq)
        seen.add(seq)
        data = line["record"].encode()
        try:
            body = json.loads(data)
        except ValueError:
            report.problems.append(f"{where}: not JSON")
            continue
        if body.get("seq") != seq:
            report.problems.append(f"{where}: its content says seq {body.get('seq')}")
        row, signed = rows.get(seq), day_of_seq.get(seq)
        if row is None or signed is None:
            report.problems.append(f"{where}: not covered by a signed checkpoint")
            continue
        if sha256(data).hex() != row["record_hash"] or leaf_hash(data).hex() != row["leaf"]:
            report.problems.append(f"{where}: content does not match its hash in the chain")
            continue
        proof = [bytes.fromhex(step) for step in line.get("path", [])]
        index = seq - signed["first_seq"]
        root = bytes.fromhex(signed["root"])
        if not inclusion_ok(leaf_hash(data), index, signed["count"], proof, root):
            report.problems.append(
                f"{where}: inclusion proof does not lead to the {signed['day']} root"
            )
        observed.append(body.get("observed_at", ""))
        if body.get("type") == "media":
            media.append(body)
    for seq, row in sorted(rows.items()):
        if row.get("pack") and seq not in seen:
            report.problems.append(f"record seq {seq}: missing from records.jsonl (deleted)")

    # 4. Media files are what their records say.
    archived = 0
    for media_record in media:
        digest = str(media_record.get("sha256", ""))
        name = f"media/{digest[0:2]}/{digest[2:4]}/{digest}"
        if pack.has(name):
            archived += 1
            if hashlib.sha256(pack.read(name)).hexdigest() != digest:
                report.problems.append(f"{name}: content does not match its SHA-256 name")
    if len(media) > archived:
        report.notes.append(f"{len(media) - archived} media records have no file in the pack")

    # 5. manifest.json is the one sealed into the log.
    if not pack.has("seal.json"):
        report.problems.append("seal.json: missing, so manifest.json is not sealed")
    else:
        _check_seal(pack.json("seal.json"), manifest_bytes, key, roots, report, tsa_state)

    if tsa_state["checked"] and not roots:
        report.notes.append(
            "timestamp tokens match the checkpoints; give --tsa-cert to check who signed them"
        )
    report.summary.update(
        channel=manifest.get("channel", {}).get("username")
        or manifest.get("channel", {}).get("tg_id"),
        records=len(lines),
        days=len(statements),
        media_files=archived,
        first_observation=min(observed) if observed else None,
        last_observation=max(observed) if observed else None,
        timestamp_tokens_verified=tsa_state["checked"],
        checkpoints_untimestamped=tsa_state["untimestamped"],
    )
    return report


def _check_seal(
    seal: dict[str, Any],
    manifest_bytes: bytes,
    key: Ed25519PublicKey | None,
    roots: Sequence[Any],
    report: Report,
    tsa_state: dict[str, int],
) -> None:
    try:
        record = seal["record"].encode()
        body = json.loads(record)
        st = _check_checkpoint(seal["checkpoint"], key, roots, report, tsa_state)
        path = [bytes.fromhex(p) for p in seal["path"]]
    except (KeyError, TypeError, ValueError):
        report.problems.append("seal.json: malformed")
        return
    if body.get("manifest_sha256") != hashlib.sha256(manifest_bytes).hexdigest():
        report.problems.append("manifest.json: SHA-256 differs from the one sealed in seal.json")
    if st is not None:
        index = body.get("seq", 0) - st["first_seq"]
        if not inclusion_ok(leaf_hash(record), index, st["count"], path, bytes.fromhex(st["root"])):
            report.problems.append("seal.json: the sealing record is not in its signed checkpoint")


def render(report: Report) -> str:
    s = report.summary
    lines = [
        f"channel: {s.get('channel')}",
        f"records: {s.get('records')}  days: {s.get('days')}  media files: {s.get('media_files')}",
        f"first observation: {s.get('first_observation')}",
        f"last observation: {s.get('last_observation')}",
        f"signing key fingerprint: {pretty(s.get('key_fingerprint'))}",
        (
            f"  checked against the expected key ({s['key_expected_from']})"
            if s.get("key_expected_from")
            else "  compare it with the fingerprint the installation published (`chanwatch "
            "key` there, its bot's /status): a pack re-signed with another key verifies "
            "against that key too; give the published one with --key to have it checked"
        ),
        f"timestamp tokens verified: {s.get('timestamp_tokens_verified')}, "
        f"checkpoints untimestamped: {s.get('checkpoints_untimestamped')}",
    ]
    lines += [f"note: {n}" for n in report.notes]
    lines += [f"FAIL: {p}" for p in report.problems]
    lines.append(
        "OK: the pack verifies" if report.ok else f"FAILED: {len(report.problems)} problems"
    )
    return "\n".join(lines)


def pretty(fp: Any) -> str:
    """A fingerprint in groups of four, as people read it aloud."""
    text = str(fp)
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="verify.py", description="Check a chanwatch proof pack.")
    parser.add_argument(
        "pack", nargs="?", type=Path, help="pack ZIP or folder (default: this file's folder)"
    )
    parser.add_argument("--tsa-cert", action="append", type=Path, default=[], help="TSA CA (PEM)")
    parser.add_argument("--key", help="expected signing key fingerprint (hex)")
    args = parser.parse_args(argv)
    return run(args.pack or Path(__file__).resolve().parent, args.tsa_cert, args.key)


def run(
    path: Path,
    tsa_certs: Sequence[Path] = (),
    expect_key: str | None = None,
    expect_from: str = "given with --key",
) -> int:
    try:
        for cert in tsa_certs:
            if not cert.is_file():
                raise PackError(f"TSA certificate {cert} does not exist")
        report = verify(path, tsa_certs, expect_key, expect_from)
    except PackError as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return 1
    print(render(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
