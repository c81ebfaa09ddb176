"""What pix2pixHD is: label-map datasets, ``--label-nc auto``, evaluation, inference model."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from img2img.config import ConfigError, DataConfig, RunConfig
from img2img.data.discover import DatasetLayoutError
from img2img.data.evaluation import EvalExample, EvalSplit, ImageRef
from img2img.data.labelmaps import (
    LabelMapDataset,
    LabelMapFiles,
    find_label_maps,
    label_files,
    scan_label_values,
)
from img2img.data.transforms import StreamTransform
from img2img.families.description import FamilyDescription
from img2img.families.pix2pixhd.builders import build_generator, size_multiple
from img2img.families.pix2pixhd.config import Pix2PixHDConfig
from img2img.families.pix2pixhd.features import stored_clusters
from img2img.families.pix2pixhd.inference import TEST_OPTIONS, LabelMapInferenceModel
from img2img.families.pix2pixhd.published import label_map_generator_candidates
from img2img.losses.vgg import find_vgg_weights
from img2img.models.inference import InferenceModel, take_options
from img2img.models.published import GeneratorSpec
from img2img.nn.sizes import size_error

log = logging.getLogger(__name__)


class Pix2PixHDDescription(FamilyDescription):
    """pix2pixHD: label maps (+ instance maps) to photos; its generators read label maps."""

    family = "pix2pixhd"
    input_options = ("instances", "style", "all_styles", "seed")
    #: a layout both pix2pixHD and an image family have (CycleGAN's resnet is a global
    #: generator with 2 downsamplings) is the image family's: label maps take more channels
    recognition_order = 1

    @classmethod
    def resolve_config(cls, config: RunConfig) -> tuple[RunConfig, list[str]]:
        """``--label-nc auto``: scan the training labels and fix the class count."""
        m: Pix2PixHDConfig = config.model
        if m.label_nc is not None:
            return config, []
        files = find_label_maps(config.data.root, config.data.phase, instances=False,
                                images=False)
        scan = scan_label_values(label_files(files)[: config.data.max_dataset_size])
        notes = [scan.describe()]
        if scan.failed:
            notes.append(f"{len(scan.failed)} label maps could not be read and were skipped")
        model = dataclasses.replace(m, label_nc=max(scan.label_nc, 1))
        return config.replace(model=model), notes

    @classmethod
    def validate(cls, config: RunConfig) -> None:
        """Sizes and VGG weights, checked before anything is written."""
        m: Pix2PixHDConfig = config.model
        if m.label_nc is None:
            raise ConfigError("label_nc: 'auto' must be resolved before training")
        size = config.data.training_size
        multiple = size_multiple(m)
        if size is not None:
            message = size_error(m.netG, multiple, size, size, 2 * multiple)
            if message is not None:
                raise ConfigError(
                    f"--crop-size {size} (preprocess {config.data.preprocess}): {message}"
                )
        if m.vgg_loss:
            find_vgg_weights(m.vgg_weights)

    @classmethod
    def _transform(cls, config: RunConfig, flip: bool) -> StreamTransform:
        d = config.data
        return StreamTransform(d.preprocess, d.load_size, d.crop_size, flip, height_floor=False,
                               size_multiple=size_multiple(config.model))

    @classmethod
    def build_dataset(cls, config: RunConfig, phase: str | None = None) -> LabelMapDataset:
        m: Pix2PixHDConfig = config.model
        files = find_label_maps(config.data.root, phase or config.data.phase,
                                instances=m.instance, images=True, rgb_labels=not m.label_nc)
        files = dataclasses.replace(files, items=files.items[: config.data.max_dataset_size])
        return LabelMapDataset(files, m.label_nc, cls._transform(config, config.data.flip),
                               input_nc=m.input_nc, output_nc=m.output_nc, seed=config.train.seed)

    @classmethod
    def build_feature_dataset(cls, config: RunConfig) -> LabelMapDataset:
        """The training set as the encoder saw it, without flips (``img2img features``)."""
        return cls.build_dataset(config.replace(data=dataclasses.replace(config.data, flip=False)))

    @classmethod
    def _evaluation_files(cls, data: DataConfig, model: LabelMapInferenceModel, *,
                          instances: bool, images: bool) -> LabelMapFiles:
        return find_label_maps(data.root, data.phase, instances=instances, images=images,
                               rgb_labels=not model.model_config.label_nc)

    @classmethod
    def evaluation_model(cls, model: LabelMapInferenceModel, data: DataConfig
                         ) -> LabelMapInferenceModel:
        """A model that reads instance maps reads the split's own (``PHASE_inst`` ...), unless
        it was given a folder; a split without them leaves it to class boundaries, with a
        warning (an image-input model cannot do without them, and fails naming the folder)."""
        m = model.model_config
        if not (m.instance or m.instance_feat) or model.instances_dir is not None:
            return model
        try:
            files = cls._evaluation_files(data, model, instances=True, images=False)
        except DatasetLayoutError:
            if not m.label_nc:
                raise
            log.warning("%s [%s]: no instance maps; the model sees boundaries between classes "
                        "only", data.root, data.phase)
            return model
        return dataclasses.replace(model, instances_dir=files.folders["instance"])

    @classmethod
    def evaluation_split(cls, data: DataConfig, model: LabelMapInferenceModel) -> EvalSplit:
        """The split's label maps (images with ``label_nc`` 0) as inputs, its photos as
        targets and as the real set."""
        files = cls._evaluation_files(data, model, instances=False, images=True)
        label_dir = files.folders["label"]
        examples = [
            EvalExample(item.files["label"].relative_to(label_dir).as_posix(),
                        item.files["label"], ImageRef(item.files["image"]))
            for item in files.items
        ]
        instances = "" if model.instances_dir is None else f", instance maps {model.instances_dir}"
        return EvalSplit(examples, [e.target for e in examples],
                         description=f"{files.root} [{files.phase}], layout {files.layout}"
                                     f"{instances}")

    @classmethod
    def inference_networks(cls, model_config: Pix2PixHDConfig) -> dict[str, nn.Module]:
        return {"G": build_generator(model_config)}

    @classmethod
    def inference_state(cls, extra: Mapping[str, Any]) -> dict[str, Any]:
        """The feature centres ``img2img features`` stored, for :meth:`inference_model`."""
        return {"clusters": stored_clusters(extra)}

    @classmethod
    def inference_model(
        cls, config: RunConfig, nets: Mapping[str, nn.Module], **options: Any
    ) -> InferenceModel:
        """The generator; options ``instances``, ``style``, ``all_styles``, ``seed``, test mode.

        ``clusters`` (from :meth:`inference_state`) are the stored feature centres.
        """
        clusters = options.pop("clusters", None)
        given = take_options(cls.family, options, TEST_OPTIONS)
        m: Pix2PixHDConfig = config.model
        return LabelMapInferenceModel.build(nets["G"], m, config=config, clusters=clusters,
                                            **given)

    @classmethod
    def published_inference_model(
        cls, net: nn.Module, network: str, **options: Any
    ) -> InferenceModel:
        """A bare published generator: ``in_channels - 1`` classes and a boundary channel."""
        given = take_options(cls.family, options, TEST_OPTIONS)
        m = Pix2PixHDConfig(netG=network, label_nc=net.in_channels - 1,
                            output_nc=net.out_channels, vgg_loss=False)
        return LabelMapInferenceModel.build(net, m, **given)

    @classmethod
    def published_generators(cls, state: Mapping[str, Tensor]) -> list[GeneratorSpec]:
        """``global`` / ``local`` generators whose depth the keys of ``state`` give."""
        return label_map_generator_candidates(state)
