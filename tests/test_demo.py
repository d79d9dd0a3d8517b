"""`chanwatch demo` as a new user runs it: a fresh directory, a subprocess, no credentials."""

from __future__ import annotations

import json
from pathlib import Path

from tests.clikit import chanwatch


def test_demo_shows_each_person_what_they_receive_and_leaves_the_archive(tmp_path: Path) -> None:
    result = chanwatch("demo", cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # Stopping leaves nothing of the bot running: no request after the Bot API is gone.
    assert "Failed to fetch updates" not in result.stderr, result.stderr[-2000:]
    # Numbers are grouped with no-break spaces; compare with plain ones.
    out = result.stdout.replace("\u00a0", " ").replace("\u202f", " ")
    # What the subscriber (a Russian client) receives, in order, as it happens.
    expected = [
        "Новый пост в канале",
        "Пост изменён",
        "[-Подпишите петицию-]",
        "[image",  # the deleted post's archived photo leads its alert
        "Пост удалён",
        "Сбор подписей за ротацию мобилизованных.",  # the archived text of the deleted post
        "как FAKE",
        "на всех платформах",
        "Канал переименован",
        "48 000 → 62 400",
        "📈 Подписчики ·",  # the digest's chart
    ]
    positions = [out.find(text) for text in expected]
    assert all(p >= 0 for p in positions), [
        t for t, p in zip(expected, positions, strict=True) if p < 0
    ]
    assert positions == sorted(positions)
    # And the moderator.
    assert "Now watching Путь домой" in out and "chanwatch status" in out
    assert "subscriber receives" in out and "moderator receives" in out

    exported = chanwatch(
        "export",
        "@putdomoi",
        cwd=tmp_path,
        env={"DATABASE_URL": "sqlite+aiosqlite:///data/demo.db"},
    )
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    kinds = [r["kind"] for r in records if r["record"] == "event"]
    for kind in (
        "post.new",
        "post.edited",
        "post.deleted",
        "channel.label_added",
        "channel.renamed",
        "channel.subscribers_jump",
    ):
        assert kind in kinds
    deleted = [r for r in records if r["record"] == "post" and r["deleted_at"]]
    assert [r["text"] for r in deleted] == ["Сбор подписей за ротацию мобилизованных."]

    # The week's proof pack, signed and verifiable offline; the week carries its dates.
    env = {"DATABASE_URL": "sqlite+aiosqlite:///data/demo.db"}
    packed = chanwatch(
        "export", "@putdomoi", "--format", "pack", "-o", "pd.zip", cwd=tmp_path, env=env
    )
    assert packed.returncode == 0, packed.stderr
    checked = chanwatch("verify", "pd.zip", cwd=tmp_path, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK: the pack verifies" in checked.stdout
    days = {r["occurred_at"][:10] for r in records if r["record"] == "event"}
    assert len(days) >= 5, days  # the week's events fall on its days, not in one minute
    jump = [r for r in records if r.get("kind") == "channel.subscribers_jump"]
    assert jump and jump[0]["payload"]["window_hours"] > 0


def test_demo_through_the_web_preview_needs_no_account(tmp_path: Path) -> None:
    result = chanwatch("demo", "--collector", "web", cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout.replace("\u00a0", " ").replace("\u202f", " ")
    expected = [
        "no Telegram account",
        "Now watching Путь домой",
        "Новый пост в канале",
        "Пост изменён",
        "Пост удалён",
        "Сбор подписей за ротацию мобилизованных.",
        "скрыл публичный веб-просмотр",
        "can’t be displayed",
        "снова открыт",
        "Канал переименован",
        "Подписчики канала",
        "Web preview chanwatch:",  # one line per process, by its session name
        "[image",
    ]
    positions = [out.find(text) for text in expected]
    assert all(p >= 0 for p in positions), [
        t for t, p in zip(expected, positions, strict=True) if p < 0
    ]
    assert positions == sorted(positions)
