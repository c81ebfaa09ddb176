"""``img2img evaluate --model RUN --data DATASET`` and ``img2img evaluate REAL_DIR FAKE_DIR``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from img2img import completion
from img2img.cli import options as o
from img2img.cli.errors import fail, user_errors
from img2img.config import DIRECTIONS, PRECISIONS

EXAMPLES = """\
[bold]Examples[/]

  img2img evaluate --model runs/facades_pix2pix

  img2img evaluate --model runs/edges/checkpoints/step_00020000.pt --data datasets/edges2shoes --phase val

  img2img evaluate --model runs/facades_pix2pix --tf-compatible --weights-dir ~/weights --json

  img2img evaluate --model runs/facades_pix2pix --metrics l1,psnr,ssim --limit 50

  img2img evaluate datasets/facades/test/B out/facades_test --skip-missing
"""


def evaluate(
    real: Annotated[Path | None, typer.Argument(help="Folder of real images (with FAKE_DIR, instead of --model).")] = None,
    fake: Annotated[Path | None, typer.Argument(help="Folder of generated images, paired with REAL_DIR by relative path and stem.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Run directory, checkpoint, .safetensors, .onnx, published generator .pth or published model name.", autocompletion=completion.models)] = None,
    data: Annotated[str | None, typer.Option("--data", help="Dataset folder or name (default: the run's own dataset).", autocompletion=completion.datasets)] = None,
    phase: Annotated[str, typer.Option("--phase", help="Split to evaluate.")] = "test",
    direction: Annotated[str | None, typer.Option("--direction", help=f"{', '.join(DIRECTIONS)}: which side is the input (default: the run's; AtoB for published weights).", autocompletion=completion.choices(DIRECTIONS))] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Evaluate only the first N images of the split.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for outputs and results (default: the run's eval/).")] = None,
    metrics: Annotated[str | None, typer.Option("--metrics", help="Comma-separated: l1, psnr, ssim, lpips, fid, kid (default: all).")] = None,
    weights_dir: Annotated[Path | None, typer.Option("--weights-dir", help="Folder with the metrics' weights (else the torch hub cache).")] = None,
    skip_missing: Annotated[bool, typer.Option("--skip-missing", help="Download nothing: leave out metrics whose weights or library are missing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Download missing metric weights without asking.")] = False,
    tf_compatible: Annotated[bool, typer.Option("--tf-compatible", help="FID/KID resize as TensorFlow 1 (no antialiasing), as the original FID code.")] = False,
    kid_subset_size: Annotated[int, typer.Option("--kid-subset-size", help="Images per KID subset (at most the smaller set's size).")] = 1000,
    kid_subsets: Annotated[int, typer.Option("--kid-subsets", help="Number of KID subsets.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass.")] = 8,
    device: o.InferDevice = "auto",
    precision: Annotated[str, typer.Option("--precision", help=f"{', '.join(PRECISIONS)} (translation).", autocompletion=completion.choices(PRECISIONS))] = "fp32",
    seed: o.TestSeed = None,
    no_dropout: o.TestNoDropout = False,
    eval_mode: o.TestEval = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Write into a non-empty --out folder.")] = False,
    threads: Annotated[int, typer.Option("--threads", help="Threads decoding and encoding images.")] = 2,
) -> None:
    """Score a model on a dataset split (paired L1/PSNR/SSIM/LPIPS, FID and KID), or two folders.

    With --model, the split's inputs are translated as 'img2img translate' would (the model's
    own test mode), kept under eval/PHASE/ in the run, scored, and recorded with the protocol in
    eval/PHASE.json. Metric weights are read from --weights-dir or the torch hub cache; a
    missing one is downloaded on first use (asking first on a terminal, unless --yes; through
    IMG2IMG_MIRROR when set). What cannot be had (offline, declined) is left out, named once,
    and the other metrics are computed; --skip-missing downloads nothing.
    """
    from img2img.cli import show

    with user_errors():
        if (model is None) == (real is None and fake is None):
            raise ValueError("give either --model (with --data) or two folders REAL_DIR FAKE_DIR")
        if model is None and (real is None or fake is None):
            raise ValueError("scoring folders needs two: REAL_DIR FAKE_DIR")
        if batch_size < 1:
            raise ValueError(f"--batch-size: {batch_size} is not valid; expected a number >= 1")
        from img2img.config import check_choice, check_device
        from img2img.engine.device import resolve_device
        from img2img.evaluation.score import parse_metrics, plan_metrics

        check_device(device)
        check_choice("--precision", precision, PRECISIONS)
        if direction is not None:
            check_choice("--direction", direction, DIRECTIONS)
        wanted = parse_metrics(metrics)
        target = resolve_device(device)

        def plan_for(paired: bool):
            return plan_metrics(wanted, paired=paired, weights_dir=weights_dir,
                                skip_missing=skip_missing, tf_compatible=tf_compatible,
                                device=target, fetch=_fetcher(weights_dir, yes))

        score_options = {"kid_subsets": kid_subsets, "kid_subset_size": kid_subset_size}
        with show.stderr_progress() as progress:
            if model is None:
                from img2img.evaluation.run import evaluate_folders

                _, record = evaluate_folders(real, fake, plan_for, progress=progress,
                                             **score_options)
                written = None
            else:
                record, written = _evaluate_model(
                    model, data, phase, direction, limit, out, plan_for, target, precision,
                    batch_size, threads, overwrite,
                    o.test_options(eval_mode, no_dropout, seed),
                    progress, score_options)
    if as_json:
        typer.echo(json.dumps(record, indent=2))
    else:
        show.evaluation(record, written)
    if record["failures"]:
        raise typer.Exit(1)
    if not record["metrics"]:
        raise fail("no metric could be computed")


def _fetcher(weights_dir: Path | None, yes: bool):
    """Download a missing metric weights file: say so with its size, asking on a terminal."""

    def fetch(weights):
        from img2img.cli.downloads import Declined, consent
        from img2img.cli.weights import DownloadBar
        from img2img.evaluation.weights import (
            MissingWeightsError,
            download_folder,
            fetch_weights,
        )

        try:
            consent(weights.name, weights.url, download_folder(weights_dir), weights.size,
                    yes=yes, why=f"{weights.what}, needed for {weights.metrics}: ")
        except Declined as exc:
            raise MissingWeightsError(str(exc)) from None
        with DownloadBar(weights.name, announce=False) as bar:
            return fetch_weights(weights, weights_dir, progress=bar)

    return fetch


def _evaluate_model(model, data, phase, direction, limit, out, plan_for, device, precision,
                    batch_size, threads, overwrite, test_options, progress, score_options):
    from img2img.cli.memory import tune_allocator
    from img2img.evaluation.run import (
        default_eval_dir,
        evaluate_model,
        evaluation_data,
        evaluation_model,
        evaluation_split,
    )
    from img2img.families.loading import load_inference_model
    from img2img.hub.datasets import resolve_dataset

    tune_allocator(device)
    loaded = load_inference_model(model, device, **test_options)
    root = None if data is None else resolve_dataset(data)
    data_config = evaluation_data(loaded, root, phase, direction)
    loaded = evaluation_model(loaded, data_config)
    split = evaluation_split(loaded, data_config, limit)
    plan = plan_for(split.paired)  # missing weights stop here, before translating
    eval_dir = out if out is not None else default_eval_dir(loaded)
    result = evaluate_model(
        loaded, split, plan, eval_dir, phase, batch_size=batch_size, device=device,
        precision=precision, num_threads=threads, replace=out is None, overwrite=overwrite,
        seed=test_options["seed"] or 0, progress=progress, **score_options)
    return result.record, result.record_path
