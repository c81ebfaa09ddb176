"""pix2pixHD's networks: the global generator, the local enhancer, the multi-scale PatchGAN and the
feature encoder, with the reference implementation's ``state_dict`` layouts.

Every convolution carries a bias whatever the norm (unlike pix2pix's), the residual blocks are
the ResNet generator's, and downsampling between scales is a 3x3 average pool (stride 2,
padding 1, padding not counted). :func:`instance_mean` is the encoder's instance-wise average
pooling, one segment mean over all instances of a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from img2img.nn.norms import get_norm_layer
from img2img.nn.resnet import ResnetBlock, check_padding_type
from img2img.nn.sizes import check_input

#: the PatchGAN's convolutions: 4x4, padding ceil((4 - 1) / 2) = 2
D_KERNEL = 4
D_PADDING = 2
#: PatchGAN filters stop doubling at this many
D_MAX_FILTERS = 512


def downsample() -> nn.AvgPool2d:
    """The pyramid step of the local enhancer and the multi-scale discriminator."""
    return nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)


def _check_positive(owner: str, **values: int) -> None:
    for field, value in values.items():
        if value < 1:
            raise ValueError(f"{owner} {field}: {value!r} is not valid; expected >= 1")


def _encoder_decoder(
    in_channels: int, out_channels: int, ngf: int, n_downsampling: int, norm: str,
    middle: list[nn.Module],
) -> list[nn.Module]:
    """7x7 conv, ``n_downsampling`` stride-2 convs, ``middle``, as many transposed convs, 7x7 conv,
    Tanh: the layer list of the global generator and the encoder."""
    norm_layer = get_norm_layer(norm)
    layers: list[nn.Module] = [
        nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), norm_layer(ngf), nn.ReLU(True),
    ]
    for i in range(n_downsampling):
        c = ngf * 2**i
        layers += [nn.Conv2d(c, c * 2, 3, stride=2, padding=1), norm_layer(c * 2), nn.ReLU(True)]
    layers += middle
    for i in range(n_downsampling):
        c = ngf * 2 ** (n_downsampling - i)
        layers += [
            nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
            norm_layer(c // 2), nn.ReLU(True),
        ]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
    return layers


def _res_blocks(dim: int, count: int, norm: str, dropout: bool, padding_type: str) -> list:
    return [ResnetBlock(dim, padding_type, get_norm_layer(norm), dropout, use_bias=True)
            for _ in range(count)]


class GlobalGenerator(nn.Module):
    """pix2pixHD's coarse generator (``global``).

    Layout: ReflectionPad(3), conv 7x7, norm, ReLU; ``n_downsampling`` times conv 3x3 stride 2,
    norm, ReLU; ``n_blocks`` residual blocks; as many transposed convs 3x3 stride 2 (output
    padding 1), norm, ReLU; ReflectionPad(3), conv 7x7, Tanh. Height and width must be
    multiples of ``2 ** n_downsampling`` and at least twice that.

    Args:
        in_channels: label channels (+1 boundary map, + encoder features): 36 for Cityscapes.
        out_channels: image channels.
        ngf: filters of the first convolution (64).
        norm: ``instance`` (the paper), ``batch`` or ``none``.
        dropout: Dropout(0.5) inside the residual blocks.
        n_downsampling: stride-2 convolutions (4).
        n_blocks: residual blocks at the bottleneck (9).
        padding_type: padding inside the residual blocks.
    """

    def __init__(
        self,
        in_channels: int = 36,
        out_channels: int = 3,
        ngf: int = 64,
        norm: str = "instance",
        dropout: bool = False,
        n_downsampling: int = 4,
        n_blocks: int = 9,
        padding_type: str = "reflect",
    ) -> None:
        super().__init__()
        _check_positive("GlobalGenerator", in_channels=in_channels, out_channels=out_channels,
                        ngf=ngf, n_downsampling=n_downsampling)
        if n_blocks < 0:
            raise ValueError(f"GlobalGenerator n_blocks: {n_blocks!r} is not valid; expected >= 0")
        check_padding_type(padding_type)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.size_multiple = 2**n_downsampling
        self.min_size = 2 * self.size_multiple  # the residual blocks pad a 2x2 grid at least
        self.name = "global"
        blocks = _res_blocks(ngf * 2**n_downsampling, n_blocks, norm, dropout, padding_type)
        self.model = nn.Sequential(
            *_encoder_decoder(in_channels, out_channels, ngf, n_downsampling, norm, blocks)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Translate (N, in_channels, H, W) to (N, out_channels, H, W) in [-1, 1]."""
        check_input(x, self.name, self.in_channels, self.size_multiple, self.min_size)
        return self.model(x)


#: layers at the end of the global generator that the local enhancer drops
GLOBAL_HEAD = 3


