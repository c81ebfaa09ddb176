"""``img2img datasets``: list, download and prepare datasets, and check them before training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from img2img import completion
from img2img.cli.errors import user_errors
from img2img.cli.group import CommandGroup
from img2img.cli.options import TRUST_SIDE_BY_SIDE_HELP

app = CommandGroup(
    help="Get and prepare datasets: list, download, combine, split, edges, boundaries, "
    "prepare, check.",
    no_args_is_help=True,
)
prepare_app = CommandGroup(
    help="Turn an official download into img2img's dataset layouts.",
    no_args_is_help=True,
)
app.add_typer(prepare_app, name="prepare")

Workers = Annotated[int | None, typer.Option("--workers", "-j", help="Threads for per-image work (default: the cores available, at most 8).")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace existing output files (otherwise they are kept).")]
Ext = Annotated[str, typer.Option("--ext", help="Output format by extension: .jpg, .png, .webp ...")]
Quality = Annotated[int, typer.Option("--quality", help="JPEG/WEBP quality.")]
TrustSideBySide = Annotated[bool, typer.Option("--trust-side-by-side", help=TRUST_SIDE_BY_SIDE_HELP)]


def _examples(*lines: str) -> str:
    return "[bold]Examples[/]\n\n" + "\n\n".join(f"  {line}" for line in lines) + "\n"


def _workers(workers: int | None) -> int:
    """Threads for per-image work; torch itself is kept to one thread per image.

    Each worker handles one image at a time, so torch splitting an image's small operations
    over its own threads only makes them wait for each other: on 2 cores that cost 15 ms
    instead of 1.5 ms of CPU per pair in ``datasets check`` (bench/datasets.py). The setting
    is process-wide, so it is made here, in the command, never by the library.
    """
    import torch

    from img2img.prep.parallel import check_workers, default_workers

    count = default_workers() if workers is None else check_workers(workers)
    torch.set_num_threads(1)
    return count


# --- list and download -----------------------------------------------------------------------
@app.command("list", epilog=_examples("img2img datasets list", "img2img datasets list --json"))
def list_datasets(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The published datasets: family, layout, images, source, licence, and whether present."""
    from img2img.cli import datasets_show

    datasets_show.registry(as_json)


@app.command(
    "download",
    epilog=_examples(
        "img2img datasets download facades", "img2img datasets download horse2zebra edges2shoes",
        "img2img datasets download cyclegan/facades --dir /data/datasets",
        "IMG2IMG_MIRROR=http://mirror.lan/gans img2img datasets download maps",
    ),
)
def download(
    names: Annotated[list[str], typer.Argument(help="Published dataset names (see 'img2img datasets list'); FAMILY/NAME where two families share one.", autocompletion=completion.published_datasets)],
    directory: Annotated[Path | None, typer.Option("--dir", help="Datasets folder (default: $IMG2IMG_DATASETS, else ./datasets).")] = None,
    keep_archive: Annotated[bool, typer.Option("--keep-archive", help="Keep the downloaded archive after unpacking it.")] = False,
) -> None:
    """Download and unpack published datasets (resumable, checksummed, safely extracted).

    An interrupted download resumes where it stopped when run again. IMG2IMG_MIRROR replaces
    the scheme, host and prefix of every URL and keeps its path. Datasets that may not be
    redistributed (Cityscapes) print how to obtain and prepare them instead.
    """
    from img2img.cli.datasets_show import console
    from img2img.hub.datasets import UnknownDatasetError, get_published
    from img2img.hub.install import target_folder

    missing = 0
    for name in names:
        try:
            entry = get_published(name)
        except UnknownDatasetError as exc:
            console.print(f"[bold red]Error:[/] {exc}", highlight=False, soft_wrap=True)
            missing += 1
            continue
        target = target_folder(entry, directory)
        if not entry.downloadable:
            console.print(f"[bold yellow]{entry.name}[/] cannot be downloaded:", highlight=False, soft_wrap=True)
            console.print(entry.how_to_obtain(target), highlight=False, markup=False,
                          soft_wrap=True)
            missing += 1
        elif target.exists():
            console.print(f"{entry.name}: already in [cyan]{target}[/] (remove it to download "
                          "again)", highlight=False, soft_wrap=True)
        else:
            with user_errors():
                fetch(entry, directory, keep_archive=keep_archive)
    if missing:
        raise typer.Exit(1)


