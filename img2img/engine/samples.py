"""Sample grids: one row per image, columns input | output | target."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from img2img.data.io import write_image
from img2img.data.ranges import from_model_range


def make_grid(columns: list[Tensor], max_rows: int = 4, padding: int = 2) -> Tensor:
    """Lay out ``columns`` (each ``[N,C,H,W]`` in [-1, 1]) side by side, one row per image.

    Grayscale columns are repeated to RGB; the result is ``[3, H', W']`` in [0, 1].
    """
    rows = []
    for i in range(min(max_rows, columns[0].shape[0])):
        cells = []
        for col in columns:
            img = from_model_range(col[i].detach().float().cpu())
            if img.shape[0] == 1:
                img = img.expand(3, -1, -1)
            cells.append(
                torch.nn.functional.pad(img, (padding, padding, padding, padding), value=1.0)
            )
        rows.append(torch.cat(cells, dim=2))
    return torch.cat(rows, dim=1)


def save_grid(path: Path, columns: list[Tensor]) -> Tensor:
    """Write the grid of ``columns`` as a PNG at ``path``; return the grid (``[3, H, W]``)."""
    grid = make_grid(columns)
    write_image(path, grid)
    return grid
