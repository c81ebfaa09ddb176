"""``img2img translate --model CHECKPOINT|RUN_DIR|NAME IN OUT``: images, folders and videos.

The command's options are the shared ones of :func:`translate` followed by each family's own
test-time options (declared by the family's ``translate_cli`` function in the family registry,
for example pix2pixHD's ``--style``); :func:`command` composes them, so no family is named here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from img2img import completion
from img2img.cli import options as o
from img2img.cli.compose import compose, merge_parameters, parameters
from img2img.cli.errors import fail, user_errors
from img2img.config import PRECISIONS

EXAMPLES = """\
[bold]Examples[/]

  img2img translate --model horse2zebra photos/ zebras/

  img2img translate --model horse2zebra clip.mp4 clip_zebra.mp4

  img2img translate --model runs/facades_pix2pix photos/ out/

  img2img translate --model runs/edges/checkpoints/latest.pt sketch.png sketch_out.png

  img2img translate --model runs/facades_pix2pix in/ out/ --batch-size 16 --device cuda --precision bf16

  img2img translate --model runs/facades_pix2pix in/ out/ --size 512 --ext .jpg --overwrite

  img2img translate --model runs/facades_pix2pix --side A datasets/facades/test out/

  img2img translate --model runs/maps_hd --preprocess scale_width --load-size 512 --restore-size maps/ out/

  img2img translate --model runs/ct_16bit scans/ out/ --output-bits 16

  img2img translate --model runs/facades_pix2pix --eval photos/ out/

  img2img translate --model runs/maps --max-pixels 16777216 aerial_20000x15000.tif map.png

  img2img translate --model runs/maps --max-image-pixels 0 aerial_40000x30000.png map.png

  img2img translate --model runs/city_512p datasets/cityscapes/test_label out/ --instances datasets/cityscapes/test_inst

  img2img translate --model runs/city_feat labels/ out/ --instances insts/ --style 3

  img2img translate --model facades.onnx photos/ out/

  img2img translate --model runs/horse2zebra_cyclegan --direction BtoA zebras/ horses/
