"""Lazy package attributes (PEP 562): a package's public names are imported from their modules on first access.

``import ganprobe`` and the ``ganprobe`` command must not import torch; the packages that re-export torch-backed
classes (:mod:`ganprobe`, :mod:`ganprobe.metrics`, :mod:`ganprobe.extractors`) declare where each name lives and
get their ``__getattr__`` and ``__dir__`` from :func:`lazy_attributes`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any


def lazy_attributes(
    package: str, exports: Mapping[str, str], namespace: MutableMapping[str, Any], public: list[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's module-level ``__getattr__`` and ``__dir__``.

    Args:
        package: the package's name (for the error message).
        exports: public name -> the module that defines it.
        namespace: the package's ``globals()``; a name, once imported, is stored there (later lookups skip
            ``__getattr__``).
        public: the package's ``__all__``.

    Returns:
        ``(__getattr__, __dir__)``: the first imports ``exports[name]`` and returns its attribute ``name`` (an
        unknown name raises ``AttributeError``, as for any module); the second lists the namespace and ``public``.
    """

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*namespace, *public})

    return __getattr__, __dir__
