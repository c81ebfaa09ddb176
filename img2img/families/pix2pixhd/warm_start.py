"""``--init-from``: the networks of another pix2pixHD run, checked to fit this one."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from img2img.checkpoints import (
    check_checkpoint,
    read_checkpoint_file,
    resolve_checkpoint,
)
from img2img.config import ConfigError
from img2img.families.pix2pixhd.builders import build_generator
from img2img.families.pix2pixhd.config import Pix2PixHDConfig


def same_layout(net: nn.Module, state: Mapping[str, Tensor] | None) -> bool:
    if state is None:
        return False
    own = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    return own == {k: tuple(v.shape) for k, v in state.items()}


def warm_start_weights(
    m: Pix2PixHDConfig, source: str
) -> tuple[Pix2PixHDConfig, dict[str, dict[str, Tensor]], list[str]]:
    """The networks of run ``source`` to start ``m`` from, checked to fit.

    Raises:
        ConfigError: not a pix2pixHD checkpoint, or its generator does not fit.
    """
    from img2img.families import load_run_config

    file = resolve_checkpoint(source)
    data = check_checkpoint(read_checkpoint_file(file, mmap=True), file)
    if data["family"] != "pix2pixhd":
        raise ConfigError(f"--init-from {source}: a {data['family']} run; expected a pix2pixhd one")
    other: Pix2PixHDConfig = load_run_config(data["config"]).model
    if other.netG == "local" and m.netG == "global":
        raise ConfigError(
            f"--init-from {source}: a 'local' generator cannot start a 'global' one; expected "
            "a 'global' run (for --netG global or local) or a 'local' one (for --netG local)"
        )
    with torch.device("meta"):
        target = build_generator(m)
    nets = data["nets"]
    try:
        if m.netG == "local" and other.netG == "global":
            target.load_global(nets["G"])
        elif not same_layout(target, nets["G"]):
            raise ValueError("its generator's layout differs (another ngf, depth or channels)")
    except ValueError as exc:
        raise ConfigError(f"--init-from {source}: {exc}") from exc
    notes = [f"generator initialised from {file} (step {data['step']}, netG {other.netG})"]
    return other, nets, notes