"""

#: the default of --max-pixels (img2img.infer.tiling.DEFAULT_MAX_PIXELS, without importing torch)
DEFAULT_MAX_PIXELS = 2048 * 2048
#: the default of --max-image-pixels (img2img.data.io.DEFAULT_MAX_IMAGE_PIXELS, likewise)
DEFAULT_MAX_IMAGE_PIXELS = 2 * 89_478_485


def translate(
    inputs: Annotated[Path, typer.Argument(exists=True, help="An image or video, or a folder of them walked recursively.")],
    output: Annotated[Path, typer.Argument(help="Output folder (mirrors IN), or a file when IN is one.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Checkpoint, run directory, .safetensors or .onnx export, generator .pth, or a published model name (img2img weights list), downloaded on first use.", autocompletion=completion.models)],
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass.")] = 8,
    device: o.InferDevice = "auto",
    precision: Annotated[str, typer.Option("--precision", help=f"{', '.join(PRECISIONS)}.", autocompletion=completion.choices(PRECISIONS))] = "fp32",
    ext: Annotated[str, typer.Option("--ext", help="Output format by extension: .png, .jpg, .webp ...")] = ".png",
    size: Annotated[int | None, typer.Option("--size", help="Resize inputs to SIZE x SIZE instead of padding.")] = None,
    seed: o.TestSeed = None,
    no_dropout: o.TestNoDropout = False,
    eval_mode: o.TestEval = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    threads: Annotated[int | None, typer.Option("--threads", help="Threads decoding images, and as many encoding them. Default: half the CPU cores this process may use when translating on a GPU, 2 on the CPU.")] = None,
    side: Annotated[str | None, typer.Option("--side", help="Inputs are side-by-side A|B images: translate this half (A or B), or 'whole' for whole images. Default: the run's own half for a split of its dataset; an image of an A|B pair's size elsewhere is refused until --side says.")] = None,
    preprocess: Annotated[str | None, typer.Option("--preprocess", help="Test-time resizing: resize (a LOAD_SIZE square), scale_width (LOAD_SIZE wide, aspect ratio kept) or none (each input's own size). Default: the run's training preprocess; none for published models.")] = None,
    load_size: Annotated[int | None, typer.Option("--load-size", help="The size --preprocess resizes to (default: the run's).")] = None,
    restore_size: Annotated[bool, typer.Option("--restore-size", help="Resize outputs back to their input's size.")] = False,
    output_bits: Annotated[int | None, typer.Option("--output-bits", help="8 or 16 bits per value (16: .png or .tif). Default: 16 for 16-bit inputs of a model trained on 16-bit images, else 8.")] = None,
    max_pixels: Annotated[int, typer.Option("--max-pixels", help="Most pixels one forward pass may hold (batch x height x width); larger images are translated in overlapping tiles. 0: no limit.")] = DEFAULT_MAX_PIXELS,
    max_image_pixels: Annotated[int, typer.Option("--max-image-pixels", help="Most pixels an input image may have; larger ones are refused unread as possible decompression bombs. 0: no limit.")] = DEFAULT_MAX_IMAGE_PIXELS,
    weights_dir: Annotated[Path | None, typer.Option("--weights-dir", help="Where published models are downloaded (default: $IMG2IMG_WEIGHTS, else ./weights).")] = None,
    family_options: dict[str, Any] | None = None,
) -> None:
    """Translate images, videos or folders of them with a trained or published generator.

    Inputs are resized as the run was trained (--preprocess, --load-size; published models:
    not at all), padded to what the network needs and cropped back; --restore-size brings
    outputs back to each input's size. Outputs mirror the input folder's layout. Videos are
    translated frame by frame into videos of the same frame rate, without their sound. Existing outputs are kept
    unless --overwrite. Images larger than --max-pixels are translated in overlapping tiles
    blended together, read, translated and written as 8-bit pixels (a few times the image's own
    size in memory, whatever that size); images over --max-image-pixels are refused unread.
    """
    from img2img.cli import show
    from img2img.config import check_choice, check_device

    with user_errors():
        if batch_size < 1:
            raise ValueError(f"--batch-size: {batch_size} is not valid; expected a number >= 1")
        if size is not None and size < 1:
            raise ValueError(f"--size: {size} is not valid; expected a number >= 1")
        if output_bits is not None and output_bits not in (8, 16):
            raise ValueError(f"--output-bits: {output_bits} is not valid; expected 8 or 16")
        from img2img.infer.resizing import TEST_PREPROCESS
        from img2img.infer.sides import SIDE_CHOICES

        if side is not None:
            check_choice("--side", side, SIDE_CHOICES)
        if preprocess is not None:
            check_choice("--preprocess", preprocess, TEST_PREPROCESS)
        for flag, value in (("--max-pixels", max_pixels),
                            ("--max-image-pixels", max_image_pixels)):
            if value < 0:
                raise ValueError(
                    f"{flag}: {value} is not valid; expected a number >= 0 (0: no limit)"
                )
        check_device(device)
        check_choice("--precision", precision, PRECISIONS)
        summary = _run(
            model=model, inputs=inputs, output=output, batch_size=batch_size, device=device,
            precision=precision, ext=ext, size=size, overwrite=overwrite, threads=threads,
            side=side, max_pixels=max_pixels, max_image_pixels=max_image_pixels,
            resize=(preprocess, load_size, restore_size), output_bits=output_bits,
            weights_dir=weights_dir, test_options={
                **o.test_options(eval_mode, no_dropout, seed), **(family_options or {}),
            },
        )
    show.translated(summary, output)
    if summary.failed:
        raise typer.Exit(1)
    if summary.written == 0 and summary.skipped == 0:
        raise fail(f"{inputs}: no images or videos found")


def _run(
    *, model: str, inputs: Path, output: Path, batch_size: int, device: str, precision: str,
    ext: str, size: int | None, overwrite: bool, threads: int | None, side: str | None,
    max_pixels: int, max_image_pixels: int, weights_dir: Path | None, test_options: dict,
    resize: tuple[str | None, int | None, bool], output_bits: int | None,
):
    from rich.progress import Progress

    from img2img.cli import show
    from img2img.cli.memory import tune_allocator
    from img2img.cli.weights import DownloadBar
    from img2img.data.io import set_max_image_pixels
    from img2img.engine.device import resolve_device
    from img2img.engine.signals import sigterm_as_interrupt
    from img2img.families.loading import load_inference_model
    from img2img.infer.plan import plan_outputs
    from img2img.infer.resizing import choose_resizing
    from img2img.infer.sides import choose_side
    from img2img.infer.translate import translate_files

    target = resolve_device(device)
    tune_allocator(target)
    set_max_image_pixels(max_image_pixels)
    jobs = plan_outputs(inputs, output, ext=ext)  # bad paths fail before any download
    with DownloadBar(f"downloading {model}") as download_bar:
        loaded = load_inference_model(model, target, weights_dir=weights_dir,
                                      progress=download_bar, **test_options)
    chosen = choose_side(loaded, inputs, jobs, side)
    if chosen.note:
        show.note(chosen.note)
    resizing = choose_resizing(getattr(loaded, "config", None), *resize, size=size)
    with sigterm_as_interrupt(), Progress(transient=True) as bar:  # unfinished writes cleaned
        task = bar.add_task("translating", total=len(jobs))
        frames: dict[str, Any] = {}

        def frame_progress(key: str, done: int, total: int | None) -> None:
            if key not in frames:
                frames[key] = bar.add_task(f"{key} (frames)", total=total)
            bar.update(frames[key], completed=done, total=total)

        return translate_files(
            loaded, jobs, batch_size=batch_size, device=target, precision=precision,
            resizing=resizing, output_bits=output_bits, overwrite=overwrite,
            num_threads=threads, side=chosen.side, max_pixels=max_pixels,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            frame_progress=frame_progress,
        )


def command() -> Callable[..., None]:
    """The ``translate`` command: :func:`translate`'s options, then every family's own."""
    from img2img.families import get_family, list_families

    shared = [p for p in parameters(translate) if p.name != "family_options"]
    declared: list[tuple[Callable[..., dict[str, Any]], list[str]]] = []
    for family in map(get_family, list_families()):
        options = family.cli_translate_options()
        if options is not None:
            declared.append((options, [p.name for p in parameters(options)]))

    def run(**values: Any) -> None:
        family_options: dict[str, Any] = {}
        for options, keys in declared:
            family_options |= options(**{k: values[k] for k in keys})
        translate(**{p.name: values[p.name] for p in shared}, family_options=family_options)

    params = merge_parameters([shared, *(parameters(options) for options, _ in declared)])
    return compose("translate", translate.__doc__, params, run)
