"""metablock: every mobile vision block as one Meta Mobile Block, searchable.

Example:
    >>> import torch, metablock
    >>> cfg = metablock.block_config("irmb_attn", in_chs=40, out_chs=40, head_dim=20)
    >>> block = metablock.MetaMobileBlock(cfg)
    >>> block(torch.randn(1, 40, 14, 14)).shape
    torch.Size([1, 40, 14, 14])
"""

from __future__ import annotations

from . import families  # registers every family's presets, networks and converters
from .block import MetaMobileBlock
from .config import BlockConfig, ShiftMaxConfig, make_divisible
from .convert import convert_state_dict, load_checkpoint
from .cost_table import Costs, CostTable, PartCosts, network_costs
from .costs import count_macs, count_params
from .errors import ConfigError
from .families.emo import emo_block
from .families.micronet import micronet_block
from .latency import Latency, LatencyTable, measure_latency
from .memory import estimate_memory
from .network import LayerConfig, MetaNet, NetConfig, StageConfig, build, stages_from_blocks
from .presets import block_config, block_info, list_blocks
from .reference import from_reference, list_reference_classes
from .reparam import reparameterize
from .zoo import create_model, list_models, model_config, model_info

__version__ = "0.1.0"

__all__ = [
    "families",
    "BlockConfig",
    "LayerConfig",
    "MetaNet",
    "NetConfig",
    "StageConfig",
    "build",
    "create_model",
    "list_models",
    "model_config",
    "model_info",
    "stages_from_blocks",
    "ConfigError",
    "MetaMobileBlock",
    "ShiftMaxConfig",
    "block_config",
    "block_info",
    "convert_state_dict",
    "emo_block",
    "from_reference",
    "list_blocks",
    "list_reference_classes",
    "load_checkpoint",
    "make_divisible",
    "micronet_block",
    "reparameterize",
    "CostTable",
    "Costs",
    "PartCosts",
    "count_macs",
    "count_params",
    "estimate_memory",
    "network_costs",
    "Latency",
    "LatencyTable",
    "measure_latency",
]
