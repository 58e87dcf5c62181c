"""Named networks as ``NetConfig`` presets built only from Meta Mobile Block stages.

Each network is written as its reference defines it (block by block) and grouped into stages with
:func:`metablock.network.stages_from_blocks`.

Example:
    >>> import metablock
    >>> "emo_1m" in metablock.list_models()
    True
    >>> model = metablock.create_model("mobilenet_v2", num_classes=10)
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Any

from . import presets
from .errors import ConfigError
from .network import LayerConfig, MetaNet, NetConfig, build
from .registry import Registry

ModelFn = Callable[[], NetConfig]
MODELS: Registry[ModelFn] = Registry("model")


def _model(name: str, *, reference: str, paper: str) -> Callable[[ModelFn], ModelFn]:
    return MODELS.register(name, reference=reference, paper=presets.PAPERS[paper])


def list_models(filter: str | Sequence[str] = "", *, pretrained: bool = False) -> list[str]:  # noqa: A002 (timm's name)
    """Names of the named networks, as timm's ``list_models``: ``filter`` is a shell-style pattern (or a
    list of them, e.g. ``"emo*"``); ``pretrained=True`` lists those with shipped weights (none: metablock
    ships no weights, see :func:`create_model`)."""
    names = MODELS.names()
    if pretrained:
        return []
    if filter:
        patterns = [filter] if isinstance(filter, str) else list(filter)
        names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    return names


def model_info(name: str) -> dict[str, str]:
    MODELS.get(name)
    return dict(MODELS.meta[name])


def model_config(name: str, **overrides: Any) -> NetConfig:
    """The :class:`NetConfig` of a named network; ``overrides`` replace top-level fields
    (``num_classes``, ``in_chans``, ``width_mult``, ``drop_path_rate``, ...)."""
    cfg = MODELS.get(name)()
    return cfg.replace(**overrides) if overrides else cfg


def create_model(
    name: str,
    pretrained: bool = False,
    *,
    num_classes: int = 1000,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    checkpoint_path: str | None = None,
    **overrides: Any,
) -> MetaNet:
    """Build a named network (timm's ``create_model`` arguments where they apply).

    Args:
        name: one of :func:`list_models`.
        pretrained: metablock ships no weights; ``True`` raises ``ConfigError`` saying how to load a
            converted checkpoint (``checkpoint_path``, :func:`metablock.load_checkpoint`).
        num_classes: classifier outputs.
        features_only: return feature maps at strides 4, 8, 16, 32 instead of logits.
        out_indices: with ``features_only``, which of those maps to return (indices into them).
        checkpoint_path: a state-dict file (``torch.load(weights_only=True)``) loaded strictly.
        **overrides: other top-level ``NetConfig`` fields.

    Example:
        >>> m = create_model("repvit_m0_9", features_only=True)
        >>> m.feature_strides()
        [4, 8, 16, 32]
    """
    cfg = model_config(name, num_classes=num_classes, **overrides)
    return build_model(cfg, name, pretrained=pretrained, features_only=features_only, out_indices=out_indices,
                       checkpoint_path=checkpoint_path)  # fmt: skip


def build_model(
    cfg: NetConfig,
    name: str,
    *,
    pretrained: bool = False,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    checkpoint_path: str | None = None,
) -> MetaNet:
    """:func:`create_model`'s work on any ``cfg`` (``name`` for the messages): refuse ``pretrained``,
    build, keep the ``out_indices`` maps and load ``checkpoint_path``."""
    if pretrained:
        raise ConfigError(
            f"no pretrained weights are shipped for {name!r}: convert a checkpoint (metablock.from_reference on a "
            "timm/torchvision model, or metablock.convert_state_dict for official EMO/MicroNet files) and pass "
            "checkpoint_path=, or load it with metablock.load_checkpoint"
        )
    if out_indices is not None and not features_only:
        raise ConfigError("out_indices applies only with features_only=True")
    model = build(cfg, features_only=features_only)
    if out_indices is not None:
        model.select_features(list(out_indices))
    if checkpoint_path is not None:
        from .convert import load_checkpoint

        model.load_state_dict(load_checkpoint(checkpoint_path), strict=not features_only)
    return model


def _conv(out: int, kernel: int = 3, stride: int = 1, act: str = "relu", **kw: Any) -> LayerConfig:
    return LayerConfig(kind="conv", out_chs=out, kernel=kernel, stride=stride, norm=kw.pop("norm", "bn"), act=act, **kw)


POOL = LayerConfig(kind="pool")


def _dropout(p: float) -> LayerConfig:
    return LayerConfig(kind="dropout", p=p)


CLASSIFIER = LayerConfig(kind="linear", bias=True)


__all__ = ["MODELS", "ConfigError", "build_model", "create_model", "list_models", "model_config", "model_info"]


def __getattr__(name: str) -> Any:
    """``zoo.efficientnet`` and the like: the network functions (and tables) of the family modules."""
    from . import families

    return families.lookup(name, "metablock.zoo")
