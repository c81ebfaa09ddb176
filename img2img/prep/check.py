"""Will this folder train, and what is wrong with which file: ``img2img datasets check``.

Layouts are found by each family's own data discovery (its description's ``build_dataset``),
so a folder is checked by the code that will read it in training, and a new family's layouts
are checked without any code here. The check reads a dataset through what every family's dataset
offers (:class:`~img2img.data.dataset.StreamDataset`): ``streams`` (names and kinds),
``items`` (the files of each example, by stream), ``load(item)`` (the family's own decoding),
``layout`` and ``unmatched`` (files left out for want of a partner).

Two depths:

- fast (``train`` runs it before it starts): discovery and pairing, then every file's header:
  readable as an image, channels and bit depth, sizes, and whether the files of one example
  agree in size; and, when ``label_nc`` is set, the value range of every label map (label maps
  are small single-channel files: reading their values costs about as much as their headers);
- thorough (the default of ``datasets check``): also decodes every example as training will,
  checks label values against ``label_nc`` (and reports the values found), and finds files
  with identical content, within a split and across splits.

``datasets check`` judges the layout on the whole folder (:mod:`img2img.prep.detect`): every
split is listed with its counts, and ``--phase`` only picks the splits whose files are read.

Problems are errors when training would fail or would learn nonsense (no example readable, a
label value the network cannot one-hot encode, side-by-side files that do not look like A|B
pairs: :mod:`img2img.prep.side_by_side`) and warnings otherwise (an unreadable file is
skipped in training, a size mismatch is resized away, an unpaired file is left out). The
report counts the files read and names those that failed.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from img2img.config import RunConfig
from img2img.data.dataset import dataset_files
from img2img.data.io import ImageHeader, ImageReadError, read_header, read_ids
from img2img.data.splits import split_names
from img2img.data.streams import Stream
from img2img.families import get_family
from img2img.prep.dataset_report import (
    CheckReport,
    Problem,
    Severity,
    SplitSummary,
    StreamSummary,
    value_ranges,
)
from img2img.prep.detect import (
    also_readable_by,
    checkable,
    detect_layout,
)
from img2img.prep.parallel import run_jobs
from img2img.prep.side_by_side import describe as describe_not_pairs
from img2img.prep.side_by_side import not_pairs_problem

#: ``progress(stage, done, total)``; ``stage`` says what is being read, e.g. ``"train: headers"``
CheckProgress = Callable[[str, int, int], None]

#: formats that change pixel values when saving (bad for label and instance maps)
_LOSSY_FORMATS = frozenset({"JPEG", "WEBP", "MPO"})
_HASH_CHUNK = 1 << 20


def check_dataset(
    root: str | os.PathLike[str],
    family: str | None = None,
    *,
    phases: Sequence[str] | None = None,
    label_nc: int | None = None,
    thorough: bool = True,
    workers: int = 1,
    progress: CheckProgress | None = None,
    trust_side_by_side: bool = False,
) -> CheckReport:
    """Detect the layout of ``root`` from all of its splits and check the files of each.

    Args:
        root: the dataset folder.
        family: the family to read it as; None tries every registered family and keeps the
            one whose discovery explains the whole folder best (:mod:`img2img.prep.detect`;
            the others that read the same splits are listed).
        phases: the splits to check file by file (None: all); the others are listed with
            their counts. The layout is detected from every split whatever this says; a
            split named here that the folder does not have is an error.
        label_nc: label values must lie in ``0..label_nc-1`` (for families with label maps);
            None checks nothing and reports the values found; 0 means RGB labels (no check).
        thorough: decode every example (else headers only).
        workers: threads reading files.
        progress: told what is being read.
        trust_side_by_side: side-by-side files that do not look like A|B pairs (sizes vary,
            width far from twice the height) are a warning rather than an error.
    """
    root = Path(root)
    report = CheckReport(root, family or "", thorough, label_nc=label_nc,
                         trust_side_by_side=trust_side_by_side)
    if not root.is_dir():
        report.problems.append(Problem("error", f"{root} is not a folder", root))
        return report
    names = list(dict.fromkeys([*split_names(root), *(phases or ())]))
    best, readings = detect_layout(root, names, family, label_nc)
    if best is None:
        failures = [f"{r.family}: {r.failures[0]}" + (
            f" (nor for {len(r.failures) - 1} more splits)" if len(r.failures) > 1 else "")
            for r in readings]
        report.problems.append(Problem(
            "error", "no dataset layout found: " + " | ".join(failures), root
        ))
        return report
    best.replay_logs()
    report.family = best.family
    report.also_readable_by = also_readable_by(best, readings)
    wanted = set(phases or best.split_names())
    for phase in sorted(wanted - best.split_names()):
        found = ", ".join(s.name for s in best.splits)
        report.problems.append(Problem(
            "error", f"--phase {phase}: {root} has no {phase!r} split as {best.family} data "
            f"(it has: {found})", root, phase))
    _check_splits(report, [(s.name, s.dataset, s.flat, bool(wanted & set(s.phases)))
                           for s in best.splits], workers, progress)
    return report


def check_run_data(
    config: RunConfig,
    *,
    dataset: Any = None,
    thorough: bool = False,
    workers: int = 1,
    progress: CheckProgress | None = None,
    trust_side_by_side: bool = False,
) -> CheckReport:
    """Check the split a training run will read (``config.data``), by its family's discovery.

    ``dataset`` is that split as the run found it (a run discovers its data once); None finds
    it here. ``trust_side_by_side`` as in :func:`check_dataset`.

    Raises:
        DatasetLayoutError: (and the family's other discovery errors) the data cannot be found.
    """
    if dataset is None:
        dataset = get_family(config.family).description_class().build_dataset(config)
    dataset = checkable(dataset, config.family)
    label_nc = getattr(config.model, "label_nc", None)
    report = CheckReport(Path(config.data.root), config.family, thorough, label_nc=label_nc,
                         trust_side_by_side=trust_side_by_side)
    flat = _no_split_folders(report.root, config.data.phase, dataset)
    _check_splits(report, [(config.data.phase, dataset, flat, True)], workers, progress)
    return report


def _no_split_folders(root: Path, phase: str, dataset: Any) -> bool:
    """Whether the run's files lie outside any folder named after its split (``train/``,
    ``trainA/``, ``A/train/``, ``train_label/`` ...): a layout without split folders. Read
    from the paths alone, so the run's data is still discovered once."""
    files = dataset_files(dataset)
    for path in files:
        try:
            folders = path.relative_to(root).parts[:-1]
        except ValueError:
            return False
        if any(folder.startswith(phase) for folder in folders):
            return False
    return bool(files)


