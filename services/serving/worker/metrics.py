"""The data plane's metrics live with the protocol logic; kept importable from the worker package."""

from services.serving.inference.metrics import InferenceMetrics, ModelSummary

__all__ = ["InferenceMetrics", "ModelSummary"]
