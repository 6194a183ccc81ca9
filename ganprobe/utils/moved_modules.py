"""Module paths that moved after ganprobe 0.1.0 (the re-layout): importing an old path fails with one line that
names the new one (instead of a bare ``No module named``). Public names keep working from :mod:`ganprobe`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

MOVED_MODULES = {
    "ganprobe.atomic": "ganprobe.utils.atomic_files",
    "ganprobe.cache_files": "ganprobe.utils.cache_files",
    "ganprobe.cli": "ganprobe.front_ends.cli",
    "ganprobe.cli_config": "ganprobe.front_ends.cli_config",
    "ganprobe.config": "ganprobe.run.config",
    "ganprobe.config_layers": "ganprobe.run.config_layers",
    "ganprobe.distributed": "ganprobe.utils.distributed",
    "ganprobe.evaluation": "ganprobe.run.pipeline",
    "ganprobe.evaluator": "ganprobe.run.evaluator",
    "ganprobe.extractors.backbone": "ganprobe.extractors.backbone_extractor",
    "ganprobe.extractors.backbones": "ganprobe.extractors.builtin and ganprobe.extractors.<family>.declaration",
    "ganprobe.extractors.efficientnet": "ganprobe.extractors.efficientnet_lite.weights",
    "ganprobe.extractors.inception": "ganprobe.extractors.inception_fid.weights",
    "ganprobe.extractors.lenet": "ganprobe.extractors.lenet_mnist.weights",
    "ganprobe.extractors.nets": "ganprobe.extractors.<family>.network",
    "ganprobe.extractors.nets.efficientnet_lite": "ganprobe.extractors.efficientnet_lite.network",
    "ganprobe.extractors.nets.inception_fid": "ganprobe.extractors.inception_fid.network",
    "ganprobe.extractors.nets.lenet": "ganprobe.extractors.lenet_mnist.network",
    "ganprobe.extractors.nets.vit": "ganprobe.extractors.vit_l14.network",
    "ganprobe.extractors.resnet": "ganprobe.extractors.torchvision_resnet.weights",
    "ganprobe.extractors.vit": "ganprobe.extractors.vit_l14.weights",
    "ganprobe.lazy": "ganprobe.utils.lazy_exports",
    "ganprobe.limits": "ganprobe.utils.json_depth and ganprobe.utils.devices",
    "ganprobe.metrics.outputs": "ganprobe.metrics.records",
    "ganprobe.outputs": "ganprobe.run.output_paths",
    "ganprobe.provenance": "ganprobe.run.provenance",
    "ganprobe.pytest_plugin": "ganprobe.front_ends.pytest_plugin",
    "ganprobe.runtime": "ganprobe.run.runtime",
    "ganprobe.text": "ganprobe.utils.safe_text",
}


class MovedModuleFinder(MetaPathFinder):
    """Consulted last (after every real finder): refuses an old module path, naming its new home."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """Raise :class:`ModuleNotFoundError` for a moved module; ``None`` (not ours) for anything else."""
        new = MOVED_MODULES.get(fullname)
        if new is None:
            return None
        raise ModuleNotFoundError(
            f"{fullname} moved to {new} after ganprobe 0.1.0: update the import (public names import from "
            "'ganprobe'), or reinstall ganprobe if an installed entry point names the old path",
            name=fullname,
        )


def refuse_moved_modules() -> None:
    """Install :class:`MovedModuleFinder` once, at the end of ``sys.meta_path``."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
