"""Optuna search over stage configurations of the Meta Mobile Block."""

from __future__ import annotations

from .space import (
    OPS,
    Candidate,
    SearchSpace,
    StageSpace,
    get_space,
    list_operators,
    list_spaces,
    load_space,
    random_config,
)

__all__ = [
    "OPS",
    "Candidate",
    "SearchSpace",
    "StageSpace",
    "get_space",
    "list_operators",
    "list_spaces",
    "load_space",
    "random_config",
]