class LocalEnhancer(nn.Module):
    """pix2pixHD's coarse-to-fine generator (``local``).

    A global generator with ``ngf * 2 ** n_local_enhancers`` filters and its last
    ``GLOBAL_HEAD`` layers (pad, conv, Tanh) dropped works on the input downsampled
    ``n_local_enhancers`` times (``model``); each enhancer ``n`` (``model{n}_1`` front end:
    7x7 conv, one stride-2 conv; ``model{n}_2``: ``n_blocks_local`` residual blocks, a
    transposed conv and, for the last, the output 7x7 conv and Tanh) adds the features of the
    coarser level to its own at twice the resolution.

    Args:
        in_channels: input channels (as :class:`GlobalGenerator`).
        out_channels: image channels.
        ngf: filters of the outermost enhancer (32); the global part has ``ngf * 2 ** n``.
        norm: ``instance`` (the paper), ``batch`` or ``none``.
        dropout: Dropout(0.5) inside the residual blocks.
        n_downsample_global: the global part's stride-2 convolutions (4).
        n_blocks_global: the global part's residual blocks (9).
        n_local_enhancers: enhancers, each doubling the resolution (1).
        n_blocks_local: residual blocks of each enhancer (3).
        padding_type: padding inside the residual blocks.
    """

    def __init__(
        self,
        in_channels: int = 36,
        out_channels: int = 3,
        ngf: int = 32,
        norm: str = "instance",
        dropout: bool = False,
        n_downsample_global: int = 4,
        n_blocks_global: int = 9,
        n_local_enhancers: int = 1,
        n_blocks_local: int = 3,
        padding_type: str = "reflect",
    ) -> None:
        super().__init__()
        _check_positive("LocalEnhancer", ngf=ngf, n_local_enhancers=n_local_enhancers)
        if n_blocks_local < 0:
            raise ValueError(
                f"LocalEnhancer n_blocks_local: {n_blocks_local!r} is not valid; expected >= 0"
            )
        coarse = GlobalGenerator(in_channels, out_channels, ngf * 2**n_local_enhancers, norm,
                                 dropout, n_downsample_global, n_blocks_global, padding_type)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.n_local_enhancers = n_local_enhancers
        self.size_multiple = coarse.size_multiple * 2**n_local_enhancers
        self.min_size = 2 * self.size_multiple
        self.name = "local"
        self.model = nn.Sequential(*list(coarse.model)[:-GLOBAL_HEAD])
        norm_layer = get_norm_layer(norm)
        for n in range(1, n_local_enhancers + 1):
            c = ngf * 2 ** (n_local_enhancers - n)
            front = [
                nn.ReflectionPad2d(3), nn.Conv2d(in_channels, c, 7), norm_layer(c), nn.ReLU(True),
                nn.Conv2d(c, c * 2, 3, stride=2, padding=1), norm_layer(c * 2), nn.ReLU(True),
            ]
            back = _res_blocks(c * 2, n_blocks_local, norm, dropout, padding_type)
            back += [nn.ConvTranspose2d(c * 2, c, 3, stride=2, padding=1, output_padding=1),
                     norm_layer(c), nn.ReLU(True)]
            if n == n_local_enhancers:
                back += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
            setattr(self, f"model{n}_1", nn.Sequential(*front))
            setattr(self, f"model{n}_2", nn.Sequential(*back))
        self.downsample = downsample()

    def outer_enhancer_prefixes(self) -> tuple[str, ...]:
        """``state_dict`` prefixes of the outermost enhancer, the part trained alone first."""
        n = self.n_local_enhancers
        return (f"model{n}_1.", f"model{n}_2.")

    def load_global(self, state: dict[str, Tensor]) -> list[str]:
        """Copy a trained :class:`GlobalGenerator`'s weights into the global part.

        ``state`` is the global generator's ``state_dict`` (``model.N.*``); its last
        ``GLOBAL_HEAD`` layers have no place here and are left out.

        Returns:
            The keys copied.

        Raises:
            ValueError: a key is missing, or a shape differs (another ngf, channel count,
                depth), named in the message.
        """
        own = {k: v for k, v in self.state_dict().items() if k.startswith("model.")}
        missing = sorted(set(own) - set(state))
        if missing:
            raise ValueError(
                f"the global generator lacks {len(missing)} weights of the local enhancer's "
                f"global part (first: {missing[0]}); expected the state_dict of a 'global' "
                "generator of the same depth"
            )
        for key, value in own.items():
            if tuple(state[key].shape) != tuple(value.shape):
                raise ValueError(
                    f"global generator weight {key} has shape {tuple(state[key].shape)}; the "
                    f"local enhancer's global part needs {tuple(value.shape)} (a 'local' "
                    "generator with --ngf N takes a 'global' one trained with --ngf 2N, the "
                    "same label channels and depth)"
                )
        with torch.no_grad():
            for key, value in own.items():
                value.copy_(state[key])
        return sorted(own)

    def forward(self, x: Tensor) -> Tensor:
        """Translate (N, in_channels, H, W) to (N, out_channels, H, W) in [-1, 1]."""
        check_input(x, self.name, self.in_channels, self.size_multiple, self.min_size)
        pyramid = [x]
        for _ in range(self.n_local_enhancers):
            pyramid.append(self.downsample(pyramid[-1]))
        out = self.model(pyramid[-1])
        for n in range(1, self.n_local_enhancers + 1):
            front = getattr(self, f"model{n}_1")
            back = getattr(self, f"model{n}_2")
            out = back(front(pyramid[self.n_local_enhancers - n]) + out)
        return out


