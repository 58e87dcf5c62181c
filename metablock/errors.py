"""Exceptions raised for invalid user input."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ConfigError(ValueError):
    """A configuration names an invalid value.

    The message always names the field, the value that was given and what would be valid, e.g.
    ``ConfigError: window attention needs width % head_dim == 0; got head_dim=64 for width 96``.
    """


class StoppedError(RuntimeError):
    """A long run stopped before its end (a worker process was killed or crashed). Everything it
    finished is stored; the message says how to resume."""


def closest(name: str, valid: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest valid name, or an empty string."""
    match = difflib.get_close_matches(str(name), list(valid), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def unknown(kind: str, name: object, valid: Iterable[str]) -> ConfigError:
    """Build the error for an unknown registry name, listing valid names and the closest match."""
    names = sorted(valid)
    return ConfigError(f"unknown {kind} {name!r}{closest(str(name), names)}; valid: {', '.join(names)}")
