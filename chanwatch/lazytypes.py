"""aiogram's Telegram types and methods, each built the first time it is used.

aiogram declares its ~400 types with pydantic's `defer_build`, and then the last lines of
`aiogram/types/__init__.py` build every one of them anyway: they call `model_rebuild` on
each with one namespace of all the types, so that the names the type modules import only
under TYPE_CHECKING resolve. Built, the types and the ~170 method models (built as they
are defined, on the built types) are ~105 MB of pydantic validators and serializers, 40 % of
a started `chanwatch run` (issue #16). The process uses a few dozen of them.

`import_aiogram` imports aiogram with that loop's rebuilds put off: each call only hands
over the namespace. Every aiogram model then keeps that namespace as its parent namespace,
which is where pydantic looks when it builds a deferred model at first use. The models are
the same, built from the same annotations in the same namespace, only later
(tests/test_footprint.py compares their schemas with those of aiogram's own import).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel


def import_aiogram() -> None:
    """Import aiogram with its models unbuilt; a no-op once aiogram is imported."""
    if "aiogram" in sys.modules:
        return
    namespace: dict[str, Any] = {}
    rebuild = BaseModel.__dict__["model_rebuild"]

    def hand_over(
        cls: type[BaseModel],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Any = None,
    ) -> bool | None:
        if _types_namespace is None or force:
            return rebuild.__func__(  # type: ignore[no-any-return]
                cls,
                force=force,
                raise_errors=raise_errors,
                _parent_namespace_depth=_parent_namespace_depth + 1,
            )
        namespace.update(_types_namespace)
        return None

    BaseModel.model_rebuild = classmethod(hand_over)  # type: ignore[method-assign,assignment]
    try:
        import aiogram  # noqa: F401
    finally:
        BaseModel.model_rebuild = rebuild  # type: ignore[method-assign]
    # Built ones too: the generic models made later (aiogram's Response[Message] for each
    # method's answer) find it on their origin.
    for model in aiogram_models():
        model.__pydantic_parent_namespace__ = namespace


def aiogram_models() -> Iterator[type[BaseModel]]:
    """Every pydantic model class aiogram defines (its types, methods and their bases)."""
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [BaseModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
                if sub.__module__.startswith("aiogram."):
                    yield sub
