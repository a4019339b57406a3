"""The permission each RegistryService method needs; methods missing here are denied.

Moving a version into production additionally needs an approved approval; the domain enforces that.
"""

from __future__ import annotations

from mlops.kernel.auth import Permission

_SERVICE = "/mlops.registry.v1.RegistryService/"

_READS = [
    "GetModel",
    "ListModels",
    "GetModelVersion",
    "ListModelVersions",
    "CompareModelVersions",
    "GetLineage",
    "GetModelCard",
    "ListApprovals",
    "ListAutomationRules",
]
_WRITES = [
    "CreateModel",
    "RegisterFromRun",
    "UploadExternalModel",
    "DeleteModelVersion",
    "UpdateModelCard",
    "TransitionStage",
    "SetAlias",
    "RequestApproval",
    "CreateAutomationRule",
]
# Deciding approvals and setting the gates they are judged by is the reviewers' job.
_APPROVALS = ["DecideApproval", "SetQualityGates"]

PERMISSIONS: dict[str, Permission] = {
    **{_SERVICE + name: Permission.REGISTRY_READ for name in _READS},
    **{_SERVICE + name: Permission.REGISTRY_WRITE for name in _WRITES},
    **{_SERVICE + name: Permission.REGISTRY_APPROVE for name in _APPROVALS},
}
