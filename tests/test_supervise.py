"""Supervision: a crashing part is logged at ERROR and restarted with backoff; a part that
stops reporting is stale; /healthz says so over real HTTP; reports reach the database."""

from __future__ import annotations

import asyncio
import itertools
import logging

import aiohttp
import pytest

from chanwatch.health import start_health
from chanwatch.supervise import STATUS_PREFIX, Beat, Supervisor, shown_part
from storage import status
from storage.db import SessionMaker, transaction
from storage.migrate import upgrade


async def test_crashing_part_is_logged_and_restarted_with_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def flaky(beat: Beat) -> None:
        starts.append(loop.time())
        if len(starts) <= 3:
            raise RuntimeError(f"crash {len(starts)}")
        while True:
            beat()
            await asyncio.sleep(0.01)

    async def returns(beat: Beat) -> None:
        beat()  # and ends, which a background part must never do

    sup = Supervisor(first_delay=0.05, max_delay=1.0)
    sup.add("flaky", flaky, interval=5)
    sup.add("downloads", returns, interval=5)  # any later part plugs in the same way
    with caplog.at_level(logging.ERROR, logger="chanwatch.supervise"):
        await sup.start()
        for _ in range(200):
            if len(starts) >= 4 and sup.parts()["downloads"].restarts >= 2:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)
        await sup.stop()
    assert len(starts) == 4
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[0] >= 0.045 and gaps[1] >= 0.095 and gaps[2] >= 0.19, gaps
    crashes = [r for r in caplog.records if "flaky crashed" in r.getMessage()]
    assert len(crashes) == 3 and all(r.levelno == logging.ERROR for r in crashes)
    assert any("downloads ended" in r.getMessage() for r in caplog.records)
    state = sup.parts()["flaky"]
    assert state.restarts == 3 and state.last_error == "RuntimeError: crash 3"
    assert state.last_beat is not None


async def test_stale_parts_and_healthz() -> None:
    wake = asyncio.Event()

    async def steady(beat: Beat) -> None:
        while True:
            beat()
            await asyncio.sleep(0.02)

    async def stuck(beat: Beat) -> None:
        beat()
        await wake.wait()  # hangs without reporting
        while True:
            beat()
            await asyncio.sleep(0.02)

    sup = Supervisor()
    sup.add("steady", steady, interval=5)
    sup.add("stuck", stuck, interval=0.3)
    await sup.start()
    runner = await start_health(sup, "127.0.0.1", 0)
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/healthz"
            await asyncio.sleep(0.1)
            async with http.get(url) as r:
                assert r.status == 200 and (await r.json())["stale"] == []
            await asyncio.sleep(0.4)
            async with http.get(url) as r:
                body = await r.json()
                assert r.status == 503 and body["stale"] == ["stuck"], body
            sup.failed("steady", "Bot API: TelegramNetworkError: down")
            async with http.get(url) as r:
                assert r.status == 503 and (await r.json())["stale"] == ["steady", "stuck"]
            wake.set()
            await asyncio.sleep(0.1)
            async with http.get(url) as r:
                assert r.status == 200, await r.json()
    finally:
        await runner.cleanup()
        await sup.stop()


async def test_reports_are_stored(sessions: SessionMaker) -> None:
    await upgrade(sessions.kw["bind"])
    beaten = asyncio.Event()

    async def part(beat: Beat) -> None:
        while True:
            beat()
            beaten.set()
            await asyncio.sleep(0.02)

    sup = Supervisor(sessions, report_every=0.05)
    sup.add("router", part, interval=7)
    await sup.start()
    # Stopped once the part has run (on a loaded machine that may take longer than a
    # fixed pause), so the stored row must carry a beat.
    await asyncio.wait_for(beaten.wait(), 30)
    await sup.stop()
    async with sessions() as s:
        [row] = await status.with_prefix(s, STATUS_PREFIX)
    assert row.name == "part:router"
    assert row.data["interval"] == 7 and row.data["last_beat"] and row.data["state"] == "stopped"


async def test_the_same_part_of_two_collector_processes_is_stored_apart(
    sessions: SessionMaker,
) -> None:
    """Two collector processes on one database: each one's collector part has its own row
    (with one row, the last writer hid the other, dead or alive); the shared row of before
    is gone."""
    await upgrade(sessions.kw["bind"])

    async def part(beat: Beat) -> None:
        while True:
            beat()
            await asyncio.sleep(0.02)

    async def stuck(beat: Beat) -> None:
        await asyncio.Event().wait()

    # The row every process wrote before, left by an upgrade: nobody writes it any more.
    await transaction(sessions, lambda s: status.put(s, "part:collector", {"interval": 1}))
    alive = Supervisor(sessions, report_every=0.05)
    alive.add("collector", part, interval=60, owner="acc1")
    dead = Supervisor(sessions, report_every=0.05)
    dead.add("collector", stuck, interval=0.05, owner="acc2")
    await alive.start()
    await dead.start()
    await asyncio.sleep(0.3)
    async with sessions() as s:
        rows = {r.name: r.data for r in await status.with_prefix(s, STATUS_PREFIX)}
    await alive.stop()
    await dead.stop()
    assert set(rows) == {"part:collector:acc1", "part:collector:acc2"}
    assert [shown_part(n) for n in sorted(rows)] == ["collector (acc1)", "collector (acc2)"]
    assert rows["part:collector:acc1"]["last_beat"] and not rows["part:collector:acc2"]["last_beat"]
