"""ganprobe: how close are generated images to real ones, and where does the generator fail?

Metrics are ``torchmetrics.Metric`` subclasses; extractors are backbones with named layer taps. Names are loaded
lazily (PEP 562), so ``import ganprobe`` and the ``ganprobe`` command start quickly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganprobe.utils.lazy_exports import lazy_attributes
from ganprobe.utils.moved_modules import refuse_moved_modules

refuse_moved_modules()

__version__ = "0.1.0"

_EXPORTS = {
    "FolderListing": "ganprobe.data",
    "iter_batches": "ganprobe.data",
    "list_folder": "ganprobe.data",
    "list_images": "ganprobe.data",
    "load_image": "ganprobe.data",
    "GanprobeError": "ganprobe.errors",
    "ImageFolderError": "ganprobe.errors",
    "InputError": "ganprobe.errors",
    "UnknownExtractorError": "ganprobe.errors",
    "WeightsChecksumError": "ganprobe.errors",
    "WeightsError": "ganprobe.errors",
    "WeightsFormatError": "ganprobe.errors",
    "WeightsNotFoundError": "ganprobe.errors",
    "DEFAULT_EXTRACTOR": "ganprobe.extractors",
    "FeatureExtractor": "ganprobe.extractors",
    "ModuleExtractor": "ganprobe.extractors",
    "available_extractors": "ganprobe.extractors",
    "get_extractor": "ganprobe.extractors",
    "register_extractor": "ganprobe.extractors",
    "extract_features": "ganprobe.features",
    "iter_features": "ganprobe.features",
    "KNNLOOResult": "ganprobe.functional",
    "first_separable_layer": "ganprobe.functional",
    "KNNLOOAccuracy": "ganprobe.metrics",
    "LayerSeparability": "ganprobe.metrics",
    "FeatureCache": "ganprobe.features",
    "Evaluator": "ganprobe.run.evaluator",
    "evaluate": "ganprobe.run.pipeline",
    "EvaluationResult": "ganprobe.run.pipeline",
    "Memorization": "ganprobe.metrics",
    "DensityCoverage": "ganprobe.metrics",
    "PrecisionRecall": "ganprobe.metrics",
    "InceptionScore": "ganprobe.metrics",
    "CMMD": "ganprobe.metrics",
    "KID": "ganprobe.metrics",
    "FID": "ganprobe.metrics",
    "MetricDeclaration": "ganprobe.metrics.declarations",
    "register_metric": "ganprobe.metrics.registry",
}

__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:
    from ganprobe.data import (  # noqa: F401
        FolderListing,
        iter_batches,
        list_folder,
        list_images,
        load_image,
    )
    from ganprobe.errors import (  # noqa: F401
        GanprobeError,
        ImageFolderError,
        InputError,
        UnknownExtractorError,
        WeightsChecksumError,
        WeightsError,
        WeightsFormatError,
        WeightsNotFoundError,
    )
    from ganprobe.extractors import (  # noqa: F401
        DEFAULT_EXTRACTOR,
        FeatureExtractor,
        ModuleExtractor,
        available_extractors,
        get_extractor,
        register_extractor,
    )
    from ganprobe.features import (  # noqa: F401
        FeatureCache,  # noqa: F401
        extract_features,
        iter_features,
    )
    from ganprobe.functional import (  # noqa: F401
        KNNLOOResult,
        first_separable_layer,
    )
    from ganprobe.metrics import (  # noqa: F401
        CMMD,
        FID,
        KID,
        DensityCoverage,
        InceptionScore,
        KNNLOOAccuracy,
        LayerSeparability,
        Memorization,
        PrecisionRecall,
    )
    from ganprobe.metrics.declarations import MetricDeclaration  # noqa: F401
    from ganprobe.metrics.registry import register_metric  # noqa: F401
    from ganprobe.run.evaluator import Evaluator  # noqa: F401


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, globals(), __all__)
