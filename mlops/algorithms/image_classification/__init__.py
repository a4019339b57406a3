from mlops.algorithms.image_classification.algorithm import ImageClassification

__all__ = ["ImageClassification"]
