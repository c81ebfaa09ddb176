"""Run by the CUDA tier in its own process: joins a one-process NCCL group (gloo on the CPU),
trains a tiny pix2pix run straight for 4 steps and once for 2 steps resumed to 4, and prints
whether every network weight came out bit for bit the same.

Usage: ``nccl_worker.py DATASET RUNS_DIR DEVICE``; ``MASTER_ADDR``/``MASTER_PORT`` set.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from img2img.checkpoints import load_checkpoint
from img2img.config import DataConfig, RunConfig, TrainConfig
from img2img.families.pix2pix.config import Pix2PixConfig
from img2img.launch import resume, train


def main() -> None:
    dataset, runs, device = Path(sys.argv[1]), Path(sys.argv[2]), torch.device(sys.argv[3])
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=0, world_size=1,
                            device_id=device if device.type == "cuda" else None)
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True)

    def config(name: str, steps: int) -> RunConfig:  # no autotuning: the same kernels
        return RunConfig(
            family="pix2pix", name=name,
            model=Pix2PixConfig(netG="unet_128", ngf=8, ndf=8, input_nc=1, output_nc=3),
            data=DataConfig(root=str(dataset), load_size=142, crop_size=128, num_workers=0),
            train=TrainConfig(device=str(device), batch_size=2, max_steps=steps,
                              sample_every=1000, cudnn_benchmark=False))

    straight, _ = train(config("straight", 4), runs)
    halves, first = train(config("halves", 2), runs)
    _, second = resume(halves.path, {"max_steps": 4})
    expected, got = load_checkpoint(straight.path), load_checkpoint(halves.path)
    differ = [f"{net}.{key}" for net, state in expected["nets"].items()
              for key, value in state.items() if not torch.equal(value, got["nets"][net][key])]
    print(json.dumps({"backend": dist.get_backend(), "steps": [first.step, second.step],
                      "saved_step": got["step"], "differ": differ}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
