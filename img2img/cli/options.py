"""Command-line options shared by every ``img2img train <family>`` command, declared once.

Each option is an ``Annotated`` alias; :func:`shared_training_options` is the template whose
signature every family command gets after its own model options (see
:func:`img2img.cli.train.family_command`). The option names are the reference code's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from img2img.config import (
    DIRECTIONS,
    PRECISIONS,
    PREPROCESS_MODES,
    image_generators,
    patch_discriminators,
)
from img2img.losses.modes import GAN_MODES
from img2img.nn.registry import INIT_TYPES, NORMS

Opt = typer.Option

MODEL = "Model"
DATA = "Data"
OPTIM = "Optimisation"
RUN = "Run"
TEST = "Test time"


def choices(values) -> str:
    """``a, b, c`` for help texts."""
    return ", ".join(values)


# --- model (each family picks the ones it takes, with its own defaults) -----------------------
NetG = Annotated[str, Opt("--netG", help=f"Generator: {choices(image_generators())}.", rich_help_panel=MODEL)]
NetD = Annotated[str, Opt("--netD", help=f"Discriminator: {choices(patch_discriminators())}.", rich_help_panel=MODEL)]
Ngf = Annotated[int, Opt("--ngf", help="Generator filters in the last conv layer.", rich_help_panel=MODEL)]
Ndf = Annotated[int, Opt("--ndf", help="Discriminator filters in the first conv layer.", rich_help_panel=MODEL)]
NLayersD = Annotated[int, Opt("--n-layers-D", help="Layers of the 'n_layers' discriminator.", rich_help_panel=MODEL)]
Norm = Annotated[str, Opt("--norm", help=f"Normalisation: {choices(NORMS)}.", rich_help_panel=MODEL)]
NoDropout = Annotated[bool, Opt("--no-dropout", help="No dropout in the generator.", rich_help_panel=MODEL)]
InitType = Annotated[str, Opt("--init-type", help=f"Weight init: {choices(INIT_TYPES)}.", rich_help_panel=MODEL)]
InitGain = Annotated[float, Opt("--init-gain", help="Scale of the weight init.", rich_help_panel=MODEL)]
GanMode = Annotated[str, Opt("--gan-mode", help=f"GAN objective: {choices(GAN_MODES)}.", rich_help_panel=MODEL)]
InputNc = Annotated[int, Opt("--input-nc", help="Input channels (1 or 3).", rich_help_panel=MODEL)]
OutputNc = Annotated[int, Opt("--output-nc", help="Output channels (1 or 3).", rich_help_panel=MODEL)]

# --- data ------------------------------------------------------------------------------------
Data = Annotated[str | None, Opt("--data", help="Dataset folder, or the name of one under datasets/.", rich_help_panel=DATA)]
Direction = Annotated[str, Opt("--direction", help=f"{choices(DIRECTIONS)}.", rich_help_panel=DATA)]
Preprocess = Annotated[str, Opt("--preprocess", help=f"{choices(PREPROCESS_MODES)}.", rich_help_panel=DATA)]
LoadSize = Annotated[int, Opt("--load-size", help="Resize to this size first.", rich_help_panel=DATA)]
CropSize = Annotated[int, Opt("--crop-size", help="Then crop to this size.", rich_help_panel=DATA)]
NoFlip = Annotated[bool, Opt("--no-flip", help="No random horizontal flips.", rich_help_panel=DATA)]
Phase = Annotated[str, Opt("--phase", help="Dataset split to train on.", rich_help_panel=DATA)]
MaxDatasetSize = Annotated[int | None, Opt("--max-dataset-size", help="Use at most this many samples.", rich_help_panel=DATA)]
NumWorkers = Annotated[int, Opt("--num-workers", help="Data loading processes.", rich_help_panel=DATA)]

# --- optimisation ----------------------------------------------------------------------------
BatchSize = Annotated[int, Opt("--batch-size", help="Images per step (per process when data-parallel).", rich_help_panel=OPTIM)]
Lr = Annotated[float, Opt("--lr", help="Adam learning rate.", rich_help_panel=OPTIM)]
Beta1 = Annotated[float, Opt("--beta1", help="Adam beta1.", rich_help_panel=OPTIM)]
NEpochs = Annotated[int, Opt("--n-epochs", help="Epochs at the initial learning rate.", rich_help_panel=OPTIM)]
NEpochsDecay = Annotated[int, Opt("--n-epochs-decay", help="Epochs of linear decay (to 1/(N+1) of the rate in the last one).", rich_help_panel=OPTIM)]
MaxSteps = Annotated[int | None, Opt("--max-steps", help="Stop after this many steps (also caps a resumed run).", rich_help_panel=OPTIM)]

# --- run -------------------------------------------------------------------------------------
Seed = Annotated[int, Opt("--seed", help="Seed for weights, data order and augmentation.", rich_help_panel=RUN)]
Device = Annotated[str, Opt("--device", help="auto, cpu, cuda, cuda:N or mps.", rich_help_panel=RUN)]
Precision = Annotated[str, Opt("--precision", help=f"{choices(PRECISIONS)}.", rich_help_panel=RUN)]
ChannelsLast = Annotated[bool, Opt("--channels-last", help="Channels-last memory format.", rich_help_panel=RUN)]
Compile = Annotated[bool, Opt("--compile", help="torch.compile the networks (static shapes; slower start, faster steps on a GPU).", rich_help_panel=RUN)]
Devices = Annotated[int, Opt("--devices", help="Train data-parallel on N processes of this machine (N GPUs, or N CPU processes); the same as 'torchrun --nproc-per-node N -m img2img train ...'. --batch-size is per process.", rich_help_panel=RUN, min=1)]
Name = Annotated[str | None, Opt("--name", help="Run name (default: <dataset>_<family>).", rich_help_panel=RUN)]
RunsDir = Annotated[Path, Opt("--runs-dir", help="Where run directories are created.", rich_help_panel=RUN)]
LogEvery = Annotated[int, Opt("--log-every", help="Steps between metric lines.", rich_help_panel=RUN)]
SampleEvery = Annotated[int, Opt("--sample-every", help="Steps between sample grids.", rich_help_panel=RUN)]
CheckpointEvery = Annotated[int, Opt("--checkpoint-every", help="Steps between checkpoints (checkpoints/latest.pt).", rich_help_panel=RUN)]
KeepCheckpoints = Annotated[int, Opt("--keep-checkpoints", help="Also keep the last N checkpoints as checkpoints/step_*.pt.", rich_help_panel=RUN)]
SaveEveryEpochs = Annotated[int, Opt("--save-every-epochs", help="Also keep checkpoints/epoch_*.pt every N epochs (0: never).", rich_help_panel=RUN)]
Resume = Annotated[Path | None, Opt("--resume", help="Continue the run in this directory (its saved config is used).", rich_help_panel=RUN)]
DryRun = Annotated[bool, Opt("--dry-run", help="Print the resolved config and network sizes; write nothing.", rich_help_panel=RUN)]
Yes = Annotated[bool, Opt("--yes", "-y", help="Download a missing published --data dataset without asking.", rich_help_panel=DATA)]
Tensorboard = Annotated[bool, Opt("--tensorboard", help="Also write losses, learning rate, images/s and sample grids as TensorBoard events into the run directory (needs the tensorboard extra).", rich_help_panel=RUN)]
ReportEvery = Annotated[int, Opt("--report-every", help="Steps between refreshes of the run's report.html (0: only at the end).", rich_help_panel=RUN)]

# --- test time (translate, evaluate, export) --------------------------------------------------
InferDevice = Annotated[str, Opt("--device", help="auto, cpu, cuda, cuda:N or mps.")]
TestSeed = Annotated[int | None, Opt("--seed", help="Seed of the per-image dropout noise (paper test mode; default 0).", rich_help_panel=TEST)]
TestNoDropout = Annotated[bool, Opt("--no-dropout", help="Paper test mode with dropout off.", rich_help_panel=TEST)]
TestEval = Annotated[bool, Opt("--eval", help="Test with running statistics and no dropout (model.eval()) instead of the paper's test mode.", rich_help_panel=TEST)]


def test_options(eval_mode: bool, no_dropout: bool, seed: int | None) -> dict:
    """The inference model's test-time options from the three flags (None: the default)."""
    return {"test_mode": "eval" if eval_mode else None, "dropout": False if no_dropout else None,
            "seed": seed}


