"""A real RFC 3161 authority for tests: OpenSSL's `openssl ts -reply` behind a small HTTP front.

The token carries only the TSA's own certificate (no `certs` chain): OpenSSL writes a chain
as an unsorted SET, which strict DER parsers such as rfc3161-client refuse.
The test CA and the TSA certificate (extendedKeyUsage critical timeStamping) are made here,
by OpenSSL, in a temporary folder.

The TSA's key is RSA, EC (P-256) or RSA-PSS. `openssl ts -reply` signs through PKCS#7,
which OpenSSL 3.0 cannot do with an RSA-PSS key ("signing not supported for this key
type"), so for that key the TSTInfo `openssl ts -reply` wrote is signed again by
`openssl cms -sign` with RSASSA-PSS, and wrapped in a TimeStampResp here; `openssl cms`
adds no ESS signing-certificate attribute.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

TS_CONFIG = """
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha512
accuracy = secs:1
ordering = no
tsa_name = {tsa_name}
ess_cert_id_chain = no
ess_cert_id_alg = {ess}
"""
NEW_KEY = {
    "rsa": ["-newkey", "rsa:2048"],
    "ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
}


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_tsa(
    folder: Path, key: str = "rsa", ess: str = "sha256", pss: tuple[str, int] = ("sha256", 32)
) -> Path:
    """CA and TSA keys and certificates in `folder`; the openssl ts config file.

    `key` is rsa, ec or rsa-pss; `ess` the ESS certificate-id hash (sha1: ESS v1
    signingCertificate, sha256: v2); `pss` the RSASSA-PSS hash and salt length."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "3", "-subj", "/CN=chanwatch test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip
    if key == "rsa-pss":
        _openssl("genpkey", "-algorithm", "RSA-PSS", "-out", "tsa.key", cwd=folder)
        new_key = ["-key", "tsa.key"]
        # The key `openssl ts -reply` signs the TSTInfo with before it is signed again.
        _openssl("genpkey", "-algorithm", "RSA", "-out", "ts.key", cwd=folder)
        _openssl(
            "req", "-x509", "-key", "ts.key", "-out", "ts.pem", "-subj", "/CN=ts",
            "-addext", "extendedKeyUsage=critical,timeStamping",
            cwd=folder,
        )  # fmt: skip
        (folder / "pss").write_text(f"{pss[0]} {pss[1]}\n")
    else:
        new_key = [*NEW_KEY[key], "-nodes", "-keyout", "tsa.key"]
    _openssl(
        "req", "-new", *new_key, "-out", "tsa.csr", "-subj", "/CN=chanwatch test TSA",
        cwd=folder,
    )  # fmt: skip
    (folder / "ext.cnf").write_text(
        "extendedKeyUsage=critical,timeStamping\nkeyUsage=critical,digitalSignature\n"
        "basicConstraints=CA:FALSE\n"
    )
    _openssl(
        "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "tsa.pem", "-days", "2", "-extfile", "ext.cnf",
        cwd=folder,
    )  # fmt: skip
    (folder / "serial").write_text("01\n")
    config = folder / "ts.cnf"
    text = TS_CONFIG.format(dir=folder, ess=ess, tsa_name="no" if key == "rsa-pss" else "yes")
    if key == "rsa-pss":
        text = text.replace("$dir/tsa.pem", "$dir/ts.pem").replace("$dir/tsa.key", "$dir/ts.key")
    config.write_text(text)
    return config


def twin_certificate(folder: Path) -> Path:
    """Another certificate for the TSA's key, same issuer and serial number, other dates:
    only the ESS signing-certificate attribute tells it from the one that signed."""
    serial = subprocess.run(
        ["openssl", "x509", "-in", "tsa.pem", "-noout", "-serial"],
        cwd=folder, check=True, capture_output=True, text=True,
    ).stdout.strip().partition("=")[2]  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-set_serial", f"0x{serial}", "-out", "twin.pem", "-days", "1", "-extfile", "ext.cnf",
        cwd=folder,
    )  # fmt: skip
    return folder / "twin.pem"


def _der_sequence(body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([0x30, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x30, 0x80 | len(length)]) + length + body


async def _run(*args: str, cwd: Path) -> str | None:
    """Run openssl; its error text when it fails."""
    proc = await asyncio.create_subprocess_exec(
        "openssl", *args, cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    return err.decode() if proc.returncode != 0 else None


async def _pss_reply(folder: Path) -> str | None:
    """r.tsr re-signed with RSASSA-PSS: TSTInfo out of OpenSSL's token, into `openssl cms`."""
    hash_name, salt = (folder / "pss").read_text().split()
    steps = [
        ("ts", "-reply", "-in", "r.tsr", "-token_out", "-out", "token.der"),
        ("cms", "-verify", "-noverify", "-binary", "-inform", "DER", "-in", "token.der",
         "-out", "tst.der"),
        ("cms", "-sign", "-binary", "-nodetach", "-nosmimecap", "-econtent_type",
         "id-smime-ct-TSTInfo", "-in", "tst.der", "-signer", "tsa.pem", "-inkey", "tsa.key",
         "-md", hash_name, "-keyopt", "rsa_padding_mode:pss", "-keyopt",
         f"rsa_pss_saltlen:{salt}", "-outform", "DER", "-out", "cms.der"),
    ]  # fmt: skip
    for step in steps:
        if error := await _run(*step, cwd=folder):
            return error
    granted = bytes.fromhex("3003020100")  # PKIStatusInfo { status granted }
    (folder / "r.tsr").write_bytes(_der_sequence(granted + (folder / "cms.der").read_bytes()))
    return None


@asynccontextmanager
async def serve_tsa(folder: Path, port: int = 0) -> AsyncIterator[str]:
    """Answer timestamp queries on localhost with `openssl ts -reply`; yields the URL."""
    config = folder / "ts.cnf"
    lock = asyncio.Lock()

    async def reply(request: web.Request) -> web.Response:
        query = await request.read()
        async with lock:  # one serial file: one reply at a time
            (folder / "q.tsq").write_bytes(query)
            error = await _run(
                "ts", "-reply", "-config", str(config), "-queryfile", "q.tsq", "-out", "r.tsr",
                cwd=folder,
            )  # fmt: skip
            if error is None and (folder / "pss").exists():
                error = await _pss_reply(folder)
            if error is not None:
                return web.Response(status=500, text=error)
            body = (folder / "r.tsr").read_bytes()
        return web.Response(body=body, content_type="application/timestamp-reply")

    app = web.Application()
    app.router.add_post("/tsa", reply)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{bound}/tsa"
    finally:
        await runner.cleanup()
