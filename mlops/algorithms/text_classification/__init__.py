from mlops.algorithms.text_classification.algorithm import TextClassification

__all__ = ["TextClassification"]
