"""One module per experiment, grouped per paper (``etg/``, ``ivae/``) and listed in
:mod:`identvae.experiments.registry`, which names each module, its figures and their inputs
without importing anything heavy (the workflow reads it at parse time)."""

from __future__ import annotations

import importlib
from types import ModuleType

from identvae.experiments import registry


def load(name: str) -> ModuleType:
    """The module of the experiment ``name`` (as in the config and the registry)."""
    return importlib.import_module(registry.get(name).module_path)
