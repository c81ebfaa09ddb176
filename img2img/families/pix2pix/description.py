"""What pix2pix is: its networks, paired dataset, evaluation split and inference model."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from torch import nn

from img2img.config import DataConfig, RunConfig
from img2img.data.dataset import PairedImageDataset
from img2img.data.discover import find_pairs
from img2img.data.evaluation import EvalSplit, paired_split
from img2img.families.description import FamilyDescription
from img2img.families.pix2pix.config import Pix2PixConfig
from img2img.models.inference import InferenceModel, image_model, take_options
from img2img.models.networks import build_discriminator, build_generator, check_training_size
from img2img.models.published import GeneratorSpec, image_generator_candidates

#: test-time options of pix2pix models (``translate`` flags without the dashes)
TEST_OPTIONS = ("test_mode", "dropout", "seed")


class Pix2PixDescription(FamilyDescription):
    """pix2pix: ``G(A) -> B`` with a PatchGAN on (A, B) pairs; the paper's test mode."""

    family = "pix2pix"

    @classmethod
    def build_generator(cls, model_config: Pix2PixConfig, init: bool = False) -> nn.Module:
        m = model_config
        return build_generator(m, m.input_nc, m.output_nc, init=init)

    @classmethod
    def build_discriminator(cls, m: Pix2PixConfig) -> nn.Module:
        return build_discriminator(m, m.input_nc + m.output_nc)

    @classmethod
    def validate(cls, config: RunConfig) -> None:
        """Check that the training crops suit both networks before anything is written."""
        m: Pix2PixConfig = config.model
        check_training_size(config, lambda: [cls.build_generator(m), cls.build_discriminator(m)])

    @classmethod
    def build_dataset(cls, config: RunConfig, phase: str | None = None) -> PairedImageDataset:
        m: Pix2PixConfig = config.model
        data = config.data if phase is None else dataclasses.replace(config.data, phase=phase)
        return PairedImageDataset(data, input_nc=m.input_nc, output_nc=m.output_nc,
                                  seed=config.train.seed)

    @classmethod
    def evaluation_split(cls, data: DataConfig, model: InferenceModel) -> EvalSplit:
        """The split's A images (B with ``BtoA``) as inputs, the other side as targets."""
        return paired_split(find_pairs(data.root, data.phase), swap=data.direction == "BtoA")

    @classmethod
    def inference_networks(cls, model_config: Pix2PixConfig) -> dict[str, nn.Module]:
        return {"G": cls.build_generator(model_config)}

    @classmethod
    def inference_model(
        cls, config: RunConfig, nets: Mapping[str, nn.Module], **options: Any
    ) -> InferenceModel:
        """The generator G; test mode ``paper`` (default) or ``eval``, dropout, seed."""
        take_options(cls.family, options, TEST_OPTIONS)
        m: Pix2PixConfig = config.model
        return image_model(nets["G"], cls.family, m.netG, m.input_nc, m.output_nc, options,
                           "paper", config=config)

    @classmethod
    def published_generators(cls, state: Mapping[str, Any]) -> list[GeneratorSpec]:
        """The reference's pix2pix generators: batch norm, dropout in U-Nets."""
        return image_generator_candidates(state, cls.family, norm="batch")
