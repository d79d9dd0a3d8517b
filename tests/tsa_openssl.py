"""A real RFC 3161 authority for tests: OpenSSL's `openssl ts -reply` behind a small HTTP front.

The token carries only the TSA's own certificate (no `certs` chain): OpenSSL writes a chain
as an unsorted SET, which strict DER parsers such as rfc3161-client refuse.
The test CA and the TSA certificate (extendedKeyUsage critical timeStamping) are made here,
by OpenSSL, in a temporary folder.
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
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_tsa(folder: Path) -> Path:
    """CA and TSA keys and certificates in `folder`; the openssl ts config file."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "3", "-subj", "/CN=chanwatch test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
        "-subj", "/CN=chanwatch test TSA",
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
    config.write_text(TS_CONFIG.format(dir=folder))
    return config


@asynccontextmanager
async def serve_tsa(folder: Path, port: int = 0) -> AsyncIterator[str]:
    """Answer timestamp queries on localhost with `openssl ts -reply`; yields the URL."""
    config = folder / "ts.cnf"
    lock = asyncio.Lock()

    async def reply(request: web.Request) -> web.Response:
        query = await request.read()
        async with lock:  # one serial file: one reply at a time
            (folder / "q.tsq").write_bytes(query)
            proc = await asyncio.create_subprocess_exec(
                "openssl", "ts", "-reply", "-config", str(config), "-queryfile", "q.tsq",
                "-out", "r.tsr", cwd=folder,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, err = await proc.communicate()
            if proc.returncode != 0:
                return web.Response(status=500, text=err.decode())
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