def _pooled_size(size: int, times: int) -> int:
    for _ in range(times):
        size = (size - 1) // 2 + 1
    return size


class MultiscaleDiscriminator(nn.Module):
    """pix2pixHD's discriminator (``multiscale``): ``num_D`` PatchGANs on an image pyramid.

    Each PatchGAN: conv 4x4 stride 2 + LeakyReLU(0.2); ``n_layers - 1`` times conv 4x4 stride
    2, norm, LeakyReLU; conv 4x4 stride 1, norm, LeakyReLU; conv 4x4 stride 1 to one channel.
    All convolutions use padding 2 and a bias; filters double from ``ndf`` up to 512. Layer
    ``j`` of PatchGAN ``i`` is ``scale{i}_layer{j}``; as in the reference, ``scale{num_D-1}``
    sees the full-resolution input and ``scale0`` the coarsest.

    The output is one list per scale (finest first) of every layer's output, the last being
    the prediction map: what the GAN loss (last items) and feature matching (the others) take.

    Args:
        in_channels: label channels + image channels (39 for Cityscapes).
        ndf: filters of the first convolution.
        n_layers: stride-2 convolutions per PatchGAN (3).
        norm: ``instance`` (the paper), ``batch`` or ``none``.
        num_D: scales (2; 3 for 1024p training).
    """

    def __init__(
        self, in_channels: int = 39, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
        num_D: int = 2,
    ) -> None:
        super().__init__()
        _check_positive("MultiscaleDiscriminator", in_channels=in_channels, ndf=ndf,
                        n_layers=n_layers, num_D=num_D)
        norm_layer = get_norm_layer(norm)
        self.in_channels = in_channels
        self.n_layers = n_layers
        self.num_D = num_D
        self.name = f"multi-scale discriminator ({num_D} scales, n_layers {n_layers})"
        self.min_size = next(s for s in range(1, 1 << 16) if _pooled_size(s, num_D - 1) >= 2)
        for i in range(num_D):
            for j, layer in enumerate(self._patchgan(in_channels, ndf, n_layers, norm_layer)):
                setattr(self, f"scale{i}_layer{j}", layer)
        self.downsample = downsample()

    @staticmethod
    def _patchgan(in_channels: int, ndf: int, n_layers: int, norm_layer) -> list[nn.Sequential]:
        def conv(c_in: int, c_out: int, stride: int) -> nn.Conv2d:
            return nn.Conv2d(c_in, c_out, D_KERNEL, stride=stride, padding=D_PADDING)

        layers = [nn.Sequential(conv(in_channels, ndf, 2), nn.LeakyReLU(0.2, True))]
        nf = ndf
        for n in range(1, n_layers + 1):
            prev, nf = nf, min(nf * 2, D_MAX_FILTERS)
            stride = 2 if n < n_layers else 1
            layers.append(
                nn.Sequential(conv(prev, nf, stride), norm_layer(nf), nn.LeakyReLU(0.2, True))
            )
        layers.append(nn.Sequential(conv(nf, 1, 1)))
        return layers

    def scale_layers(self, scale: int) -> list[nn.Module]:
        """The layers of PatchGAN ``scale`` (``scale{scale}_layer0`` ...), in order."""
        return [getattr(self, f"scale{scale}_layer{j}") for j in range(self.n_layers + 2)]

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        """Per scale, finest first: the outputs of every layer (the last is the prediction)."""
        check_input(x, self.name, self.in_channels, min_size=self.min_size)
        results = []
        for i in range(self.num_D):
            features, h = [], x
            for layer in self.scale_layers(self.num_D - 1 - i):
                h = layer(h)
                features.append(h)
            results.append(features)
            if i != self.num_D - 1:
                x = self.downsample(x)
        return results


