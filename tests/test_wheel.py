"""The wheel a user installs (`pip install .`, pipx, a container): it holds every product
package and the migrations, no bench or tests, and migrates from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from storage.migrate import head_revision

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("chanwatch", "bot", "collectors", "storage", "simulator")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    [built] = out.glob("chanwatch-*.whl")
    return built


def test_wheel_holds_every_package_and_the_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        str(p.relative_to(ROOT))
        for top in PRODUCT
        for p in (ROOT / top).rglob("*")
        if p.suffix in (".py", ".ftl") and "__pycache__" not in p.parts
    }
    assert expected - names == set(), "packages missing from [tool.setuptools] packages"
    for version in (ROOT / "alembic" / "versions").glob("*.py"):
        assert f"chanwatch_migrations/versions/{version.name}" in names
    assert "chanwatch_migrations/env.py" in names
    assert "chanwatch_migrations/script.py.mako" in names
    tops = {n.split("/", 1)[0] for n in names}
    assert not tops & {"bench", "tests", "alembic"}, tops


def test_installed_wheel_migrates_from_an_empty_folder(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), wheel],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)  # the installed copy, not the checkout
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import chanwatch, storage.migrate as m; "
            "print(chanwatch.__file__); print(m.migrations_dir())",
        ],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(target)) for line in where.stdout.splitlines()), where.stdout
    result = subprocess.run(
        [sys.executable, "-m", "chanwatch", "db", "upgrade"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"revision {head_revision()}" in result.stdout
    assert (empty / "data" / "chanwatch.db").is_file()