def fetch(entry, root: Path | None, *, keep_archive: bool = False,
          size: int | None = None) -> Path:
    """Download and unpack ``entry`` with progress bars, after a line with the archive's size
    (``size``, else the server's); returns the dataset folder."""
    from img2img.cli.datasets_show import console, installed
    from img2img.cli.downloads import known_size, size_text
    from img2img.cli.progress import progress_bar
    from img2img.hub.install import fetch_archive, unpack_dataset

    console.print(f"downloading {entry.archive_name}: {size_text(known_size(entry.url, size))}",
                  highlight=False, markup=False)
    with progress_bar(f"downloading {entry.archive_name}", unit="bytes") as update:
        archive = fetch_archive(entry, root, progress=update)
    with progress_bar(f"unpacking {entry.archive_name}", unit="files") as update:
        done = unpack_dataset(entry, archive, keep_archive=keep_archive, progress=update)
    installed(entry, done)
    console.print()
    return done.path


def ensure_dataset(data: str, family: str, *, yes: bool) -> Path:
    """The folder ``--data`` names for ``train FAMILY``, downloading a missing published one.

    On a terminal the user is asked first (unless ``yes``); without one the download goes
    ahead and says so.

    Raises:
        FileNotFoundError: no such dataset, a published one that cannot be downloaded (the
            message says how to obtain it), or the user declined.
    """
    from img2img.cli.datasets_show import console
    from img2img.hub.datasets import DatasetNotInstalledError, resolve_dataset

    try:
        return resolve_dataset(data, family)
    except DatasetNotInstalledError as missing:
        entry, target = missing.entry, missing.target
        if not entry.downloadable:
            raise
        from img2img.cli.downloads import known_size, size_text

        where = f"{entry.url} into {target}"
        size = known_size(entry.url, None)
        if not yes:
            if _interactive():
                if not typer.confirm(f"{entry.name} is not installed. Download it "
                                     f"({size_text(size)}) from {where}?",
                                     default=True):
                    raise FileNotFoundError(
                        f"--data {data!r}: not downloaded; {missing.entry.name} is needed to "
                        "train (run again and answer yes, or pass --yes)"
                    ) from None
            else:
                console.print(f"{entry.name} is not installed: downloading it from {where} "
                              "(not asking: no terminal; --yes silences this)", highlight=False, soft_wrap=True)
        return fetch(entry, target.parent, size=size)


def _interactive() -> bool:
    """Whether a person can answer (the same test as every other download prompt)."""
    from img2img.cli.downloads import interactive

    return interactive()


# --- per-image preparation -------------------------------------------------------------------
@app.command(
    "combine",
    epilog=_examples(
        "img2img datasets combine photos/ labels/ datasets/labels2photos",
        "img2img datasets combine data/A data/B datasets/mine --resize --ext .png",
        "img2img datasets combine A/ B/ datasets/mine_256 --size 256 --ext .jpg --quality 90",
    ),
)
def combine(
    dir_a: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Folder of A images (with train/val/test folders, or without).")],
    dir_b: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Folder of B images, named as in A (extensions may differ).")],
    out: Annotated[Path, typer.Argument(help="Output folder for the side-by-side AB images.")],
    resize: Annotated[bool, typer.Option("--resize", help="Resize a B of another size to A's size (bicubic) instead of failing the pair.")] = False,
    size: Annotated[int | None, typer.Option("--size", help="Resize both sides to SIZE x SIZE.")] = None,
    ext: Annotated[str | None, typer.Option("--ext", help="Output format by extension: .jpg, .png, .webp ... (default: each A file's own, 16-bit kept in PNG and TIFF).")] = None,
    quality: Quality = 95,
    overwrite: Overwrite = False,
    workers: Workers = None,
) -> None:
    """Write side-by-side A|B images for the files of A_DIR and B_DIR that share a name.

    Pairs are matched by relative path without extension, per split when both folders have
    train/val/test folders. Sizes must agree unless --resize or --size. Each pair is written
    in its A file's format (PNG stays lossless PNG, 16-bit stays 16-bit) unless --ext says
    otherwise; gray stays gray when both sides are gray. Unmatched files are reported.
    """
    from img2img.cli.datasets_show import prep_report
    from img2img.cli.progress import progress_bar
    from img2img.prep.combine import CombineOptions, combine_dirs

    with user_errors():
        options = CombineOptions(ext=ext, quality=quality, resize=resize, size=size,
                                 overwrite=overwrite)
        threads = _workers(workers)
        with progress_bar("combining") as update:
            report = combine_dirs(dir_a, dir_b, out, options=options, workers=threads,
                                  progress=update)
    prep_report(report, out)


