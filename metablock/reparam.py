"""Deploy-time reparameterization: fold norms into convs and multi-branch convs into one conv."""

from __future__ import annotations

from torch import nn


def reparameterize(module: nn.Module) -> nn.Module:
    """Fold every BatchNorm that follows a conv into that conv, and every RepVGG-style multi-branch
    depthwise conv into a single conv, in place. Idempotent; eval-mode outputs are unchanged.

    The folded model uses the BatchNorm running statistics, so call it on a trained model that is
    going to be used in eval mode. Returns ``module`` (or its replacement when ``module`` itself is a
    multi-branch conv).

    Example:
        >>> import torch, metablock
        >>> block = metablock.MetaMobileBlock(metablock.block_config("repvit_block")).eval()
        >>> x = torch.randn(1, 48, 8, 8)
        >>> y = block(x)
        >>> torch.allclose(metablock.reparameterize(block)(x), y, atol=1e-5)
        True
    """
    for name, child in list(module.named_children()):
        new = reparameterize(child)
        if new is not child:
            setattr(module, name, new)
    fold = getattr(module, "reparameterized", None)
    if callable(fold):
        return fold()
    return module
