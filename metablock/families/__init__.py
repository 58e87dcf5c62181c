"""One module per block family: its block presets, network presets, ``from_reference`` converters and
any official checkpoint key mapping, registered through metablock's registries (``presets.BLOCKS``,
``zoo.MODELS``, ``reference.CONVERTERS``, ``convert.SOURCES``) when this package is imported.

Every module of this package is imported, so adding a family is adding one file here (and its test
case). ``config``, ``block``, ``layers`` and ``network`` are the core the families are built from.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

#: the family modules, in name order (the order their presets and networks are listed in)
MODULES: list[ModuleType] = [
    importlib.import_module(f"{__name__}.{info.name}")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
    if not info.name.startswith("_")
]


def lookup(name: str, where: str) -> Any:
    """A family module's top-level ``name`` (``presets.mbconv``, ``zoo.efficientnet``); ``AttributeError``
    naming ``where`` when no family defines it."""
    for module in MODULES:
        if name in vars(module):
            return vars(module)[name]
    raise AttributeError(f"module {where!r} has no attribute {name!r}")