# --- the checks ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _FileFacts:
    header: ImageHeader
    digest: str | None


def _check_splits(
    report: CheckReport,
    splits: Iterable[tuple[str, Any, bool, bool]],
    workers: int,
    progress: CheckProgress | None,
) -> None:
    """Summarise ``(name, dataset, flat, checked)`` splits, checking the files of the
    checked ones (and, across them, for files with identical contents)."""
    same_content: dict[tuple[str, str], list[tuple[str, Path]]] = defaultdict(list)
    for split, dataset, flat, checked in splits:
        if checked:
            summary = _check_split(report, split, dataset, flat, same_content, workers,
                                   progress)
        else:
            summary = _list_split(split, dataset)
        summary.flat = flat
        report.splits.append(summary)
    for paths in same_content.values():
        if len(paths) > 1:
            shown = ", ".join(f"{path} [{split}]" if split else str(path) for split, path in paths)
            splits_hit = sorted({split for split, _ in paths})
            what = (f"across splits {' and '.join(splits_hit)}: an example that is also in "
                    "another split" if len(splits_hit) > 1 else "within one split")
            report.problems.append(Problem(
                "warning", f"{len(paths)} files have identical contents ({what}): {shown}",
                paths[0][1], paths[0][0],
            ))


def _uses(items: Sequence[Any]) -> dict[Path, list[str]]:
    """Each file of ``items`` and the streams it holds (several for a side-by-side file)."""
    uses: dict[Path, list[str]] = defaultdict(list)
    for item in items:
        for name, path in item.files.items():
            if name not in uses[path]:
                uses[path].append(name)
    return uses


