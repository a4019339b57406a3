from mlops.algorithms.object_detection.algorithm import ObjectDetection

__all__ = ["ObjectDetection"]
