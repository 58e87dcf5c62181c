"""A small name -> object registry that rejects duplicates and explains unknown names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import unknown

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (classes, factories, presets).

    Example:
        >>> reg: Registry[int] = Registry("number")
        >>> reg.add("one", 1)
        >>> reg.get("one")
        1
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self.meta: dict[str, dict[str, str]] = {}

    def add(self, name: str, item: T, **meta: str) -> None:
        """Register ``item`` under ``name``; a name may be registered only once."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        self.meta[name] = dict(meta)

    def register(self, name: str, **meta: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(item: T) -> T:
            self.add(name, item, **meta)
            return item

        return deco

    def get(self, name: str) -> T:
        """Return the item for ``name``; unknown names raise ``ConfigError`` with the closest match."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise unknown(self.kind, name, self._items) from None

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