class Encoder(nn.Module):
    """pix2pixHD's feature encoder (``encoder``): an image to ``out_channels`` features per pixel,
    averaged over each instance.

    Layout: the global generator's encoder-decoder without residual blocks (7x7 conv,
    ``n_downsampling`` stride-2 convs, as many transposed convs, 7x7 conv, Tanh) with ``nef``
    filters.

    Args:
        in_channels: image channels.
        out_channels: feature channels (3).
        nef: filters of the first convolution (16).
        norm: ``instance`` (the paper), ``batch`` or ``none``.
        n_downsampling: stride-2 convolutions (4).
    """

    def __init__(
        self, in_channels: int = 3, out_channels: int = 3, nef: int = 16, norm: str = "instance",
        n_downsampling: int = 4,
    ) -> None:
        super().__init__()
        _check_positive("Encoder", in_channels=in_channels, out_channels=out_channels, nef=nef,
                        n_downsampling=n_downsampling)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.size_multiple = 2**n_downsampling
        self.min_size = self.size_multiple
        self.name = "encoder"
        self.model = nn.Sequential(
            *_encoder_decoder(in_channels, out_channels, nef, n_downsampling, norm, [])
        )

    def forward(self, x: Tensor, instances: Tensor | None = None) -> Tensor:
        """Features (N, out_channels, H, W) of images (N, in_channels, H, W).

        With ``instances`` (N, 1, H, W integer ids) every pixel gets the mean feature of its
        instance (:func:`instance_mean`); without, the per-pixel features.
        """
        check_input(x, self.name, self.in_channels, self.size_multiple, self.min_size)
        features = self.model(x)
        return features if instances is None else instance_mean(features, instances)


@dataclass(frozen=True)
class InstanceSegments:
    """The instances of a batch of instance maps, one row per instance per image.

    Attributes:
        image: ``[S]`` the image each instance belongs to.
        ids: ``[S]`` its instance id.
        counts: ``[S]`` its pixel count.
        segment: ``[N, H, W]`` the row of every pixel.
    """

    image: Tensor
    ids: Tensor
    counts: Tensor
    segment: Tensor


def instance_segments(instances: Tensor) -> InstanceSegments:
    """Number the instances of ``[N, 1, H, W]`` integer instance maps, all images at once.

    Ids are per image: the same id in two images is two instances. Rows are sorted by image,
    then id.
    """
    if instances.dim() != 4 or instances.shape[1] != 1 or instances.is_floating_point():
        raise ValueError(
            f"instances: got {instances.dtype} of shape {tuple(instances.shape)}; expected "
            "integer ids shaped [N, 1, H, W]"
        )
    n, _, h, w = instances.shape
    flat = instances.reshape(n, h * w).long()
    low = flat.min()
    span = flat.max() - low + 1
    keys = (flat - low) + torch.arange(n, device=flat.device)[:, None] * span
    unique, segment = torch.unique(keys, return_inverse=True)
    return InstanceSegments(
        image=torch.div(unique, span, rounding_mode="floor"),
        ids=unique % span + low,
        counts=torch.bincount(segment.reshape(-1), minlength=unique.numel()),
        segment=segment.reshape(n, h, w),
    )


def instance_means(features: Tensor, segments: InstanceSegments) -> Tensor:
    """``[S, C]``: the mean feature (float32) of every instance of ``segments``."""
    n, c, h, w = features.shape
    if tuple(segments.segment.shape) != (n, h, w):
        raise ValueError(
            f"instance maps of shape {tuple(segments.segment.shape)} do not fit features of "
            f"shape {tuple(features.shape)}; expected the same N, H and W"
        )
    columns = features.float().permute(1, 0, 2, 3).reshape(c, n * h * w)
    rows = segments.counts.numel()
    sums = columns.new_zeros(c, rows).index_add(1, segments.segment.reshape(-1), columns)
    return (sums / segments.counts.to(sums.dtype)).t()


def instance_mean(features: Tensor, instances: Tensor) -> Tensor:
    """Instance-wise average pooling: each pixel's features replaced by its instance's mean.

    Vectorised (one ``unique`` and one ``index_add`` for the whole batch, no loop over
    instances) and differentiable: each pixel receives ``1 / count`` of its instance's
    gradient, as with a per-instance mean. On the meta device (shape-only runs such as memory
    estimates) the features are returned as they are: the shape is the same.

    Args:
        features: ``[N, C, H, W]``.
        instances: ``[N, 1, H, W]`` integer instance ids.

    Returns:
        ``[N, C, H, W]`` in the dtype of ``features`` (averaged in float32).
    """
    if features.device.type == "meta":
        return features
    segments = instance_segments(instances)
    n, c, h, w = features.shape
    pooled = instance_means(features, segments)[segments.segment.reshape(-1)]
    return pooled.reshape(n, h, w, c).permute(0, 3, 1, 2).to(features.dtype)
