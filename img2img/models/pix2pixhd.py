"""pix2pixHD: label maps (one-hot classes + instance boundaries + encoder features) to photos.

The generator (``global``, or ``local`` around a global one) is trained against a multi-scale
PatchGAN with LSGAN, discriminator feature matching and the VGG19 perceptual loss, both
weighted by ``lambda_feat``. As in the reference, one forward pass gives both networks' losses;
the generator steps first, then the discriminator (whose loss is halved).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from img2img.boundary import boundary_map
from img2img.checkpoints import (
    check_checkpoint,
    read_checkpoint_file,
    resolve_checkpoint,
)
from img2img.config import ConfigError, DataConfig, Pix2PixHDConfig, RunConfig
from img2img.data.discover import DatasetLayoutError, find_images
from img2img.data.evaluation import EvalExample, EvalSplit, ImageRef
from img2img.data.labelmaps import (
    LabelMapDataset,
    LabelMapFiles,
    colourise,
    find_label_maps,
    label_files,
    one_hot,
    pair_key,
    scan_label_values,
)
from img2img.data.ranges import to_model_range
from img2img.data.streams import Stream
from img2img.data.transforms import StreamTransform
from img2img.engine.device import Precision
from img2img.features import (
    FeatureClusters,
    exported_clusters,
    feature_map,
    stored_clusters,
)
from img2img.infer.stochastic import image_seed
from img2img.losses.gan import GANLoss, feature_matching_loss
from img2img.losses.vgg import VGGLoss, find_vgg_weights, load_vgg19_features
from img2img.models.base import Recipe, set_requires_grad
from img2img.models.inference import InferenceModel, check_test_mode, eval_mode, take_options
from img2img.nn import create_discriminator, create_encoder, create_generator
from img2img.nn.sizes import size_error

log = logging.getLogger(__name__)

#: test-time options of pix2pixHD models (``translate`` flags without the dashes)
TEST_OPTIONS = ("test_mode", "seed", "instances", "style", "all_styles")
#: ``--style random``: a seeded random centre per instance
RANDOM_STYLE = "random"
_STYLE_VARIANT = re.compile(r"^_style(\d+)$")


def hd_linear_decay(n_epochs: int, n_epochs_decay: int):
    """Learning-rate factor of epoch ``e`` (0-based): pix2pixHD's schedule, exactly.

    The rate is constant for the first ``n_epochs + 1`` epochs and then lowered by
    ``1 / n_epochs_decay`` of the initial rate after each epoch: epoch ``n_epochs + k`` runs
    at ``1 - k / n_epochs_decay``, the last one (``k = n_epochs_decay - 1``) at
    ``1 / n_epochs_decay``. The reference lowers the rate at the end of every epoch after
    the ``n_epochs``-th, as the scheduler here steps at the end of each epoch.
    """

    def factor(epoch: int) -> float:
        if n_epochs_decay == 0:
            return 1.0
        return 1.0 - max(0, epoch - n_epochs) / float(n_epochs_decay)

    return factor


def encode_labels(labels: Tensor, instances: Tensor | None, m: Pix2PixHDConfig) -> Tensor:
    """The label input of the networks: one-hot classes (or the image) + the boundary map.

    Args:
        labels: class ids ``[N, 1, H, W]`` (int64), or images ``[N, C, H, W]`` in
            ``[-1, 1]`` when ``label_nc`` is 0.
        instances: instance ids ``[N, 1, H, W]``; needed when ``m.instance``.
        m: the model config.
    """
    x = one_hot(labels, m.label_nc) if m.label_nc else labels.float()
    if m.instance:
        if instances is None:
            raise ValueError("this model takes instance maps; none were given")
        x = torch.cat([x, boundary_map(instances).to(x.dtype)], dim=1)
    return x


class Pix2PixHDRecipe(Recipe):
    """pix2pixHD's objective: ``GAN + lambda_feat * (feature matching + VGG)``, D loss halved."""

    family = "pix2pixhd"
    input_options = ("instances", "style", "all_styles", "seed")

    def __init__(self, config: RunConfig, device: torch.device, precision: Precision) -> None:
        super().__init__(config, device, precision)
        m: Pix2PixHDConfig = config.model
        self.G = self.build_generator(m, init=True).to(device)
        self.D = self.build_discriminator(m).to(device)
        self.nets = {"G": self.G, "D": self.D}
        self.E = None
        if m.instance_feat:
            self.E = self.build_encoder(m, init=True).to(device)
            self.nets["E"] = self.E
        self.optimizers = {
            "G": self.adam(self._generator_groups()),
            "D": self.adam(self.D.parameters()),
        }
        decay = hd_linear_decay(config.train.n_epochs, config.train.n_epochs_decay)
        self.schedulers = {
            k: torch.optim.lr_scheduler.LambdaLR(opt, decay) for k, opt in self.optimizers.items()
        }
        self.gan_loss = GANLoss(m.gan_mode)
        self.vgg = self._vgg_loss(m, device)
        self._extra: dict[str, Any] = {}
        self._fix_global()

    # --- networks -----------------------------------------------------------------------------
    @classmethod
    def build_generator(cls, m: Pix2PixHDConfig, init: bool = False) -> nn.Module:
        options: dict[str, Any] = {
            "in_channels": m.generator_in_channels, "out_channels": m.output_nc, "ngf": m.ngf,
            "norm": m.norm,
        }
        if m.netG == "global":
            options |= {"n_downsampling": m.n_downsample_global, "n_blocks": m.n_blocks_global}
        else:
            options |= {"n_downsample_global": m.n_downsample_global,
                        "n_blocks_global": m.n_blocks_global,
                        "n_local_enhancers": m.n_local_enhancers,
                        "n_blocks_local": m.n_blocks_local}
        return create_generator(m.netG, init_type=m.init_type if init else None,
                                init_gain=m.init_gain, **options)

    @classmethod
    def build_discriminator(cls, m: Pix2PixHDConfig) -> nn.Module:
        return create_discriminator(
            "multiscale", in_channels=m.discriminator_in_channels, ndf=m.ndf,
            n_layers=m.n_layers_D, norm=m.norm, num_D=m.num_D, init_type=m.init_type,
            init_gain=m.init_gain,
        )

    @classmethod
    def build_encoder(cls, m: Pix2PixHDConfig, init: bool = False) -> nn.Module:
        return create_encoder(
            "encoder", in_channels=m.output_nc, out_channels=m.feat_num, nef=m.nef, norm=m.norm,
            n_downsampling=m.n_downsample_E, init_type=m.init_type if init else None,
            init_gain=m.init_gain,
        )

    @classmethod
    def size_multiple(cls, m: Pix2PixHDConfig) -> int:
        """Height and width of training and test inputs must be multiples of this."""
        g = 2 ** (m.n_downsample_global + (m.n_local_enhancers if m.netG == "local" else 0))
        return max(g, 2**m.n_downsample_E if m.instance_feat else 1)

    def _vgg_loss(self, m: Pix2PixHDConfig, device: torch.device) -> VGGLoss | None:
        if not m.vgg_loss:
            return None
        if device.type == "meta":  # shape-only runs (memory estimates)
            return VGGLoss(device="meta")
        return VGGLoss(load_vgg19_features(find_vgg_weights(m.vgg_weights))).to(device)

    def _generator_groups(self) -> list[dict[str, Any]]:
        """G's parameters (and E's), the outermost enhancer's apart when it trains alone first."""
        m: Pix2PixHDConfig = self.config.model
        encoder = list(self.E.parameters()) if self.E is not None else []
        if not m.fix_global_epochs:
            return [{"params": list(self.G.parameters()) + encoder}]
        outer = self.G.outer_enhancer_prefixes()
        named = list(self.G.named_parameters())
        enhancer = [p for k, p in named if k.startswith(outer)]
        rest = [p for k, p in named if not k.startswith(outer)]
        return [{"params": enhancer + encoder}, {"params": rest}]

    @property
    def epochs_done(self) -> int:
        """Epochs finished so far (the schedule's own count, so it resumes with it)."""
        return int(self.schedulers["G"].last_epoch)

    def _fix_global(self) -> None:
        """Freeze G outside its outermost enhancer during the first ``fix_global_epochs``.

        Frozen parameters get no gradient, so Adam leaves them (and its state for them) alone;
        from that epoch on the generator's optimizer updates them too.
        """
        m: Pix2PixHDConfig = self.config.model
        if not m.fix_global_epochs:
            return
        fixed = self.epochs_done < m.fix_global_epochs
        outer = self.G.outer_enhancer_prefixes()
        for key, p in self.G.named_parameters():
            if not key.startswith(outer):
                p.requires_grad_(not fixed)

    def end_epoch(self) -> None:
        super().end_epoch()
        m: Pix2PixHDConfig = self.config.model
        if m.fix_global_epochs and self.epochs_done == m.fix_global_epochs:
            log.info("epoch %d: the global generator now trains too", self.epochs_done)
        self._fix_global()

    # --- what the family is, without a training run ---------------------------------------------
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
        """Sizes, VGG weights and the run to start from, checked before anything is written."""
        m: Pix2PixHDConfig = config.model
        if m.label_nc is None:
            raise ConfigError("label_nc: 'auto' must be resolved before training")
        size = config.data.training_size
        multiple = cls.size_multiple(m)
        if size is not None:
            message = size_error(m.netG, multiple, size, size, 2 * multiple)
            if message is not None:
                raise ConfigError(
                    f"--crop-size {size} (preprocess {config.data.preprocess}): {message}"
                )
        if m.vgg_loss:
            find_vgg_weights(m.vgg_weights)
        if m.init_from is not None:
            _warm_start_weights(m, m.init_from)

    @classmethod
    def _transform(cls, config: RunConfig, flip: bool) -> StreamTransform:
        d = config.data
        return StreamTransform(d.preprocess, d.load_size, d.crop_size, flip, height_floor=False,
                               size_multiple=cls.size_multiple(config.model))

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
        return {"G": cls.build_generator(model_config)}

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

    # --- warm start ---------------------------------------------------------------------------
    def warm_start(self) -> list[str]:
        """``init_from``: copy the given run's generator (and encoder) in; says what it did."""
        m: Pix2PixHDConfig = self.config.model
        if m.init_from is None:
            return []
        source, nets, notes = _warm_start_weights(m, m.init_from)
        if m.netG == "local" and source.netG == "global":
            self.G.load_global(nets["G"])
        else:
            self.G.load_state_dict(nets["G"])
        if self.E is not None and "E" in nets:
            self.E.load_state_dict(nets["E"])
        if _same_layout(self.D, nets.get("D")):
            self.D.load_state_dict(nets["D"])
        else:
            notes.append("the discriminator starts afresh (its layout differs from the run's)")
        return notes

    # --- training -----------------------------------------------------------------------------
    def _inputs(self, batch: Mapping[str, Any]) -> tuple[Tensor, Tensor | None, Tensor]:
        """Encoded labels, instance ids and the target photo, on the device."""
        m: Pix2PixHDConfig = self.config.model
        labels = batch["label"].to(self.device, non_blocking=True)
        instances = batch.get("instance")
        if instances is not None:
            instances = instances.to(self.device, non_blocking=True)
        real = batch["image"].to(self.device, non_blocking=True)
        return encode_labels(labels, instances, m), instances, real

    def _generator_input(self, label_in: Tensor, instances: Tensor | None, real: Tensor) -> Tensor:
        if self.E is None:
            return label_in
        return torch.cat([label_in, self.E(real, instances)], dim=1)

    def forward_losses(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """Every loss of one step from one forward pass: ``G``/``D`` totals and their terms."""
        m: Pix2PixHDConfig = self.config.model
        label_in, instances, real = self._inputs(batch)
        with self.precision.autocast():
            fake = self.G(self._generator_input(label_in, instances, real))
            set_requires_grad(self.D, True)
            pred_real = self.D(torch.cat([label_in, real], dim=1))
            pred_fake_d = self.D(torch.cat([label_in, fake.detach()], dim=1))
            set_requires_grad(self.D, False)  # G's terms need no gradient in D's weights
            pred_fake = self.D(torch.cat([label_in, fake], dim=1))
        losses = {
            "D_real": self.gan_loss(pred_real, True),
            "D_fake": self.gan_loss(pred_fake_d, False),
            "G_GAN": self.gan_loss(pred_fake, True, for_discriminator=False),
        }
        if m.ganfeat_loss:
            losses["G_GAN_Feat"] = feature_matching_loss(pred_fake, pred_real, m.lambda_feat)
        if self.vgg is not None:
            with self.precision.autocast():
                losses["G_VGG"] = self.vgg(fake, real) * m.lambda_feat
        losses["G"] = sum(v for k, v in losses.items() if k.startswith("G_"))
        losses["D"] = 0.5 * (losses["D_real"] + losses["D_fake"])
        return losses

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        losses = self.forward_losses(batch)
        amp = self.precision
        self.optimizers["G"].zero_grad(set_to_none=True)
        amp.backward(losses["G"])
        amp.step(self.optimizers["G"])
        set_requires_grad(self.D, True)  # D's graph was recorded with gradients on
        self.optimizers["D"].zero_grad(set_to_none=True)
        amp.backward(losses["D"])
        amp.step(self.optimizers["D"])
        amp.update()
        return {k: v.detach() for k, v in losses.items() if k not in ("G", "D")}

    @torch.no_grad()
    def sample(self, batch: Mapping[str, Any]) -> list[Tensor]:
        """Labels (coloured) | output | photo, the output with the encoder's own features."""
        m: Pix2PixHDConfig = self.config.model
        label_in, instances, real = self._inputs(batch)
        labels = batch["label"].to(self.device)
        shown = colourise(labels) if m.label_nc else labels
        nets = [net for net in (self.G, self.E) if net is not None]
        with eval_mode(*nets), self.precision.autocast():
            fake = self.G(self._generator_input(label_in, instances, real))
        return [shown, fake.float(), real]

    # --- state --------------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """Feature centres added by ``img2img features`` survive a resumed run's checkpoints."""
        return dict(self._extra)

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Keep the checkpoint's extra state; freeze or free the global part for the epoch."""
        self._extra = dict(state)
        self._fix_global()


def _same_layout(net: nn.Module, state: Mapping[str, Tensor] | None) -> bool:
    if state is None:
        return False
    own = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    return own == {k: tuple(v.shape) for k, v in state.items()}


def _warm_start_weights(
    m: Pix2PixHDConfig, source: str
) -> tuple[Pix2PixHDConfig, dict[str, dict[str, Tensor]], list[str]]:
    """The networks of run ``source`` to start ``m`` from, checked to fit.

    Raises:
        ConfigError: not a pix2pixHD checkpoint, or its generator does not fit.
    """
    from img2img.families import load_run_config

    file = resolve_checkpoint(source)
    data = check_checkpoint(read_checkpoint_file(file, mmap=True), file)
    if data["family"] != Pix2PixHDRecipe.family:
        raise ConfigError(f"--init-from {source}: a {data['family']} run; expected a pix2pixhd one")
    other: Pix2PixHDConfig = load_run_config(data["config"]).model
    if other.netG == "local" and m.netG == "global":
        raise ConfigError(
            f"--init-from {source}: a 'local' generator cannot start a 'global' one; expected "
            "a 'global' run (for --netG global or local) or a 'local' one (for --netG local)"
        )
    with torch.device("meta"):
        target = Pix2PixHDRecipe.build_generator(m)
    nets = data["nets"]
    try:
        if m.netG == "local" and other.netG == "global":
            target.load_global(nets["G"])
        elif not _same_layout(target, nets["G"]):
            raise ValueError("its generator's layout differs (another ngf, depth or channels)")
    except ValueError as exc:
        raise ConfigError(f"--init-from {source}: {exc}") from exc
    notes = [f"generator initialised from {file} (step {data['step']}, netG {other.netG})"]
    return other, nets, notes


# --- inference ---------------------------------------------------------------------------------
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
        label = self.input_stream
        uses_instances = self.model_config.instance or self.model_config.instance_feat
        if uses_instances and self.instances_dir is not None:
            return (label, Stream("instance", "instance"))
        return (label,)

    def input_files(self, src: Path, key: str) -> dict[str, Path]:
        files = {self.input_stream.name: src}
        if len(self.input_streams) > 1:
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
