"""`chanwatch demo` as a new user runs it: a fresh directory, a subprocess, no credentials."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import chanwatch


def test_demo_shows_each_person_what_they_receive_and_leaves_the_archive(tmp_path: Path) -> None:
    result = chanwatch("demo", cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # Numbers are grouped with no-break spaces; compare with plain ones.
    out = result.stdout.replace("\u00a0", " ").replace("\u202f", " ")
    # What the subscriber (a Russian client) receives, in order, as it happens.
    expected = [
        "Новый пост в канале",
        "Пост изменён",
        "[-Подпишите петицию-]",
        "Пост удалён",
        "Сбор подписей за ротацию мобилизованных.",  # the archived text of the deleted post
        "как FAKE",
        "на iOS",
        "Канал переименован",
        "48 000 → 62 400",
        "[chart",
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
        "Web preview:",
        "[chart",
    ]
    positions = [out.find(text) for text in expected]
    assert all(p >= 0 for p in positions), [
        t for t, p in zip(expected, positions, strict=True) if p < 0
    ]
    assert positions == sorted(positions)