def _summary(split: str, dataset: Any, items: Sequence[Any], checked: bool) -> SplitSummary:
    return SplitSummary(
        split, getattr(dataset, "layout", "") or type(dataset).__name__, len(items),
        [StreamSummary(s.name, s.kind) for s in dataset.streams],
        unmatched=len(getattr(dataset, "unmatched", ())), checked=checked,
    )


def _list_split(split: str, dataset: Any) -> SplitSummary:
    """A split's counts, from discovery alone (nothing read)."""
    items = list(dataset.items)
    summary = _summary(split, dataset, items, checked=False)
    by_name = {s.name: s for s in summary.streams}
    for names in _uses(items).values():
        for name in names:
            by_name[name].files += 1
    return summary


def _check_split(
    report: CheckReport,
    split: str,
    dataset: Any,
    flat: bool,
    same_content: dict[tuple[str, str], list[tuple[str, Path]]],
    workers: int,
    progress: CheckProgress | None,
) -> SplitSummary:
    """Read (and with a thorough check decode) every file of one split; problems are named
    by split unless the layout has none (``flat``)."""
    streams: tuple[Stream, ...] = tuple(dataset.streams)
    items = list(dataset.items)
    uses = _uses(items)
    summary = _summary(split, dataset, items, checked=True)
    summary.files = len(uses)

    def problem(severity: Severity, message: str, path: Path | None = None) -> None:
        report.problems.append(Problem(severity, message, path, "" if flat else split))

    for path in getattr(dataset, "unmatched", ()):
        problem("warning", "no partner file; left out of training", Path(path))

    facts = _read_files(list(uses), report.thorough, workers, _stage(progress, f"{split}: files"))
    by_name = {s.name: s for s in summary.streams}
    kinds = {s.name: s.kind for s in streams}
    side_by_side: dict[Path, tuple[int, int]] = {}
    for path, fact in facts.items():
        if isinstance(fact, ImageReadError):
            problem("warning", f"unreadable ({fact.reason}); training skips its example", path)
            summary.failed.append(path)
            continue
        header = fact.header
        names = uses[path]
        for name in names:
            stats = by_name[name]
            stats.files += 1
            stats.formats[_format_name(header)] += 1
            stats.sizes[(header.height, header.width // len(names))] += 1
        ids = [n for n in names if kinds[n] != "image"]
        if ids and header.format in _LOSSY_FORMATS:
            problem("warning", f"{'/'.join(ids)} map stored as {header.format}: lossy "
                    "compression changes ids near edges; store id maps as PNG", path)
        if len(names) > 1:
            side_by_side[path] = (header.width, header.height)
            if header.width % len(names):
                problem("warning", f"width {header.width} is not a multiple of {len(names)}: "
                        "the last part is wider and is resized to match", path)
        if fact.digest is not None:
            same_content[("+".join(names), fact.digest)].append(("" if flat else split, path))

    verdict = not_pairs_problem(side_by_side)
    if verdict is not None:
        reason, path = verdict
        trusted = report.trust_side_by_side
        problem("warning" if trusted else "error", describe_not_pairs(reason, trusted), path)
    broken = set(summary.failed)
    readable = [item for item in items if not broken & set(item.files.values())]
    _check_sizes(readable, facts, uses, problem)
    summary.unreadable = len(items) - len(readable)
    if report.label_nc and not report.thorough:  # the thorough check decodes every example
        _check_label_ranges(readable, streams, report.label_nc, problem, workers,
                            _stage(progress, f"{split}: label values"))
    if report.thorough:
        readable = _decode(dataset, readable, streams, summary, report.label_nc, problem,
                           workers, _stage(progress, f"{split}: pixels"))
    summary.read = len({p for item in readable for p in item.files.values()})
    if items and not readable:
        problem("error", f"none of the {len(items)} examples can be read; training would fail")
    return summary


def _read_files(
    paths: list[Path], with_digest: bool, workers: int,
    progress: Callable[[int, int], None] | None,
) -> dict[Path, _FileFacts | ImageReadError]:
    def read(path: Path) -> _FileFacts:
        header = read_header(path)
        return _FileFacts(header, _digest(path) if with_digest else None)

    facts: dict[Path, _FileFacts | ImageReadError] = {}
    for outcome in run_jobs(read, paths, workers=workers, progress=progress):
        error = outcome.error
        if error is not None and not isinstance(error, ImageReadError):
            error = ImageReadError(outcome.job, str(error))
        facts[outcome.job] = error if error is not None else outcome.result
    return facts


def _check_sizes(items, facts, uses, problem) -> None:
    """Every stream of an example should see the same size (half a side-by-side file each)."""
    for item in items:
        sizes = {}
        for name, path in item.files.items():
            header = facts[path].header
            sizes[name] = (header.height, header.width // len(uses[path]))
        if len(set(sizes.values())) > 1:
            shown = ", ".join(f"{name} {w}x{h} ({item.files[name].name})"
                              for name, (h, w) in sizes.items())
            first = next(iter(sizes))
            problem("warning", f"example {item.key!r}: sizes differ ({shown}; width x height); "
                    f"training resizes them to {first}'s size, so check they show the same "
                    "scene", item.files[first])


def _decode(dataset, items, streams, summary, label_nc, problem, workers, progress) -> list:
    """Decode every example as training will; check label values. Returns the readable ones."""
    labels = [s.name for s in streams if s.kind == "label"]
    by_name = {s.name: s for s in summary.streams}

    def load(item):
        decoded = dataset.load(item)
        return {name: torch.unique(decoded[name]).tolist() for name in labels}

    readable = []
    for outcome in run_jobs(load, items, workers=workers, progress=progress):
        item = outcome.job
        if outcome.error is not None:
            path = getattr(outcome.error, "path", None) or next(iter(item.files.values()))
            reason = getattr(outcome.error, "reason", None) or str(outcome.error)
            problem("warning", f"cannot be decoded ({reason}); training skips its example", path)
            summary.unreadable += 1
            if Path(path) not in summary.failed:
                summary.failed.append(Path(path))
            continue
        readable.append(item)
        for name, values in outcome.result.items():
            by_name[name].label_values.update(values)
            if label_nc:
                bad = [v for v in values if not 0 <= v < label_nc]
                if bad:
                    problem("error", _out_of_range(name, bad, label_nc), item.files[name])
    return readable


def _out_of_range(name: str, bad: list[int], label_nc: int) -> str:
    return (f"{name} values {value_ranges(bad)} are outside 0..{label_nc - 1} (--label-nc "
            f"{label_nc}); training would fail on this file")


def _check_label_ranges(items, streams, label_nc, problem, workers, progress) -> None:
    """Every label map's values must lie in ``0..label_nc-1`` (each file read once)."""
    labels = [s.name for s in streams if s.kind == "label"]
    paths = {item.files[name]: name for item in items for name in labels if name in item.files}

    def out_of_range(path: Path) -> list[int]:
        ids = read_ids(path)
        if ids.numel() == 0 or (int(ids.min()) >= 0 and int(ids.max()) < label_nc):
            return []
        return [v for v in torch.unique(ids).tolist() if not 0 <= v < label_nc]

    for outcome in run_jobs(out_of_range, list(paths), workers=workers, progress=progress):
        if outcome.error is None and outcome.result:
            problem("error", _out_of_range(paths[outcome.job], outcome.result, label_nc),
                    outcome.job)


def _stage(progress: CheckProgress | None, stage: str) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress(stage, done, total)


def _format_name(header: ImageHeader) -> str:
    return f"{header.format} {header.mode} {header.bits}-bit"


def _digest(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
