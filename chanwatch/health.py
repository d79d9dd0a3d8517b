"""The optional /healthz endpoint (HEALTH_PORT) for systemd, Docker or Kubernetes probes."""

from __future__ import annotations

from aiohttp import web

from chanwatch.supervise import Supervisor


def health_app(supervisor: Supervisor) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        stale = supervisor.stale()
        parts = {name: state.as_dict() for name, state in supervisor.parts().items()}
        body = {"status": "stale" if stale else "ok", "stale": stale, "parts": parts}
        return web.json_response(body, status=503 if stale else 200)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    return app


async def start_health(supervisor: Supervisor, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(health_app(supervisor), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
