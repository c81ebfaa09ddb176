"""What a model family is, without a training run.

A family's :class:`FamilyDescription` says how to fix what a config leaves to the data, how to
validate a config before anything is written, how to build its dataset, what ``evaluate``
translates, and how to rebuild its inference model from saved networks or published weights.
What trains (networks, optimizers, one step) is the family's
:class:`~img2img.engine.recipe.TrainingRecipe`, which the engine drives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from torch import nn
from torch.utils.data import Dataset

from img2img.config import DataConfig, RunConfig
from img2img.data.evaluation import EvalSplit
from img2img.models.inference import InferenceModel

if TYPE_CHECKING:
    from img2img.models.published import GeneratorSpec


class FamilyDescription:
    """Base class of a family's description: class methods only, nothing is instantiated."""

    family: str = ""
    #: test-time options that only change how inputs are read and encoded (not the network's
    #: computation): an exported (ONNX) model of the family still takes them
    input_options: tuple[str, ...] = ()
    #: the order in which bare published weights are matched against the families' generators
    #: (lower first): a layout two families share belongs to the one asked first
    recognition_order: int = 0

    @classmethod
    def resolve_config(cls, config: RunConfig) -> tuple[RunConfig, list[str]]:
        """Fix what a config leaves to the data (pix2pixHD's ``--label-nc auto``).

        Returns the resolved config and what was found, in words, for the user.
        """
        return config, []

    @classmethod
    def validate(cls, config: RunConfig) -> None:
        """Fail on what would only break at the first step (sizes a network cannot take ...)."""

    @classmethod
    def build_dataset(cls, config: RunConfig, phase: str | None = None) -> Dataset:
        """The dataset described by ``config.data`` (its ``phase`` split unless one is given)."""
        raise NotImplementedError

    @classmethod
    def inference_networks(cls, model_config: Any) -> dict[str, nn.Module]:
        """The networks inference needs, by checkpoint name, built without initialisation."""
        raise NotImplementedError

    @classmethod
    def inference_state(cls, extra: Mapping[str, Any]) -> dict[str, Any]:
        """What inference needs from a checkpoint's ``extra`` state, as inference options."""
        return {}

    @classmethod
    def inference_model(
        cls, config: RunConfig, nets: Mapping[str, nn.Module], **options: Any
    ) -> InferenceModel:
        """The inference model over ``nets``; ``options`` are the family's test-time options."""
        raise NotImplementedError

    @classmethod
    def published_generators(cls, state: Mapping[str, Any]) -> list[GeneratorSpec]:
        """The family's generators whose layout could be that of the bare ``state_dict``
        ``state`` (a published ``.pth``), most likely first; none by default."""
        return []

    @classmethod
    def published_inference_model(
        cls, net: nn.Module, network: str, **options: Any
    ) -> InferenceModel | None:
        """The inference model over a published generator ``net`` (registry name ``network``)
        for a family whose generators read more than plain images; None (the default): the
        plain image model serves."""
        return None

    @classmethod
    def evaluation_model(cls, model: InferenceModel, data: DataConfig) -> InferenceModel:
        """``model`` as it translates ``data``'s split for evaluation (by default, unchanged).

        A family whose inputs come with companion files (pix2pixHD's instance maps) points the
        model at the split's own.
        """
        return model

    @classmethod
    def evaluation_split(cls, data: DataConfig, model: InferenceModel) -> EvalSplit:
        """What ``evaluate`` translates with ``model`` in ``data``'s split, and scores against.

        ``data.root`` and ``data.phase`` name the split, ``data.direction`` which side is the
        input; ``model`` carries the family's test-time options (a direction, a style ...).
        """
        raise NotImplementedError(
            f"{cls.family or cls.__name__}: evaluation is not described for this family "
            "(its description has no evaluation_split)"
        )
