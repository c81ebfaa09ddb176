"""pix2pixHD at test time: label maps (+ instance maps, + styles) encoded for the generator."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from img2img.boundary import boundary_map
from img2img.config import RunConfig
from img2img.data.discover import find_images
from img2img.data.labelmaps import one_hot, pair_key
from img2img.data.ranges import to_model_range
from img2img.data.streams import Stream
from img2img.families.pix2pixhd.config import Pix2PixHDConfig
from img2img.families.pix2pixhd.features import FeatureClusters, exported_clusters, feature_map
from img2img.infer.stochastic import image_seed
from img2img.models.inference import InferenceModel, check_test_mode

#: test-time options of pix2pixHD models (``translate`` flags without the dashes)
TEST_OPTIONS = ("test_mode", "seed", "instances", "style", "all_styles")
#: ``--style random``: a seeded random centre per instance
RANDOM_STYLE = "random"
_STYLE_VARIANT = re.compile(r"^_style(\d+)$")


def encode_labels(labels: Tensor, instances: Tensor | None, m: Pix2PixHDConfig, *,
                  checked: bool = False) -> Tensor:
    """The label input of the networks: one-hot classes (or the image) + the boundary map.

    Args:
        labels: class ids ``[N, 1, H, W]`` (int64), or images ``[N, C, H, W]`` in
            ``[-1, 1]`` when ``label_nc`` is 0.
        instances: instance ids ``[N, 1, H, W]``; needed when ``m.instance``.
        m: the model config.
        checked: the class ids were checked already (see :func:`one_hot`).
    """
    x = one_hot(labels, m.label_nc, checked=checked) if m.label_nc else labels.float()
    if m.instance:
        if instances is None:
            raise ValueError("this model takes instance maps; none were given")
        x = torch.cat([x, boundary_map(instances).to(x.dtype)], dim=1)
    return x


@dataclass
class LabelMapInferenceModel(InferenceModel):
    """A pix2pixHD generator fed from label maps (and instance maps) at test time.

    Inputs are label maps (or images when ``label_nc`` is 0); their instance maps come from
    ``instances_dir``, paired by stem (Cityscapes suffixes ignored). Without instance maps the
    label map stands in for one (boundaries between classes only). With an encoder-trained
    model every instance is painted with a stored feature centre of its class: ``style`` K, a
    seeded random one (``style`` None), or one output per style (``all_styles``).

    Attributes (besides :class:`InferenceModel`'s):
        model_config: the pix2pixHD model config.
        instances_dir: where the instance maps are, or None.
        clusters: the feature centres (for encoder-trained models).
        style: the centre index of every instance, or None for random ones.
        all_styles: one output per style, suffixed ``_style0``, ``_style1`` ...
    """

    model_config: Pix2PixHDConfig | None = None
    instances_dir: Path | None = None
    clusters: FeatureClusters | None = None
    style: int | None = None
    all_styles: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        self._instance_index: dict[str, Path] | None = None
        self._lock = threading.Lock()

    @classmethod
    def build(
        cls, net: nn.Module, m: Pix2PixHDConfig, *, config: RunConfig | None = None,
        test_mode: str | None = None, seed: int | None = None, instances: Any = None,
        style: int | str | None = None, all_styles: bool | None = None,
        clusters: FeatureClusters | None = None,
    ) -> LabelMapInferenceModel:
        """Check the options against the model and build it.

        Raises:
            ValueError: a style option for a model without features, features without
                stored centres, a style out of range, or a missing instance folder.
        """
        if m.instance_feat and clusters is None:
            raise ValueError(
                "this model paints instances with encoder features, and its checkpoint holds "
                "no feature centres yet; run 'img2img features RUN' first"
            )
        styled = style is not None or bool(all_styles)
        if styled and not m.instance_feat:
            raise ValueError(
                "--style / --all-styles: this model has no instance features (it was trained "
                "without --instance-feat)"
            )
        if style is not None and all_styles:
            raise ValueError("--style and --all-styles: give one of them")
        index = None if style in (None, RANDOM_STYLE) else _style_index(style)
        if index is not None and index >= clusters.styles:
            last = clusters.styles - 1
            raise ValueError(f"--style {index}: the model has {clusters.styles} styles (0..{last})")
        if instances is not None and not Path(instances).is_dir():
            raise NotADirectoryError(f"--instances {instances}: not a folder of instance maps")
        if m.instance and not m.label_nc and instances is None:
            raise ValueError(
                "this model takes image inputs with instance maps; pass --instances DIR"
            )
        return cls(
            net, "pix2pixhd", m.netG,
            in_channels=m.input_nc if not m.label_nc else 1, out_channels=m.output_nc,
            test_mode=check_test_mode(test_mode or "eval"), dropout=False, seed=seed or 0,
            input_kind="label" if m.label_nc else "image", config=config,
            options={k: v for k, v in (("instances", instances), ("style", style),
                                       ("all_styles", all_styles)) if v},
            model_config=m, instances_dir=None if instances is None else Path(instances),
            clusters=clusters, style=index, all_styles=bool(all_styles),
        )

    @property
    def input_streams(self) -> tuple[Stream, ...]:
        """The label map, and the instance map where the model uses instances: optional for a
        label map model (without it boundaries come from the label map), so it is read only
        from ``instances_dir`` when there is one (or given in memory, as a server does)."""
        label = self.input_stream
        if self.model_config.instance or self.model_config.instance_feat:
            return (label, Stream("instance", "instance"))
        return (label,)

    def input_files(self, src: Path, key: str) -> dict[str, Path]:
        files = {self.input_stream.name: src}
        if len(self.input_streams) > 1 and self.instances_dir is not None:
            wanted = pair_key(Path(key).with_suffix("").as_posix())
            index = self._instances()
            if wanted not in index:
                raise FileNotFoundError(
                    f"no instance map for {src.name} in {self.instances_dir} (looked for "
                    f"{wanted}.* under the same relative path; Cityscapes suffixes ignored)"
                )
            files["instance"] = index[wanted]
        return files

    def _instances(self) -> dict[str, Path]:
        with self._lock:
            if self._instance_index is None:
                root = self.instances_dir
                self._instance_index = {
                    pair_key(p.relative_to(root).with_suffix("").as_posix()): p
                    for p in find_images(root)
                }
            return self._instance_index

    @property
    def variants(self) -> tuple[str, ...]:
        if self.all_styles:
            return tuple(f"_style{k}" for k in range(self.clusters.styles))
        return ("",)

    def encode_streams(
        self, inputs: Mapping[str, Tensor], keys: Sequence[str], variants: Sequence[str]
    ) -> Tensor:
        m = self.model_config
        primary = inputs[self.input_stream.name]
        labels = primary if m.label_nc else to_model_range(primary)
        instances = inputs.get("instance", labels if m.label_nc else None)
        x = encode_labels(labels, instances, m)
        if not m.instance_feat:
            return x
        styles = [self._style_of(v) for v in variants]
        generators = [
            None if s is not None else torch.Generator().manual_seed(image_seed(self.seed, k))
            for s, k in zip(styles, keys, strict=True)
        ]
        label_ids = labels if m.label_nc else None
        features = feature_map(instances, self.clusters, styles, generators, label_ids)
        return torch.cat([x, features.to(x.dtype)], dim=1)

    @property
    def network_in_channels(self) -> int:
        return self.model_config.generator_in_channels

    @property
    def input_encoding(self) -> str:
        m = self.model_config
        parts = [f"{m.label_nc} one-hot classes" if m.label_nc else super().input_encoding]
        if m.instance:
            parts.append("the instance boundary map (1 on boundaries)")
        if m.instance_feat:
            parts.append(f"{m.feat_num} channels of instance features (a stored centre per "
                         "instance, by its class)")
        return ", then ".join(parts)

    def export_state(self) -> dict[str, Any]:
        return exported_clusters(self.clusters)

    def example_input(self, batch: int, height: int, width: int) -> Tensor:
        """An encoded input made from random label (or image) and instance maps."""
        generator = torch.Generator().manual_seed(0)
        m = self.model_config
        shape = (batch, 1, height, width)
        ids = torch.randint(0, max(m.label_nc, 2), shape, generator=generator)
        primary = ids if m.label_nc else torch.rand(batch, m.input_nc, height, width,
                                                    generator=generator)
        keys = [f"example{i}" for i in range(batch)]
        return self.encode_streams({self.input_stream.name: primary, "instance": ids}, keys,
                                   [self.variants[0]] * batch)

    def _style_of(self, variant: str) -> int | None:
        match = _STYLE_VARIANT.match(variant)
        return int(match.group(1)) if match else self.style

    def describe_mode(self) -> str:
        m = self.model_config
        parts = [self._describe_test_mode()]  # the options follow, in words
        if m.instance or m.instance_feat:
            parts.append(f"instance maps from {self.instances_dir}" if self.instances_dir
                         else "no --instances: boundaries between classes only")
        if m.instance_feat:
            if self.all_styles:
                parts.append(f"all {self.clusters.styles} styles")
            elif self.style is not None:
                parts.append(f"style {self.style} of each class")
            else:
                parts.append(f"random styles (seed {self.seed})")
        return "; ".join(parts)


def _style_index(style: int | str) -> int:
    try:
        index = int(style)
    except (TypeError, ValueError):
        index = -1
    if index < 0:
        raise ValueError(
            f"--style: {style!r} is not valid; expected a style number (0, 1, ...) or "
            f"{RANDOM_STYLE!r}"
        )
    return index
