"""The agents' convolutions, forward and backward on one PPO minibatch of views, in five forms: channels-last
inputs through oneDNN (what ``ermas.two_level.networks`` uses), the default (NCHW) layout, either layout with
oneDNN switched off, and explicit unfolding and matrix products. Prints each form's time as a multiple of
the first's, one torch thread.

    .venv/bin/python benchmarks/agent_conv_forms.py [--rows 3200] [--repeats 10]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ermas.two_level.networks import AgentNetwork


def seconds(work: Callable[[], None], repeats: int) -> float:
    work()
    start = time.perf_counter()
    for _ in range(repeats):
        work()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=3200)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    conv = AgentNetwork(shared_trunk=True).policy_tower.conv
    first, second = conv[0], conv[2]
    # sparse 0/1 views like the economy's one-hot channels, (N, w, w, C) uint8 as kept in the PPO batch
    side = 11  # the view of the economy's default observation range, 5
    views = (torch.rand(args.rows, side, side, first.in_channels, generator=generator) < 0.1).to(torch.uint8)

    def layers(x: torch.Tensor) -> torch.Tensor:
        return conv(x)

    def unfolded(x: torch.Tensor) -> torch.Tensor:
        hidden = first.weight.flatten(1) @ F.unfold(x, 3, padding=1, stride=2) + first.bias[:, None]
        hidden = hidden.relu().view(len(x), first.out_channels, (side + 1) // 2, (side + 1) // 2)
        out = second.weight.flatten(1) @ F.unfold(hidden, 3, padding=1, stride=2) + second.bias[:, None]
        return out.relu().flatten(1)

    def timed(forward: Callable[[torch.Tensor], torch.Tensor], layout: torch.memory_format, onednn: bool) -> float:
        conv.to(memory_format=layout)
        x = views.float().permute(0, 3, 1, 2).contiguous(memory_format=layout)
        torch.backends.mkldnn.enabled = onednn
        try:
            return seconds(lambda: forward(x).sum().backward(), args.repeats)
        finally:
            torch.backends.mkldnn.enabled = True

    forms = {
        "channels-last, oneDNN (ours)": timed(layers, torch.channels_last, True),
        "default layout, oneDNN": timed(layers, torch.contiguous_format, True),
        "channels-last, no oneDNN": timed(layers, torch.channels_last, False),
        "default layout, no oneDNN": timed(layers, torch.contiguous_format, False),
        "unfold and matrix products": timed(unfolded, torch.contiguous_format, True),
    }
    base = forms["channels-last, oneDNN (ours)"]
    print(f"agents' convolutions, forward and backward, {args.rows} views, one thread:")
    for name, value in forms.items():
        print(f"  {name:30s} {value * 1e3:7.1f} ms  {value / base:4.1f}x ours")


if __name__ == "__main__":
    main()
