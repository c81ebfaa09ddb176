"""What CUT is: one generator on unpaired data, its evaluation split, published generators."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from img2img.config import ConfigError, DataConfig, RunConfig
from img2img.data.evaluation import EvalSplit, unpaired_split
from img2img.data.unpaired import UnpairedImageDataset, find_unpaired, run_unpaired_dataset
from img2img.families.cut.config import CUTConfig
from img2img.families.cut.networks import (
    PatchSampleF,
    build_discriminator,
    build_generator,
    check_layer_ids,
    run_with_features,
)
from img2img.families.description import FamilyDescription
from img2img.models.inference import InferenceModel, image_model, take_options
from img2img.models.networks import check_training_size
from img2img.models.published import GeneratorSpec, image_generator_candidates

#: test-time options of CUT models (``translate`` flags without the dashes)
TEST_OPTIONS = ("test_mode", "dropout", "seed")
#: the side of the blur filters (``filt`` buffers) of antialiased down- and upsampling
_DOWN_FILTER, _UP_FILTER = 3, 4


def projection_head(m: CUTConfig) -> PatchSampleF:
    """F as the first batch will make it, on the meta device (its layout, no memory).

    Raises:
        ValueError: ``--nce-layers`` names layers the generator lacks.
    """
    with torch.device("meta"):
        generator = build_generator(m)
        check_layer_ids(generator, m.layer_ids)
        image = torch.empty(1, m.input_nc, generator.min_size, generator.min_size)
        _, features = run_with_features(generator, image, m.layer_ids, encode_only=True)
        head = PatchSampleF(use_mlp=m.netF == "mlp_sample", nc=m.netF_nc)
        head.create_mlp([f.shape[1] for f in features])
    return head


class CUTDescription(FamilyDescription):
    """CUT / FastCUT: G (A -> B) on unpaired data; eval test mode."""

    family = "cut"
    #: after CycleGAN: a ResNet without antialiasing is CycleGAN's layout
    recognition_order = 2

    @classmethod
    def resolve_config(cls, config: RunConfig) -> tuple[RunConfig, list[str]]:
        """Nothing to resolve; says how large F, made from the first batch, will be."""
        m: CUTConfig = config.model
        if m.netF != "mlp_sample" or m.lambda_nce == 0:
            return config, []
        try:
            head = projection_head(m)
        except ValueError:
            return config, []  # validate() says what is wrong
        size = sum(p.numel() for p in head.parameters())
        return config, [f"F (the projection head) is made from the first batch: "
                        f"{len(head.layer_channels)} MLPs of {m.netF_nc} units, "
                        f"{size:,} parameters"]

    @classmethod
    def validate(cls, config: RunConfig) -> None:
        """Check the training crops against G and D, and ``--nce-layers`` against G."""
        m: CUTConfig = config.model
        with torch.device("meta"):
            generator, discriminator = build_generator(m), build_discriminator(m)
        check_training_size(config, lambda: [generator, discriminator])
        try:
            check_layer_ids(generator, m.layer_ids)
        except ValueError as exc:
            raise ConfigError(f"--nce-layers {m.nce_layers}: {exc}") from exc

    @classmethod
    def build_dataset(cls, config: RunConfig, phase: str | None = None) -> UnpairedImageDataset:
        return run_unpaired_dataset(config, phase)

    @classmethod
    def evaluation_split(cls, data: DataConfig, model: InferenceModel) -> EvalSplit:
        """The input side (A; B when the data's direction is ``BtoA``, as in training), no
        targets, the other side as the real set."""
        return unpaired_split(find_unpaired(data.root, data.phase),
                              swap=data.direction == "BtoA")

    @classmethod
    def inference_networks(cls, model_config: CUTConfig) -> dict[str, nn.Module]:
        return {"G": build_generator(model_config)}

    @classmethod
    def inference_model(
        cls, config: RunConfig, nets: Mapping[str, nn.Module], **options: Any
    ) -> InferenceModel:
        """G, in eval test mode by default (instance norm: the same in either mode)."""
        take_options(cls.family, options, TEST_OPTIONS)
        m: CUTConfig = config.model
        return image_model(nets["G"], cls.family, m.netG, m.input_nc, m.output_nc, options,
                           "eval", config=config)

    @classmethod
    def published_generators(cls, state: Mapping[str, Any]) -> list[GeneratorSpec]:
        """Instance-norm ResNets with CUT's antialiased sampling, as the filters in ``state``
        show (without any, the layout is CycleGAN's)."""
        sides = {int(v.shape[-1]) for k, v in state.items()
                 if k.endswith(".filt") and isinstance(v, Tensor) and v.dim() == 4}
        if not sides:
            return []
        sampling = {"antialias": _DOWN_FILTER in sides, "antialias_up": _UP_FILTER in sides}
        return [GeneratorSpec(spec.name, {**spec.options, **sampling}, cls.family)
                for spec in image_generator_candidates(state, cls.family, norm="instance")]
