"""The permission each ServingService and WorkerRegistry method needs; methods missing here are denied."""

from __future__ import annotations

from mlops.kernel.auth import Permission

_SERVICE = "/mlops.serving.v1.ServingService/"
_WORKERS = "/mlops.serving.v1.WorkerRegistry/"

_READS = ["GetDeployment", "ListDeployments", "ListRevisions", "GetDeploymentMetrics", "ListWorkers"]
_DEPLOYS = ["Deploy", "Scale", "Update", "SetTraffic", "Promote", "Rollback", "Stop", "Remove"]
# Logged requests carry the callers' data: whoever may deploy (and switch logging on) may read them,
# a viewer may not.
_PAYLOADS = ["ListRequestLogRecords"]

PERMISSIONS: dict[str, Permission] = {
    **{_SERVICE + name: Permission.SERVING_READ for name in _READS},
    **{_SERVICE + name: Permission.SERVING_DEPLOY for name in _DEPLOYS},
    **{_SERVICE + name: Permission.SERVING_DEPLOY for name in _PAYLOADS},
    _WORKERS + "RegisterWorker": Permission.SERVING_WORKER,
    _WORKERS + "Heartbeat": Permission.SERVING_WORKER,
}

# Every worker heartbeats every few seconds: auditing each would bury the log's real entries.
# Registration is audited; refused heartbeats are audited like any refusal.
UNAUDITED: frozenset[str] = frozenset({_WORKERS + "Heartbeat"})
