"""``img2img features RUN``: cluster a pix2pixHD run's instance features into styles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from img2img.cli.console import console as make_console
from img2img.cli.errors import user_errors

EXAMPLES = """\
[bold]Examples[/]

  img2img features runs/city_feat

  img2img features runs/city_feat --clusters 5 --seed 1 --overwrite

  img2img translate --model runs/city_feat datasets/cityscapes/test_label out/ --instances datasets/cityscapes/test_inst --all-styles
"""


def features(
    run: Annotated[Path, typer.Argument(exists=True, help="A pix2pixHD run directory (trained with --instance-feat) or one of its checkpoints.")],
    clusters: Annotated[int, typer.Option("--clusters", help="K-means centres per class.")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the K-means initialisation.")] = 0,
    class_rule: Annotated[str, typer.Option("--class-rule", help="Class of an instance id: cityscapes (ids >= 1000 are class*1000+k, smaller ids the class) or label (the label map's class under most of its pixels).")] = "cityscapes",
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace centres the checkpoint already holds.")] = False,
) -> None:
    """Encode the run's training set with its feature encoder, cluster the features of each
    class with K-means, and store the centres inside the checkpoint (translate's --style)."""
    from rich.progress import Progress

    from img2img.config import check_device
    from img2img.engine.device import resolve_device
    from img2img.families.pix2pixhd.features import encode_run_features

    with user_errors():
        check_device(device)
        with Progress(transient=True) as bar:
            task = bar.add_task("encoding", total=None)
            result = encode_run_features(
                run, n_clusters=clusters, seed=seed, class_rule=class_rule,
                device=resolve_device(device), overwrite=overwrite,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    console = make_console()
    found = result.clusters
    console.print(
        f"[bold green]{len(found.centres)}[/] classes clustered from {result.images} images "
        f"({found.styles} styles; class rule {found.class_rule}) -> [cyan]{result.checkpoint}[/]"
    )
    for cls, centres in sorted(found.centres.items()):
        console.print(f"  class {cls}: {found.instances[cls]} instances, {centres.shape[0]} centres")
    if result.skipped:
        console.print(f"  [yellow]{len(result.skipped)} unreadable files skipped[/]")
