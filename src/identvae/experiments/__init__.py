"""One module per experiment, named as in the config. Each turns the experiment's summary table
into its table (``table``), figure (``figure``) and caption (``caption``); ``extras(settings)``
gives the values they need from the experiment's settings. The claims live in identvae.claims."""

from __future__ import annotations

import importlib
from types import ModuleType


def load(name: str) -> ModuleType:
    try:
        return importlib.import_module(f"identvae.experiments.{name}")
    except ModuleNotFoundError:
        raise KeyError(f"no experiment module identvae.experiments.{name}") from None
