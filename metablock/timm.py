"""metablock's networks in timm's model registry (opt-in: ``import metablock.timm``).

After the import every named network is a timm model ``metablock_<name>``, and any ``NetConfig`` (a
searched architecture, a JSON/YAML file) is one through ``metablock_config`` or a name given with
:func:`register`. ``timm.create_model`` then takes them with its usual arguments (``num_classes``,
``in_chans``, ``features_only``, ``out_indices``, ``drop_path_rate``, ``checkpoint_path``), and code
built on timm (``timm.data.resolve_data_config``, feature extraction, its training script) works on
them. No weights are shipped: ``pretrained=True`` raises, ``timm.list_models(pretrained=True)`` lists
none of them.

Example:
    >>> import timm
    >>> import metablock.timm
    >>> model = timm.create_model("metablock_emo_1m", num_classes=10)
    >>> backbone = timm.create_model("metablock_repvit_m0_9", features_only=True, out_indices=(1, 3))
    >>> backbone.feature_info.channels()
    [96, 384]
    >>> searched = timm.create_model("metablock_config", config="pareto/trial_0005.json")  # doctest: +SKIP
    >>> metablock.timm.register("my_net", "pareto/trial_0005.json")  # doctest: +SKIP
    'metablock_my_net'
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .network import MetaNet, NetConfig, pretrained_cfg_of
from .profile import load_network
from .zoo import build_model, list_models, model_config

try:
    from timm.models import register_model
except ImportError as exc:  # pragma: no cover - exercised only without timm
    raise ImportError("metablock.timm needs timm: pip install timm") from exc

PREFIX = "metablock_"
#: timm's per-model default configuration, read by ``register_model`` (one entry per registered name)
default_cfgs: dict[str, dict[str, Any]] = {}
#: arguments timm's ``create_model`` passes to every entry point that metablock has no use for
_TIMM_ONLY = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir", "pretrained_strict")


def _cfg(cfg: NetConfig) -> dict[str, Any]:
    return {**pretrained_cfg_of(cfg), "url": "", "pool_size": None, "first_conv": "stem.0", "license": "apache-2.0"}


def _network(
    cfg: NetConfig,
    name: str,
    *,
    pretrained: bool = False,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    **kwargs: Any,
) -> MetaNet:
    for key in _TIMM_ONLY:
        kwargs.pop(key, None)
    if kwargs.pop("drop_rate", None) not in (None, 0, 0.0):
        raise ConfigError(
            f"{name!r}: drop_rate is set by the network's head (a dropout layer); give the head in its NetConfig"
        )
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    cfg = cfg.replace(**kwargs) if kwargs else cfg
    model = build_model(cfg, name, pretrained=pretrained, features_only=features_only, out_indices=out_indices)
    if device is not None or dtype is not None:
        model.to(device=device, dtype=dtype)
    return model


def _entry(fn_name: str, make: Callable[..., MetaNet], cfg: NetConfig | None) -> Callable[..., MetaNet]:
    make.__name__ = make.__qualname__ = fn_name
    make.__module__ = __name__
    setattr(sys.modules[__name__], fn_name, make)
    if cfg is not None:
        default_cfgs[fn_name] = _cfg(cfg)
    return register_model(make)


def _named(name: str) -> Callable[..., MetaNet]:
    def make(pretrained: bool = False, **kwargs: Any) -> MetaNet:
        return _network(model_config(name), PREFIX + name, pretrained=pretrained, **kwargs)

    make.__doc__ = f"metablock's ``{name}`` (``metablock.create_model({name!r})``)."
    return make


def _load(config: str | Path | NetConfig) -> NetConfig:
    if isinstance(config, NetConfig):
        return config
    if isinstance(config, (str, Path)) and Path(config).suffix.lower() in (".json", ".yaml", ".yml"):
        return load_network(str(config))
    raise ConfigError(f"config must be a NetConfig or a .json/.yaml/.yml file path; got config={config!r}")


def metablock_config(
    pretrained: bool = False, *, config: str | Path | NetConfig | None = None, **kwargs: Any
) -> MetaNet:
    """Any :class:`NetConfig`: ``timm.create_model("metablock_config", config="trial_0005.json")``."""
    if config is None:
        raise ConfigError(
            "metablock_config needs config= (a NetConfig or a JSON/YAML file, e.g. pareto/trial_0005.json)"
        )
    return _network(_load(config), "metablock_config", pretrained=pretrained, **kwargs)


def register(name: str, config: str | Path | NetConfig) -> str:
    """Register ``config`` (a :class:`NetConfig` or its file) as the timm model ``metablock_<name>`` and
    return that name; registering a name again replaces it."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ConfigError(f"name must be a Python identifier (letters, digits, _); got name={name!r}")
    cfg = _load(config)

    def make(pretrained: bool = False, **kwargs: Any) -> MetaNet:
        return _network(cfg, PREFIX + name, pretrained=pretrained, **kwargs)

    make.__doc__ = f"The NetConfig {cfg.name!r} registered as {PREFIX + name!r}."
    with warnings.catch_warnings():  # timm warns on every re-registration; replacing is what was asked
        warnings.filterwarnings("ignore", message="Overwriting", category=UserWarning)
        _entry(PREFIX + name, make, cfg)
    return PREFIX + name


_entry("metablock_config", metablock_config, None)
for _name in list_models():
    _entry(PREFIX + _name, _named(_name), model_config(_name))

__all__ = ["PREFIX", "default_cfgs", "metablock_config", "register"]
