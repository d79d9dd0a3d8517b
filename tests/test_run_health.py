"""`chanwatch run` as an operator meets it: a rejected token ends it at start with one line;
a Bot API that is down after start shows as 503 on /healthz and in `chanwatch status`,
and once it is back the bot answers."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from simulator.mtproto import World
from storage.db import SessionMaker
from tests.scenario import Cluster, running_cluster

pytestmark = pytest.mark.slow
USER = 4242


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest_asyncio.fixture
async def cluster(tmp_path: Path, sessions: SessionMaker, db_url: str) -> AsyncIterator[Cluster]:
    world = World(service_messages=False)
    world.create_channel(username="putdomoi", title="Путь домой", about="", participants=10)
    async with running_cluster(world, db_url, tmp_path, sessions) as c:
        yield c


def healthz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
    except OSError:
        return 0, {}


def cli_status(c: Cluster) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chanwatch", "status"],
        cwd=c.workdir,
        env=c.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("db_kind", ["sqlite"])
async def test_rejected_token_stops_run_with_one_line(cluster: Cluster) -> None:
    env = cluster.env() | {"BOT_TOKEN": "123456:RevokedOrWrongToken"}
    started = time.monotonic()
    # Asynchronously: the simulated Bot API runs on this event loop.
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chanwatch",
        "run",
        cwd=cluster.workdir,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    result = subprocess.CompletedProcess(
        proc.args if hasattr(proc, "args") else [], proc.returncode or 0, out.decode(), err.decode()
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "chanwatch: Telegram rejected BOT_TOKEN (401 Unauthorized): copy the token from @BotFather"
    ], result.stderr
    assert "RevokedOrWrongToken" not in result.stderr + result.stdout
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("db_kind", ["sqlite"])
async def test_bot_api_down_after_start_is_503_then_the_bot_answers(cluster: Cluster) -> None:
    c = cluster
    port = free_port()
    c.extra_env["HEALTH_PORT"] = str(port)
    c.sim.set_down(True, status=502)
    c.start()
    await c.until("/healthz to answer", lambda: healthz(port)[0] != 0, within=60)
    # Down: 503 naming the polling part, for as long as it lasts.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        code, body = healthz(port)
        assert code == 503 and "polling" in body["stale"], body
        await asyncio.sleep(0.5)
    assert "collector" not in body["stale"], body
    assert body["parts"]["polling"]["last_error"], body
    shown = cli_status(c)
    assert shown.returncode == 1, shown.stdout + shown.stderr
    assert "part polling: STALE" in shown.stdout and "Bot API" in shown.stdout, shown.stdout
    assert "part collector (chanwatch): ok" in shown.stdout and "outbox: 0 pending" in shown.stdout

    c.sim.set_down(False)
    await c.until("/healthz 200", lambda: healthz(port)[0] == 200, within=60)
    c.sim.user_sends(USER, "/start")
    await c.replies(USER, 1, "the bot to answer /start")
    assert c.sim.received(USER)[-1].text
    await c.until("status ok", lambda: cli_status(c).returncode == 0, within=30)
