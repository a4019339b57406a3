from mlops.algorithms.forecasting.algorithm import Forecasting

__all__ = ["Forecasting"]
