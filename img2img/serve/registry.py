"""The served models, each loaded once, by name, through ``translate``'s loading path.

A model is loaded at start-up with its default test-time options. A request may ask for other
options (``eval``, ``seed``, ``direction``, ``style`` ...): the model is then loaded again with
those options, exactly as ``img2img translate`` would load it, and kept for the next request
(the few most recently used option sets per model, each one more copy of the model).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from img2img.infer.batch import Translatable, Translator
from img2img.infer.resizing import run_resizing
from img2img.infer.translate import Writing, trained_image_bits
from img2img.serve.settings import ServeSettings, model_names

__all__ = ["FAMILY_REQUEST_OPTIONS", "MAX_VARIANTS", "Registry", "ServedModel"]

log = logging.getLogger(__name__)

#: option sets kept per model besides the default one (least recently used dropped first)
MAX_VARIANTS = 4

#: the families' own translate options a request may set (a folder of instance maps names a
#: path on the server, and several outputs per input do not fit one answer: neither is taken)
FAMILY_REQUEST_OPTIONS = ("direction", "style")


def _options_key(options: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, v) for k, v in options.items() if v is not None))


class ServedModel:
    """One model under its API name: the loaded default and the option sets asked for since.

    Attributes:
        name: the API name (``?model=``).
        source: what was given to ``--model``.
        default: the model loaded with its default options.
    """

    def __init__(self, name: str, source: str, settings: ServeSettings,
                 device: torch.device) -> None:
        from img2img.families.loading import load_inference_model

        self.name = name
        self.source = source
        self._settings = settings
        self._device = device
        self._load = load_inference_model
        self.default: Translatable = self._loaded({})
        self._default = Translator(self.default, device, settings.precision)
        self._variants: OrderedDict[tuple, Translator] = OrderedDict()
        self._lock = threading.Lock()
        self.family: str | None = getattr(self.default, "family", None)
        config = getattr(self.default, "config", None)
        #: the size inputs are translated at: the run's own test-time resizing, as translate
        self.resizing = run_resizing(config)
        #: the bits per value of outputs, as translate chooses them
        self.writing = Writing(None, trained_image_bits(self.default))
        #: the query parameters ``POST /v1/translate`` takes for this model
        self.options = request_options(self.family)

    def _loaded(self, options: Mapping[str, Any]) -> Translatable:
        model = self._load(self.source, self._device, weights_dir=self._settings.weights_dir,
                           **options)
        for net in model.networks.values():
            net.to(self._device)
        return model

    def translator(self, options: Mapping[str, Any]) -> Translator:
        """The translator of this model under ``options`` (None values: the defaults), loaded
        on first use as ``translate`` loads it.

        Raises:
            ValueError: an option this model does not take, or a value it does not accept.
        """
        key = _options_key(options)
        if not key:
            return self._default
        with self._lock:  # one load per option set, however many requests ask at once
            if key in self._variants:
                self._variants.move_to_end(key)
                return self._variants[key]
            model = self._loaded(dict(key))
            if tuple(model.variants) != ("",):
                raise ValueError("options that make several outputs per input are not served")
            translator = Translator(model, self._device, self._settings.precision)
            self._variants[key] = translator
            while len(self._variants) > MAX_VARIANTS:
                dropped, _ = self._variants.popitem(last=False)
                log.info("%s: dropped the copy loaded with %s", self.name, dict(dropped))
            return translator

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/models`` says of this model."""
        model = self.default
        described: dict[str, Any] = dict(model.describe()) if hasattr(model, "describe") else {}
        source = described.get("source")
        described["source"] = Path(source).name if source else self.source
        streams = [{"name": s.name, "kind": s.kind, "channels": s.channels}
                   for s in model.input_streams]
        return {
            "name": self.name,
            **described,
            "networks": sorted(model.networks),
            "streams": streams,
            "sizes": {"multiple": model.size_multiple,
                      "min": int(getattr(model, "min_size", 1)),
                      "max_pixels_per_pass": self._settings.max_pixels,
                      "max_image_pixels": self._settings.max_image_pixels},
            "options": self.options,
        }


def request_options(family: str | None) -> list[str]:
    """The query parameters ``POST /v1/translate`` takes for a model of ``family``."""
    shared = ["format", "side", "seed", "eval", "no_dropout", "name"]
    if family is None:
        return shared
    import inspect

    from img2img.families import get_family

    declared = get_family(family).cli_translate_options()
    own = [] if declared is None else list(inspect.signature(declared).parameters)
    return shared + [name for name in own if name in FAMILY_REQUEST_OPTIONS]


class Registry:
    """Every served model by API name, loaded when the registry is made."""

    def __init__(self, settings: ServeSettings) -> None:
        from img2img.cli.memory import tune_allocator
        from img2img.data.io import set_max_image_pixels
        from img2img.engine.device import resolve_device

        self.device = resolve_device(settings.device)
        tune_allocator(self.device)
        set_max_image_pixels(settings.max_image_pixels)
        self.models: dict[str, ServedModel] = {}
        for name, source in model_names(settings.models).items():
            log.info("loading %s (%s) on %s", name, source, self.device)
            self.models[name] = ServedModel(name, source, settings, self.device)

    def get(self, name: str | None) -> ServedModel:
        """The model named ``name``; the only one when ``name`` is None and one is served.

        Raises:
            KeyError: no such model (the message lists the served ones), or None with several.
        """
        if name is None:
            if len(self.models) == 1:
                return next(iter(self.models.values()))
            raise KeyError(f"model: several are served; name one of: {', '.join(self.models)}")
        if name not in self.models:
            raise KeyError(f"model: {name!r} is not served here; expected one of: "
                           f"{', '.join(self.models)}")
        return self.models[name]
