"""The wheel a user installs (`pip install .`, pipx, a container): it holds every product
package and the migrations, no bench or tests, and migrates from any folder."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import tomllib
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


def _imported_modules(top: str) -> set[str]:
    """Every module the package's code imports, as written (dotted)."""
    found: set[str] = set()
    for source in (ROOT / top).rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
    return found


_PACKAGES_DISTRIBUTIONS = functools.cache(importlib.metadata.packages_distributions)


def _distribution_of(module: str) -> str | None:
    """The installed distribution whose files hold `module` (None: standard library)."""
    top = module.partition(".")[0]
    candidates = _PACKAGES_DISTRIBUTIONS().get(top, [])
    spec = importlib.util.find_spec(module)
    origin = Path(spec.origin).resolve() if spec and spec.origin else None
    for name in candidates:
        dist = importlib.metadata.distribution(name)
        # A namespace package (fluent.runtime, fluent.syntax) is shared: the file decides.
        if len(candidates) == 1 or any(
            Path(dist.locate_file(f)).resolve() == origin for f in dist.files or ()
        ):
            return name
    return None


def test_every_third_party_import_is_a_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {
        re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        for requirement in project["dependencies"]
    }
    # The alembic/ folder (shipped as chanwatch_migrations) imports the alembic library.
    first_party = {*PRODUCT, "chanwatch_migrations"}
    missing = {}
    for top in (*PRODUCT, "alembic"):
        for module in _imported_modules(top):
            root = module.partition(".")[0]
            if root in sys.stdlib_module_names or root in first_party or root == "__future__":
                continue
            dist = _distribution_of(module)
            assert dist is not None, f"{top} imports {module}, which no installed package holds"
            if dist.lower().replace("_", "-") not in declared:
                missing[module] = dist
    assert not missing, f"imported but not in [project] dependencies: {missing}"
