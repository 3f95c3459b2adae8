"""World layouts: where the wood and stone sources and the water tiles are.

A layout is static: every environment of a batch shares it, so its tensors have no batch dimension.
Layouts are text files in ``ermas/economy/maps`` (rows separated by ``;``; ``W`` wood source, ``S`` stone
source, ``@`` water, space empty), the format of the AI Economist package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

MAPS_DIR = Path(__file__).parent / "maps"
PAPER_LAYOUT = "quadrant_25x25_20each_30clump"
SMALL_LAYOUT = "small_11x11"
_SYMBOLS = {"W": "wood", "S": "stone", "@": "water", " ": None}


@dataclass(frozen=True)
class Layout:
    """A static world layout.

    Attributes:
        name: the map's file name without ``.txt``.
        stone_source, wood_source, water: ``(H, W)`` bool tensors.
    """

    name: str
    stone_source: torch.Tensor
    wood_source: torch.Tensor
    water: torch.Tensor

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.water.shape)  # type: ignore[return-value]

    @property
    def sources(self) -> torch.Tensor:
        """``(2, H, W)`` bool, in resource order (stone, wood)."""
        return torch.stack([self.stone_source, self.wood_source])

    def start_corners(self) -> list[tuple[int, int]]:
        """Start tiles of the four skill ranks, lowest skill first (the AI Economist's fixed corners)."""
        h, w = self.shape
        return [(0, w - 1), (h - 1, 0), (0, 0), (h - 1, w - 1)]


def parse_layout(text: str, name: str = "custom") -> Layout:
    """Parse the ``;``-separated map format; every row must have the same width."""
    rows = text.rstrip("\n").removesuffix(";").split(";")
    width = len(rows[0])
    if width == 0 or any(len(r) != width for r in rows):
        raise ValueError(f"layout {name!r}: every row must have the same, non-zero width; got {[len(r) for r in rows]}")
    bad = {ch for r in rows for ch in r if ch not in _SYMBOLS}
    if bad:
        raise ValueError(f"layout {name!r}: unknown symbols {sorted(bad)}; allowed are 'W', 'S', '@' and space")
    grids = {kind: torch.zeros(len(rows), width, dtype=torch.bool, device="cpu") for kind in ("wood", "stone", "water")}
    for r, row in enumerate(rows):
        for c, ch in enumerate(row):
            if _SYMBOLS[ch] is not None:
                grids[_SYMBOLS[ch]][r, c] = True
    layout = Layout(name=name, stone_source=grids["stone"], wood_source=grids["wood"], water=grids["water"])
    for r, c in layout.start_corners():
        if layout.water[r, c]:
            raise ValueError(f"layout {name!r}: start corner ({r}, {c}) is water")
    return layout


def load_layout(name: str = PAPER_LAYOUT) -> Layout:
    """Load a layout shipped in ``ermas/economy/maps`` by name (``PAPER_LAYOUT`` or ``SMALL_LAYOUT``)."""
    available = sorted(p.stem for p in MAPS_DIR.glob("*.txt"))
    if name not in available:
        raise ValueError(f"unknown layout {name!r}; available: {available}")
    return parse_layout((MAPS_DIR / f"{name}.txt").read_text(), name=name)
