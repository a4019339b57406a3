"""The permission each DatasetService method needs; methods missing here are denied."""

from __future__ import annotations

from mlops.kernel.auth import Permission

_SERVICE = "/mlops.dataset.v1.DatasetService/"

_READS = [
    "GetDataset",
    "ListDatasets",
    "ListSamples",
    "GetSample",
    "ListVersions",
    "GetVersion",
    "DiffVersions",
    "DownloadVersion",
    "GetVersionDownloadPlan",
]
_WRITES = [
    "CreateDataset",
    "UpdateDataset",
    "DeleteDataset",
    "UploadSamples",
    "UpdateSample",
    "DeleteSample",
    "DeleteSamples",
    "RelabelSamples",
    "SplitSamples",
    "PublishVersion",
    "ArchiveVersion",
    "UnarchiveVersion",
    "RestoreVersion",
    "DeleteVersion",
    "LoadDemoDataset",
]
# Across every dataset: not for whoever may merely write one.
_OPERATIONS = ["CollectGarbage"]

PERMISSIONS: dict[str, Permission] = {
    **{_SERVICE + name: Permission.DATASET_READ for name in _READS},
    **{_SERVICE + name: Permission.DATASET_WRITE for name in _WRITES},
    **{_SERVICE + name: Permission.DATASET_OPERATE for name in _OPERATIONS},
}
