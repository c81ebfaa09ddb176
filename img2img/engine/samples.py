"""Sample grids: one row per image, columns input | output | target."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset, default_collate

from img2img.data.io import write_image
from img2img.data.ranges import from_model_range

#: rows of a training run's sample grids, and the augmentation seed of their images
SAMPLE_ROWS = 4
SAMPLE_SEED = 0


def fixed_batch(dataset: Dataset) -> dict:
    """The batch a run's sample grids show: :data:`SAMPLE_ROWS` examples spread evenly over
    ``dataset``, always augmented alike."""
    count = min(SAMPLE_ROWS, len(dataset))
    picks = [i * len(dataset) // count for i in range(count)]
    return default_collate([dataset[(i, SAMPLE_SEED)] for i in picks])


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