@app.command(
    "split",
    epilog=_examples("img2img datasets split datasets/facades datasets/facades_AB",
                     "img2img datasets split datasets/edges2shoes out/shoes --ext .png"),
)
def split(
    ab_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Folder of side-by-side AB images (with train/val/test folders, or without).")],
    out: Annotated[Path, typer.Argument(help="Output folder: OUT/A/<split>/ and OUT/B/<split>/.")],
    ext: Annotated[str | None, typer.Option("--ext", help="Output format by extension (default: each input's).")] = None,
    quality: Quality = 95,
    overwrite: Overwrite = False,
    workers: Workers = None,
) -> None:
    """Cut side-by-side AB images into separate A/ and B/ folders (the reverse of combine)."""
    from img2img.cli.datasets_show import prep_report
    from img2img.cli.progress import progress_bar
    from img2img.prep.split import split_folder

    with user_errors():
        threads = _workers(workers)
        with progress_bar("splitting") as update:
            report = split_folder(ab_dir, out, ext=ext, quality=quality, overwrite=overwrite,
                                  workers=threads, progress=update)
    prep_report(report, out)


@app.command(
    "edges",
    epilog=_examples(
        "img2img datasets edges photos/shoes datasets/edges2myshoes",
        "img2img datasets edges photos/ datasets/edges2photos --size 128 --split 0.8 --thickness 2",
        "img2img datasets edges photos/ datasets/sketchy --low 1.5 --high 4 --blur 2",
    ),
)
def edges(
    photos: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Folder of photos (searched recursively).")],
    out: Annotated[Path, typer.Argument(help="Output folder: OUT/train/ and OUT/val/ of edges|photo images.")],
    size: Annotated[int, typer.Option("--size", help="Scale and centre-crop photos to SIZE x SIZE (0 keeps their size).")] = 256,
    split_fraction: Annotated[float, typer.Option("--split", help="Fraction of the photos for train; the rest go to val.")] = 0.9,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/val assignment.")] = 0,
    low: Annotated[float, typer.Option("--low", help="Canny low threshold, a multiple of the median gradient.")] = 2.0,
    high: Annotated[float, typer.Option("--high", help="Canny high threshold, a multiple of the median gradient.")] = 5.0,
    blur: Annotated[float, typer.Option("--blur", help="Gaussian blur (pixels) before edge detection; 0 for none.")] = 1.0,
    thickness: Annotated[int, typer.Option("--thickness", help="Line thickness in pixels.")] = 1,
    ext: Ext = ".jpg",
    quality: Quality = 95,
    overwrite: Overwrite = False,
    workers: Workers = None,
) -> None:
    """Build an edges -> photo dataset (black Canny lines on white, like edges2shoes) from photos.

    Ready for [bold]img2img train pix2pix --data OUT[/].
    """
    from img2img.cli.datasets_show import prep_report
    from img2img.cli.progress import progress_bar
    from img2img.prep.edges import EdgeOptions, edges_dataset

    with user_errors():
        options = EdgeOptions(low=low, high=high, blur=blur, thickness=thickness,
                              size=size or None)
        threads = _workers(workers)
        with progress_bar("drawing edges") as update:
            report = edges_dataset(photos, out, options=options, split=split_fraction, seed=seed,
                                   ext=ext, quality=quality, overwrite=overwrite,
                                   workers=threads, progress=update)
    prep_report(report, out)


@app.command(
    "boundaries",
    epilog=_examples(
        "img2img datasets boundaries datasets/cityscapes/train_inst "
        "datasets/cityscapes/train_boundary",
        "img2img datasets boundaries inst/ masks/ --values 0,1 --overwrite",
    ),
)
def boundaries(
    inst_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Folder of instance maps (walked recursively).")],
    out: Annotated[Path, typer.Argument(help="Output folder (mirrors INST_DIR): <stem>_boundary.png for each map.")],
    values: Annotated[str, typer.Option("--values", help="Pixel values BACKGROUND,BOUNDARY (0,1 for a raw mask).")] = "0,255",
    overwrite: Overwrite = False,
    workers: Workers = None,
) -> None:
    """Write the pix2pixHD boundary map of every instance map in a folder.

    The same rule and code as [bold]img2img boundary[/]: 255 where a pixel's id differs from
    a 4-neighbour's (both sides marked), ids compared at full precision (16-bit included).
    """
    from img2img.cli.boundary import boundary

    with user_errors():
        threads = _workers(workers)
    boundary(inputs=inst_dir, output=out, values=values, overwrite=overwrite, threads=threads)


