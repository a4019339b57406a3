"""MLOps platform: datasets, training runs, model registry, ONNX serving and monitoring."""

__version__ = "0.1.0"
