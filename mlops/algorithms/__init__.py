"""The algorithm catalog: a plug-in contract, the built-in scenarios, and their shared runtime."""

from mlops.algorithms.base import (
    Algorithm,
    DatasetFormat,
    DatasetSplits,
    ModelCard,
    Progress,
    Purpose,
    QualityBar,
    Sample,
    Scenario,
    TrainingContext,
    TrainingResult,
    split_by_purpose,
)
from mlops.algorithms.bundle import BundleError, ModelBundle, Signature, TensorSpec
from mlops.algorithms.predictor import Backend, OnnxBackend, Predictor, TorchBackend
from mlops.algorithms.registry import (
    ENTRY_POINT_GROUP,
    AlgorithmRegistry,
    ParameterError,
    validate_parameters,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Algorithm",
    "AlgorithmRegistry",
    "Backend",
    "BundleError",
    "DatasetFormat",
    "DatasetSplits",
    "ModelBundle",
    "ModelCard",
    "OnnxBackend",
    "ParameterError",
    "Predictor",
    "Progress",
    "Purpose",
    "QualityBar",
    "Sample",
    "Scenario",
    "Signature",
    "TensorSpec",
    "TorchBackend",
    "TrainingContext",
    "TrainingResult",
    "split_by_purpose",
    "validate_parameters",
]
