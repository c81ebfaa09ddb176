"""pix2pixHD's published generators: their depth and width read from a bare ``state_dict``."""

from __future__ import annotations

import re
from collections.abc import Mapping

from torch import Tensor

from img2img.models.published import GeneratorSpec

_BLOCK = re.compile(r"^(model\d*(?:_2)?)\.(\d+)\.conv_block\.")
_CONV = re.compile(r"^model\.(\d+)\.weight$")


def label_map_generator_candidates(state: Mapping[str, Tensor]) -> list[GeneratorSpec]:
    """pix2pixHD's ``global`` / ``local`` generators whose depth the keys of ``state`` give."""
    first = state.get("model.1.weight")
    if first is None or first.dim() != 4 or first.shape[-1] != 7:
        return []
    blocks: dict[str, set[int]] = {}
    for key in state:
        if match := _BLOCK.match(key):
            blocks.setdefault(match.group(1), set()).add(int(match.group(2)))
    if not blocks.get("model"):
        return []
    convs = sorted(int(m.group(1)) for k in state if (m := _CONV.match(k)))
    n_down = sum(1 for i in convs if 1 < i < min(blocks["model"]))
    width, in_channels = int(first.shape[0]), int(first.shape[1])
    last = [v for k, v in state.items() if k.endswith("weight") and v.dim() == 4][-1]
    enhancers = len({k.split(".")[0] for k in state if re.match(r"^model\d+_1\.", k)})
    specs = []
    for norm in ("instance", "batch"):
        common = {"in_channels": in_channels, "out_channels": int(last.shape[0]), "norm": norm}
        if enhancers == 0:
            specs.append(GeneratorSpec("global", {**common, "ngf": width, "n_downsampling": n_down,
                                                  "n_blocks": len(blocks["model"])}, "pix2pixhd"))
        else:
            local_blocks = len(blocks.get(f"model{enhancers}_2", ()))
            specs.append(GeneratorSpec("local", {
                **common, "ngf": width // 2**enhancers, "n_downsample_global": n_down,
                "n_blocks_global": len(blocks["model"]), "n_local_enhancers": enhancers,
                "n_blocks_local": local_blocks}, "pix2pixhd"))
    return specs
