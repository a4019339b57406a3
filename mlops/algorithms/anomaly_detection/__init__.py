from mlops.algorithms.anomaly_detection.algorithm import AnomalyDetection

__all__ = ["AnomalyDetection"]
