"""How long a whole ``img2img translate`` process takes for one image, and its floor.

The floor is a Python process that only imports torch: nothing img2img does can go below it.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch


def _wall_time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def one_image_run(checkpoint: Path, image: Path, out: Path, repeats: int = 3) -> dict:
    """Median wall time of ``img2img translate`` on one image, and of ``import torch`` alone.

    Both run ``repeats`` times, alternating, after one untimed run of each (so the files
    are in the page cache for every timed run, as for a user's second image).
    """
    translate = [sys.executable, "-m", "img2img", "translate", "--model", str(checkpoint),
                 str(image), str(out), "--device", "cpu", "--overwrite"]
    bare = [sys.executable, "-c", "import torch"]
    _wall_time(translate)
    _wall_time(bare)
    runs, floors = [], []
    for _ in range(repeats):
        runs.append(_wall_time(translate))
        floors.append(_wall_time(bare))
    return {"seconds": statistics.median(runs), "best": min(runs),
            "import_torch": statistics.median(floors)}


def save_pix2pix_checkpoint(recipe, path: Path) -> Path:
    """A real checkpoint of ``recipe`` (networks, optimizers, config), as training writes it."""
    from img2img.engine.checkpoint import save_checkpoint
    from img2img.engine.rng import rng_state

    payload = {"family": recipe.family, "config": recipe.config.to_dict(), "step": 0,
               "epoch": 0, "epoch_step": 0, "rng": rng_state(), **recipe.state_dict()}
    with torch.no_grad():
        return save_checkpoint(path, payload)
