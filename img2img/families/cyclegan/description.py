"""What CycleGAN is: two generators, an unpaired dataset, its evaluation split and test mode."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from img2img.config import DIRECTIONS, DataConfig, RunConfig, check_choice
from img2img.data.evaluation import EvalSplit, unpaired_split
from img2img.data.unpaired import UnpairedImageDataset, find_unpaired, run_unpaired_dataset
from img2img.families.cyclegan.config import CycleGANConfig
from img2img.families.description import FamilyDescription
from img2img.models.inference import InferenceModel, image_model, take_options
from img2img.models.networks import build_discriminator, build_generator, check_training_size
from img2img.models.published import GeneratorSpec, image_generator_candidates

#: test-time options of CycleGAN models (``translate`` flags without the dashes)
TEST_OPTIONS = ("direction", "test_mode", "dropout", "seed")


class CycleGANDescription(FamilyDescription):
    """CycleGAN: G_A (A -> B) and G_B (B -> A) on unpaired data; eval test mode."""

    family = "cyclegan"

    @classmethod
    def validate(cls, config: RunConfig) -> None:
        """Check that the training crops suit the generators and discriminators."""
        m: CycleGANConfig = config.model
        check_training_size(config, lambda: [
            build_generator(m, m.input_nc, m.output_nc), build_discriminator(m, m.output_nc)
        ])

    @classmethod
    def build_dataset(cls, config: RunConfig, phase: str | None = None) -> UnpairedImageDataset:
        return run_unpaired_dataset(config, phase)

    @classmethod
    def evaluation_split(cls, data: DataConfig, model: InferenceModel) -> EvalSplit:
        """The input side of the model's direction (A for G_A; the data's ``BtoA`` swaps the
        sides, as in training), no targets, the other side as the real set."""
        backward = model.options.get("direction") == "BtoA"
        swap = backward != (data.direction == "BtoA")
        return unpaired_split(find_unpaired(data.root, data.phase), swap=swap)

    @classmethod
    def inference_networks(cls, model_config: CycleGANConfig) -> dict[str, nn.Module]:
        m = model_config
        return {
            "G_A": build_generator(m, m.input_nc, m.output_nc),
            "G_B": build_generator(m, m.output_nc, m.input_nc),
        }

    @classmethod
    def inference_model(
        cls, config: RunConfig, nets: Mapping[str, nn.Module], **options: Any
    ) -> InferenceModel:
        """G_A for ``direction`` AtoB (the default), G_B for BtoA; eval test mode by default."""
        take_options(cls.family, options, TEST_OPTIONS)
        m: CycleGANConfig = config.model
        direction = options.get("direction") or "AtoB"
        check_choice("--direction", direction, DIRECTIONS)
        forward = direction == "AtoB"
        return image_model(
            nets["G_A" if forward else "G_B"], cls.family, m.netG,
            m.input_nc if forward else m.output_nc, m.output_nc if forward else m.input_nc,
            options, "eval", config=config, options={"direction": direction},
            family_networks={"G_A": nets["G_A"], "G_B": nets["G_B"]},
        )

    @classmethod
    def published_generators(cls, state: Mapping[str, Any]) -> list[GeneratorSpec]:
        """The reference's CycleGAN generators (and any other instance-norm image generator)."""
        return image_generator_candidates(state, cls.family, norm="instance")
