from mlops.algorithms.log_clustering.algorithm import LogClustering

__all__ = ["LogClustering"]
