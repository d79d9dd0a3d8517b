"""The pack's index.html in real headless Chromium: what it shows, and that it asks nothing
of the network."""

from __future__ import annotations

import asyncio
import json
import zipfile
from pathlib import Path

import pytest
from aiohttp import web

from storage import changes
from storage.db import SessionMaker, transaction
from storage.observations import PostSeen
from tests import chromium, proofkit

pytestmark = pytest.mark.skipif(
    chromium.CHROMIUM is None, reason="Debian's chromium is not installed"
)


async def _chromium(page: Path, out: Path) -> tuple[str, list[str]]:
    """Render `page`: (the DOM after scripts, the URLs the page itself requested, from
    Chromium's NetLog); a screenshot is left in `out`/<page>.png."""
    netlog = out / f"{page.stem}.netlog.json"
    base = chromium.command(out / "profile", "--virtual-time-budget=3000")
    shot = await asyncio.create_subprocess_exec(
        *base, f"--screenshot={out / (page.stem + '.png')}", page.as_uri(),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.wait_for(shot.wait(), 120)
    dump = await asyncio.create_subprocess_exec(
        *base, f"--log-net-log={netlog}", "--net-log-capture-mode=Everything", "--dump-dom",
        page.as_uri(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    dom, _ = await asyncio.wait_for(dump.communicate(), 120)
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for ev in log["events"]:
        params = ev.get("params") or {}
        # A request made by a file:// page carries the file:// isolation key.
        if ev["type"] == start_job and "file://" in params.get("network_isolation_key", ""):
            urls.append(params["url"])
    return dom.decode(), urls


async def test_index_html_shows_the_record_and_requests_nothing(
    sessions: SessionMaker, tmp_path: Path
) -> None:
    hits: list[str] = []

    async def probe(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=proofkit.png(), content_type="image/png")

    app = web.Application()
    app.router.add_get("/{name}", probe)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        # The check can fail: a page that does load something is seen doing it.
        control = tmp_path / "control.html"
        control.write_text(
            f'<html><body><img src="http://127.0.0.1:{port}/control.png"></body></html>'
        )
        _, control_urls = await _chromium(control, tmp_path)
        assert hits and set(hits) == {"/control.png"}
        assert any(u.startswith("http://127.0.0.1") for u in control_urls)
        hits.clear()

        media = tmp_path / "media"
        cid = await proofkit.history(sessions, media)
        hostile = (
            f'<img src="http://127.0.0.1:{port}/escaped.png"><script>fetch("http://127.0.0.1:'
            f'{port}/script")</script><link rel=stylesheet href="http://127.0.0.1:{port}/css">'
        )
        await transaction(
            sessions,
            lambda s: changes.observe_posts(
                s, cid, [PostSeen(message_id=7, date=proofkit.T0, text=hostile)]
            ),
        )
        result = await proofkit.make_pack(sessions, tmp_path, media)
        folder = tmp_path / "unpacked"
        with zipfile.ZipFile(result.path) as zf:
            zf.extractall(folder)
        dom, urls = await _chromium(folder / "index.html", tmp_path)
    finally:
        await runner.cleanup()

    assert hits == []  # nothing reached the local server, hostile text included
    assert [u for u in urls if not u.startswith(("file:", "data:"))] == [], urls
    assert (tmp_path / "index.png").stat().st_size > 10_000
    assert '<span class="label fake">FAKE</span>' in dom
    deleted = dom.split('id="m6"', 1)[1].split("</article>", 1)[0]
    assert "DELETED" in deleted and "photo to vanish" in deleted
    assert '<img class="media"' in deleted and 'src="data:image/png;base64,' in deleted
    assert "&lt;script&gt;" in dom and "<script>" not in dom.split("<body", 1)[1]
