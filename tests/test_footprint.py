"""What a `chanwatch run` process carries before it has anything to draw.

matplotlib and numpy are about 40 MB of the process (issue #16 bounds its memory);
they are loaded when the first digest chart is drawn, not at start.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from bot.digest import chart
from chanwatch.heap import ARENAS

_PROBE = (
    "import json, sys, chanwatch.app, chanwatch.cli; "
    "print(json.dumps(sorted(m for m in ('matplotlib', 'numpy') if m in sys.modules)))"
)


def test_starting_chanwatch_does_not_load_the_chart_library() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_chart_is_still_drawn_once_the_library_is_loaded() -> None:
    strip = chart.render_header("Digest", "Europe/Moscow")
    png = chart.stitch([strip])
    assert png.startswith(b"\x89PNG") and strip.height == chart.HEADER_HEIGHT


# What each aiogram model validates and gives, as JSON schema (InputFile fields by name).
_SCHEMAS = """
import json, warnings
from pydantic.json_schema import GenerateJsonSchema
{importing}
from chanwatch.lazytypes import aiogram_models

class Schema(GenerateJsonSchema):
    def is_instance_schema(self, schema):
        return {{"instance_of": schema["cls"].__qualname__}}

warnings.simplefilter("ignore")
out = {{}}
for model in aiogram_models():
    if model.__pydantic_generic_metadata__["parameters"]:
        continue  # an open generic (TelegramMethod[T]) validates nothing itself
    out[f"{{model.__module__}}.{{model.__qualname__}}"] = model.model_json_schema(
        schema_generator=Schema
    )
print(json.dumps(out, sort_keys=True, default=repr))
"""


def _schemas(*importing: str) -> list[dict[str, object]]:
    """The schemas in one process for each way of importing aiogram (run side by side)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SCHEMAS.format(importing=how)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for how in importing
    ]
    schemas = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        schemas.append(json.loads(out.strip().splitlines()[-1]))
    return schemas


def test_starting_chanwatch_builds_none_of_the_bot_library_models_yet() -> None:
    """aiogram's ~570 models are ~105 MB built; `chanwatch run` builds each when it is used."""
    probe = (
        "import json; from chanwatch.lazytypes import import_aiogram, aiogram_models; "
        "import_aiogram(); import chanwatch.app, chanwatch.cli; from aiogram import types; "
        "print(json.dumps([types.Message.__pydantic_complete__, types.Update.__pydantic_complete__,"
        " sum(m.__pydantic_complete__ for m in aiogram_models()), len(list(aiogram_models()))]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    message, update, built, models = json.loads(out.stdout.strip().splitlines()[-1])
    assert (message, update) == (False, False)
    assert models > 500 and built < models / 2


def test_the_bot_library_models_built_on_use_are_the_ones_aiogram_builds() -> None:
    eager, lazy = _schemas(
        "import aiogram", "from chanwatch.lazytypes import import_aiogram; import_aiogram()"
    )
    assert len(eager) > 500
    assert lazy == eager


# Eight threads allocate at once, then glibc's malloc_info lists its heaps (arenas).
_ARENAS = """
import ctypes, ctypes.util, sys, tempfile, threading
{limiting}
libc = ctypes.CDLL(ctypes.util.find_library("c"))
together = threading.Barrier(8)

def work():
    together.wait()
    kept = [bytearray(50_000) for _ in range(50)]
    together.wait()

threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile(suffix=".xml") as f:
    out = ctypes.c_void_p(libc.fopen(f.name.encode(), b"w"))
    libc.malloc_info(0, out)
    libc.fclose(out)
    print(open(f.name).read().count("<heap nr="))
"""


def _heaps(limiting: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    out = subprocess.run(
        [sys.executable, "-c", _ARENAS.format(limiting=limiting)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="malloc arenas are glibc's",
)
def test_chanwatch_run_keeps_its_threads_to_two_malloc_arenas() -> None:
    """Memory one thread frees is not reused by a thread on another arena (issue #16)."""
    default = _heaps("")
    limited = _heaps("from chanwatch.heap import limit_arenas; assert limit_arenas()")
    assert default > ARENAS  # glibc's own: a heap per thread, up to 8 per core
    assert limited <= ARENAS
