"""Peak activation memory: the live-tensor estimate against the allocator's measured peak."""

from __future__ import annotations

import pytest
import torch

import metablock
from metablock.memory import estimate_memory

# the estimate leaves out scratch buffers that kernels allocate inside one op (see metablock/memory.py)
LOWER, UPPER = 0.70, 1.02


def measured_peak(model: torch.nn.Module, input_size: tuple[int, int, int], batch: int = 1) -> int:
    """Peak of the CPU allocator's running total over one forward pass, from the profiler's events."""
    event_type = pytest.importorskip("torch._C._profiler")._EventType
    model.eval()
    with torch.no_grad():
        model(torch.zeros((batch, *input_size)))  # warm up: one-off buffers are not activations
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
            x = torch.zeros((batch, *input_size))
            y = model(x)
            del x, y
    allocations = []

    def walk(node: object) -> None:
        if node.tag == event_type.Allocation:  # type: ignore[attr-defined]
            fields = node.extra_fields  # type: ignore[attr-defined]
            allocations.append((node.start_time_ns, fields.alloc_size, fields.total_allocated))  # type: ignore[attr-defined]
        for child in node.children:  # type: ignore[attr-defined]
            walk(child)

    for root in prof.profiler.kineto_results.experimental_event_tree():
        walk(root)
    allocations.sort()
    base = allocations[0][2] - allocations[0][1]
    return max(total for _, _, total in allocations) - base


@pytest.mark.parametrize("name", ["mobilenet_v2", "emo_1m", "micronet_m1", "repvit_m0_9", "shufflenet_v2_x1_0"])
def test_estimate_is_within_tolerance_of_the_measured_peak(name: str) -> None:
    model = metablock.build(metablock.model_config(name))
    size = (3, 128, 128)
    estimate = estimate_memory(model, size, batch=2)
    measured = measured_peak(model, size, batch=2)
    assert LOWER * measured <= estimate <= UPPER * measured, (estimate, measured)


def test_estimate_grows_linearly_with_batch_and_counts_the_input() -> None:
    cfg = metablock.model_config("mobilenet_v3_small")
    one = estimate_memory(cfg, (3, 64, 64))
    four = estimate_memory(cfg, (3, 64, 64), batch=4)
    assert one > 3 * 64 * 64 * 4
    assert four == pytest.approx(4 * one, rel=0.02)


def test_estimate_leaves_the_module_mode_alone_and_rejects_bad_input() -> None:
    model = metablock.build(metablock.model_config("mobilenet_v3_small")).train()
    estimate_memory(model, (3, 32, 32))
    assert model.training
    with pytest.raises(metablock.ConfigError, match="input_size"):
        estimate_memory(model, (3, 32))
    with pytest.raises(metablock.ConfigError, match="batch"):
        estimate_memory(model, (3, 32, 32), batch=0)
