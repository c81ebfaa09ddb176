"""How long a whole ``img2img translate`` process takes for one image, and its floor.

The floor is a Python process that only imports torch and ends without the interpreter's
teardown (as ``img2img`` does): nothing img2img does can go below it.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch


def _timed(command: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of running ``command`` to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def one_image_run(checkpoint: Path, image: Path, out: Path, repeats: int = 3) -> dict:
    """Median wall and CPU times of ``img2img translate`` on one image and of ``import torch``.

    Both run ``repeats`` times, alternating, after one untimed run of each (so the files
    are in the page cache for every timed run, as for a user's second image). CPU time does
    not count waiting for a core, so its ratio holds on a busy machine too.
    """
    translate = [sys.executable, "-m", "img2img", "translate", "--model", str(checkpoint),
                 str(image), str(out), "--device", "cpu", "--overwrite"]
    bare = [sys.executable, "-c", "import os, torch; os._exit(0)"]
    _timed(translate)
    _timed(bare)
    runs, floors = [], []
    for _ in range(repeats):
        runs.append(_timed(translate))
        floors.append(_timed(bare))
    return {"seconds": statistics.median(r[0] for r in runs), "best": min(r[0] for r in runs),
            "import_torch": statistics.median(f[0] for f in floors),
            "cpu": statistics.median(r[1] for r in runs),
            "import_torch_cpu": statistics.median(f[1] for f in floors)}


def save_pix2pix_checkpoint(recipe, path: Path) -> Path:
    """A real checkpoint of ``recipe`` (networks, optimizers, config), as training writes it."""
    from img2img.checkpoints import save_checkpoint
    from img2img.engine.rng import rng_state

    payload = {"family": recipe.family, "config": recipe.config.to_dict(), "step": 0,
               "epoch": 0, "epoch_step": 0, "rng": rng_state(), **recipe.state_dict()}
    with torch.no_grad():
        return save_checkpoint(path, payload)
