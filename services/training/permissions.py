"""The permission each TrainingService method needs; methods missing here are denied.

Stopping or retrying someone else's run also needs training:operate; the servicer checks that with
`require()` once it knows the run's owner.
"""

from __future__ import annotations

from mlops.kernel.auth import Permission

_SERVICE = "/mlops.training.v1.TrainingService/"

_READS = [
    "ListAlgorithms",
    "GetAlgorithm",
    "GetRun",
    "ListRuns",
    "GetMetricHistory",
    "GetLogs",
    "TailLogs",
    "ListArtifacts",
    "DownloadArtifact",
    "CompareRuns",
]
_RUNS = ["StartRun", "StopRun", "RetryRun", "ReproduceRun"]
# Called by training workers; the servicer also insists on the service role.
_WORKERS = ["ClaimRun", "ReportProgress", "CompleteRun"]

PERMISSIONS: dict[str, Permission] = {
    **{_SERVICE + name: Permission.TRAINING_READ for name in _READS},
    **{_SERVICE + name: Permission.TRAINING_RUN for name in _RUNS},
    **{_SERVICE + name: Permission.TRAINING_OPERATE for name in _WORKERS},
}

# Progress reports arrive every second from every running worker: authorised, not audited.
UNAUDITED = [_SERVICE + "ReportProgress"]