def shared_training_options(
    data: Data = None,
    direction: Direction = "AtoB",
    preprocess: Preprocess = "resize_and_crop",
    load_size: LoadSize = 286,
    crop_size: CropSize = 256,
    no_flip: NoFlip = False,
    phase: Phase = "train",
    max_dataset_size: MaxDatasetSize = None,
    num_workers: NumWorkers = 2,
    batch_size: BatchSize = 1,
    lr: Lr = 2e-4,
    beta1: Beta1 = 0.5,
    n_epochs: NEpochs = 100,
    n_epochs_decay: NEpochsDecay = 100,
    max_steps: MaxSteps = None,
    seed: Seed = 0,
    device: Device = "auto",
    precision: Precision = "fp32",
    channels_last: ChannelsLast = False,
    compile: Compile = False,
    devices: Devices = 1,
    name: Name = None,
    runs_dir: RunsDir = Path("runs"),
    log_every: LogEvery = 10,
    sample_every: SampleEvery = 500,
    checkpoint_every: CheckpointEvery = 1000,
    keep_checkpoints: KeepCheckpoints = 0,
    save_every_epochs: SaveEveryEpochs = 0,
    tensorboard: Tensorboard = False,
    report_every: ReportEvery = 0,
    resume: Resume = None,
    dry_run: DryRun = False,
    yes: Yes = False,
) -> None:
    """The template of the options every family's train command takes (never called)."""
