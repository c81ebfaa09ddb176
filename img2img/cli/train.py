"""``img2img train <family>``: one command per model family."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from img2img.cli.errors import user_errors
from img2img.config import DIRECTIONS, GAN_MODES, PRECISIONS, PREPROCESS_MODES
from img2img.nn.registry import INIT_TYPES, NORMS, list_discriminators, list_generators

app = typer.Typer(
    help="Train a model. One sub-command per family.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)

PIX2PIX_EXAMPLES = """\
[bold]Examples[/]

  img2img train pix2pix --data edges2shoes

  img2img train pix2pix --data datasets/facades --direction BtoA --name facades

  img2img train pix2pix --data my_pairs --netG unet_128 --load-size 142 --crop-size 128 --max-steps 2000

  img2img train pix2pix --data edges2photos_mini --dry-run

  img2img train pix2pix --resume runs/facades
"""


def _choices(values) -> str:
    return ", ".join(values)


Opt = typer.Option
GROUP_MODEL = "Model"
GROUP_DATA = "Data"
GROUP_OPTIM = "Optimisation"
GROUP_RUN = "Run"


@app.command("pix2pix", epilog=PIX2PIX_EXAMPLES)
def pix2pix(
    data: Annotated[
        str | None,
        Opt("--data", help="Dataset folder, or the name of one under datasets/.", rich_help_panel=GROUP_DATA),
    ] = None,
    netG: Annotated[str, Opt("--netG", help=f"Generator: {_choices(list_generators())}.", rich_help_panel=GROUP_MODEL)] = "unet_256",
    netD: Annotated[str, Opt("--netD", help=f"Discriminator: {_choices(list_discriminators())}.", rich_help_panel=GROUP_MODEL)] = "basic",
    ngf: Annotated[int, Opt("--ngf", help="Generator filters in the last conv layer.", rich_help_panel=GROUP_MODEL)] = 64,
    ndf: Annotated[int, Opt("--ndf", help="Discriminator filters in the first conv layer.", rich_help_panel=GROUP_MODEL)] = 64,
    n_layers_D: Annotated[int, Opt("--n-layers-D", help="Layers of the 'n_layers' discriminator.", rich_help_panel=GROUP_MODEL)] = 3,
    norm: Annotated[str, Opt("--norm", help=f"Normalisation: {_choices(NORMS)}.", rich_help_panel=GROUP_MODEL)] = "batch",
    no_dropout: Annotated[bool, Opt("--no-dropout", help="No dropout in the generator.", rich_help_panel=GROUP_MODEL)] = False,
    init_type: Annotated[str, Opt("--init-type", help=f"Weight init: {_choices(INIT_TYPES)}.", rich_help_panel=GROUP_MODEL)] = "normal",
    init_gain: Annotated[float, Opt("--init-gain", help="Scale of the weight init.", rich_help_panel=GROUP_MODEL)] = 0.02,
    gan_mode: Annotated[str, Opt("--gan-mode", help=f"GAN objective: {_choices(GAN_MODES)}.", rich_help_panel=GROUP_MODEL)] = "vanilla",
    lambda_l1: Annotated[float, Opt("--lambda-l1", help="Weight of the L1 term.", rich_help_panel=GROUP_MODEL)] = 100.0,
    input_nc: Annotated[int, Opt("--input-nc", help="Input channels (1 or 3).", rich_help_panel=GROUP_MODEL)] = 3,
    output_nc: Annotated[int, Opt("--output-nc", help="Output channels (1 or 3).", rich_help_panel=GROUP_MODEL)] = 3,
    direction: Annotated[str, Opt("--direction", help=f"{_choices(DIRECTIONS)}.", rich_help_panel=GROUP_DATA)] = "AtoB",
    preprocess: Annotated[str, Opt("--preprocess", help=f"{_choices(PREPROCESS_MODES)}.", rich_help_panel=GROUP_DATA)] = "resize_and_crop",
    load_size: Annotated[int, Opt("--load-size", help="Resize to this size first.", rich_help_panel=GROUP_DATA)] = 286,
    crop_size: Annotated[int, Opt("--crop-size", help="Then crop to this size.", rich_help_panel=GROUP_DATA)] = 256,
    no_flip: Annotated[bool, Opt("--no-flip", help="No random horizontal flips.", rich_help_panel=GROUP_DATA)] = False,
    phase: Annotated[str, Opt("--phase", help="Dataset split to train on.", rich_help_panel=GROUP_DATA)] = "train",
    max_dataset_size: Annotated[int | None, Opt("--max-dataset-size", help="Use at most this many pairs.", rich_help_panel=GROUP_DATA)] = None,
    num_workers: Annotated[int, Opt("--num-workers", help="Data loading processes.", rich_help_panel=GROUP_DATA)] = 2,
    batch_size: Annotated[int, Opt("--batch-size", help="Images per step.", rich_help_panel=GROUP_OPTIM)] = 1,
    lr: Annotated[float, Opt("--lr", help="Adam learning rate.", rich_help_panel=GROUP_OPTIM)] = 2e-4,
    beta1: Annotated[float, Opt("--beta1", help="Adam beta1.", rich_help_panel=GROUP_OPTIM)] = 0.5,
    n_epochs: Annotated[int, Opt("--n-epochs", help="Epochs at the initial learning rate.", rich_help_panel=GROUP_OPTIM)] = 100,
    n_epochs_decay: Annotated[int, Opt("--n-epochs-decay", help="Epochs of linear decay to zero.", rich_help_panel=GROUP_OPTIM)] = 100,
    max_steps: Annotated[int | None, Opt("--max-steps", help="Stop after this many steps (also caps a resumed run).", rich_help_panel=GROUP_OPTIM)] = None,
    seed: Annotated[int, Opt("--seed", help="Seed for weights, data order and augmentation.", rich_help_panel=GROUP_RUN)] = 0,
    device: Annotated[str, Opt("--device", help="auto, cpu, cuda, cuda:N or mps.", rich_help_panel=GROUP_RUN)] = "auto",
    precision: Annotated[str, Opt("--precision", help=f"{_choices(PRECISIONS)}.", rich_help_panel=GROUP_RUN)] = "fp32",
    channels_last: Annotated[bool, Opt("--channels-last", help="Channels-last memory format.", rich_help_panel=GROUP_RUN)] = False,
    name: Annotated[str | None, Opt("--name", help="Run name (default: <dataset>_pix2pix).", rich_help_panel=GROUP_RUN)] = None,
    runs_dir: Annotated[Path, Opt("--runs-dir", help="Where run directories are created.", rich_help_panel=GROUP_RUN)] = Path("runs"),
    log_every: Annotated[int, Opt("--log-every", help="Steps between metric lines.", rich_help_panel=GROUP_RUN)] = 10,
    sample_every: Annotated[int, Opt("--sample-every", help="Steps between sample grids.", rich_help_panel=GROUP_RUN)] = 500,
    checkpoint_every: Annotated[int, Opt("--checkpoint-every", help="Steps between checkpoints.", rich_help_panel=GROUP_RUN)] = 1000,
    resume: Annotated[Path | None, Opt("--resume", help="Continue the run in this directory (its saved config is used).", rich_help_panel=GROUP_RUN)] = None,
    dry_run: Annotated[bool, Opt("--dry-run", help="Print the resolved config and network sizes; write nothing.", rich_help_panel=GROUP_RUN)] = False,
) -> None:
    """Train [bold]pix2pix[/]: U-Net generator, PatchGAN on (A, B), cGAN + L1 (paired data)."""
    from img2img.cli import show

    with user_errors():
        if resume is not None:
            _resume(resume, max_steps, device if device != "auto" else None, num_workers)
            return
        if data is None:
            raise ValueError("--data is required (a dataset folder or name), unless --resume is given")
        from img2img.config import DataConfig, Pix2PixConfig, RunConfig, TrainConfig
        from img2img.hub.datasets import resolve_dataset

        root = resolve_dataset(data)
        config = RunConfig(
            model=Pix2PixConfig(
                netG=netG, netD=netD, input_nc=input_nc, output_nc=output_nc, ngf=ngf, ndf=ndf,
                n_layers_D=n_layers_D, norm=norm, dropout=not no_dropout, init_type=init_type,
                init_gain=init_gain, gan_mode=gan_mode, lambda_l1=lambda_l1,
            ),
            data=DataConfig(
                root=str(root), phase=phase, direction=direction, preprocess=preprocess,
                load_size=load_size, crop_size=crop_size, flip=not no_flip,
                num_workers=num_workers, max_dataset_size=max_dataset_size,
            ),
            train=TrainConfig(
                batch_size=batch_size, lr=lr, beta1=beta1, n_epochs=n_epochs,
                n_epochs_decay=n_epochs_decay, max_steps=max_steps, seed=seed, device=device,
                precision=precision, channels_last=channels_last, log_every=log_every,
                sample_every=sample_every, checkpoint_every=checkpoint_every,
            ),
            name=name or f"{root.resolve().name}_pix2pix",
        )
        from img2img.engine.rundir import check_run_name

        check_run_name(config.name)
        if dry_run:
            from img2img.engine.launch import summarize

            show.summary(summarize(config))
            return
        _train(config, runs_dir)


def _train(config, runs_dir: Path) -> None:
    from img2img.cli import show
    from img2img.engine.launch import train
    from img2img.engine.progress import RichReporter

    run, result = train(config, runs_dir, reporter=RichReporter())
    show.finished(run, result)


def _resume(run_dir: Path, max_steps: int | None, device: str | None, num_workers: int) -> None:
    from img2img.cli import show
    from img2img.engine.launch import resume
    from img2img.engine.progress import RichReporter

    run, result = resume(
        run_dir, max_steps=max_steps, device=device, num_workers=num_workers, reporter=RichReporter()
    )
    show.finished(run, result)
