"""Dataset archives built the same way by the dataset service and by clients reading S3 directly."""