@prepare_app.command(
    "cityscapes",
    epilog=_examples(
        "img2img datasets prepare cityscapes --gtfine gtFine --leftimg8bit leftImg8bit "
        "datasets/cityscapes",
        "img2img datasets prepare cityscapes --gtfine gtFine --leftimg8bit leftImg8bit "
        "datasets/cityscapes --layouts pix2pixhd",
    ),
)
def prepare_cityscapes(
    out: Annotated[Path, typer.Argument(help="Output dataset folder, e.g. datasets/cityscapes.")],
    gtfine: Annotated[Path, typer.Option("--gtfine", exists=True, file_okay=False, help="The unzipped gtFine folder (gtFine_trainvaltest.zip).")],
    leftimg8bit: Annotated[Path, typer.Option("--leftimg8bit", exists=True, file_okay=False, help="The unzipped leftImg8bit folder (leftImg8bit_trainvaltest.zip).")],
    layouts: Annotated[str, typer.Option("--layouts", help="Comma-separated: pix2pix, pix2pixhd, cyclegan.")] = "pix2pix,pix2pixhd,cyclegan",
    size: Annotated[int, typer.Option("--size", help="Side of the pix2pix and CycleGAN images.")] = 256,
    ext: Annotated[str, typer.Option("--ext", help="Format of the resized pix2pix and CycleGAN images.")] = ".png",
    quality: Quality = 95,
    overwrite: Overwrite = False,
    workers: Workers = None,
) -> None:
    """Turn the official Cityscapes download into pix2pix, pix2pixHD and CycleGAN layouts.

    pix2pix: OUT/train|test/<frame>.png, photo (A) | colour labels (B) at SIZE x SIZE (train
    labels -> photo with --direction BtoA). CycleGAN: OUT/trainA|trainB (photos | colour
    labels). pix2pixHD: OUT/train_label, train_inst, train_img (and test_*) at full resolution.
    The official val split becomes test, as in the reference implementations.
    """
    from img2img.cli.datasets_show import prep_report
    from img2img.cli.progress import progress_bar
    from img2img.prep.cityscapes import prepare_cityscapes as prepare

    with user_errors():
        threads = _workers(workers)
        chosen = [name.strip() for name in layouts.split(",") if name.strip()]
        with progress_bar("preparing cityscapes") as update:
            report = prepare(gtfine, leftimg8bit, out, layouts=chosen, size=size, ext=ext,
                             quality=quality, overwrite=overwrite, workers=threads,
                             progress=update)
    prep_report(report, out)


# --- check -----------------------------------------------------------------------------------
@app.command(
    "check",
    epilog=_examples(
        "img2img datasets check datasets/facades",
        "img2img datasets check datasets/cityscapes --family pix2pixhd --label-nc 35",
        "img2img datasets check edges2shoes --fast --phase train",
        "img2img datasets check my_pairs --json > report.json",
    ),
)
def check(
    data: Annotated[str, typer.Argument(help="Dataset folder, or the name of an installed one.", autocompletion=completion.datasets)],
    family: Annotated[str | None, typer.Option("--family", help="Read the folder as this family's data (default: detect).")] = None,
    phases: Annotated[list[str] | None, typer.Option("--phase", help="Split(s) to check file by file (default: all); the layout is detected from every split, and the others are listed with their counts.")] = None,
    label_nc: Annotated[int | None, typer.Option("--label-nc", help="Label values must lie in 0..N-1 (families with label maps).")] = None,
    fast: Annotated[bool, typer.Option("--fast", help="Headers, sizes and pairing only (what train checks); no pixel decoding.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit non-zero on warnings too.")] = False,
    trust_side_by_side: TrustSideBySide = False,
    show: Annotated[int, typer.Option("--show", help="Problems to list (all with --json).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    workers: Workers = None,
) -> None:
    """Detect a dataset's layout from all of its splits and check every file before training.

    Each file: readable, channels and bit depth, sizes (and whether pairs agree), pairing,
    label values against --label-nc, duplicates; side-by-side files must look like A|B
    pairs. Prints every split with its counts and the problems by file; exits 1 when training
    would fail (errors) or a file cannot be read, or on any problem with --strict.
    """
    from img2img.cli import datasets_show
    from img2img.families import get_family
    from img2img.hub.datasets import resolve_dataset
    from img2img.prep.check import check_dataset

    with user_errors():
        published_as = None if family is None else get_family(family).dataset_family
        if label_nc is not None and label_nc < 0:
            raise ValueError(f"--label-nc: {label_nc} is not valid; expected a number >= 0")
        root = resolve_dataset(data, published_as)
        threads = _workers(workers)
        with datasets_show.check_progress() as progress:
            report = check_dataset(root, family, phases=phases or None,
                                   label_nc=label_nc, thorough=not fast, workers=threads,
                                   progress=progress, trust_side_by_side=trust_side_by_side)
    datasets_show.check_report(report, as_json=as_json, show=show)
    if not report.passed or (strict and report.problems):
        raise typer.Exit(1)
