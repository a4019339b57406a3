"""Annotations files: a bare COCO file in an upload (format coco_json, a JSON document rather than an
archive) sets the boxes of the samples its images name by `file_name`, samples of the same upload or
already in the draft. It adds no sample.

An image listed with no annotations gets empty boxes, "no objects here": the detector learns it as
background. That differs from a sample never annotated (no annotation at all), which training refuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

from mlops.kernel.errors import InvalidArgument

from ..domain import Sample, Scenario, check_annotation, image_size
from .coco import CocoAnnotations, CocoImage, is_coco_document, read_coco_json
from .limits import IngestLimits
from .upload import UploadFormat, UploadSpec, check_header, check_upload_size

# How many unmatched names an error shows before it only counts them.
_SHOWN = 5


@dataclass(frozen=True)
class AnnotationsFile:
    file_name: str
    annotations: CocoAnnotations

    @property
    def images(self) -> dict[str, CocoImage]:
        """By the sample name each image annotates (its `file_name`)."""
        return self.annotations.images


def is_annotations_file(stream: IO[bytes], spec: UploadSpec) -> bool:
    """A coco_json file that is a bare JSON document; the stream is rewound."""
    return spec.format is UploadFormat.COCO_JSON and is_coco_document(stream)


def read_annotations_file(
    stream: IO[bytes], *, scenario: Scenario, spec: UploadSpec, limits: IngestLimits | None = None
) -> AnnotationsFile:
    """The file checked as any upload's header and COCO document are; its images are matched to
    samples later (`annotate`), when the draft is read in the upload's transaction."""
    limits = limits or IngestLimits()
    file_name = check_header(spec, scenario)
    check_upload_size(stream, file_name=file_name, limits=limits)
    return AnnotationsFile(file_name, read_coco_json(stream, file_name=file_name, limits=limits))


def annotated_names(files: Iterable[AnnotationsFile]) -> set[str]:
    return {name for file in files for name in file.images}


def annotate(
    files: Sequence[AnnotationsFile], samples: Mapping[str, Sample], scenario: Scenario
) -> list[Sample]:
    """The samples the files' images name, with the boxes the files give them.

    `samples` holds those of the upload and of the draft by name. Refused, naming the file: an image
    no sample has, an image whose size differs from the one recorded for its sample at upload, boxes
    outside it, and an image that two files of the upload annotate.
    """
    annotated: dict[str, Sample] = {}
    for file in files:
        _check_all_found(file, samples)
        for name, image in sorted(file.images.items()):
            if name in annotated:
                raise InvalidArgument(
                    f"{file.file_name}: {name!r} is annotated by another file of the upload too", field="file"
                )
            sample = samples[name]
            _check_size(file.file_name, image, sample)
            check_annotation(
                scenario, image.boxes, field=f"{file.file_name}: {name}", metadata=sample.metadata
            )
            annotated[name] = sample.with_changes(annotation=image.boxes)
    return list(annotated.values())


def _check_all_found(file: AnnotationsFile, samples: Mapping[str, Sample]) -> None:
    missing = sorted(file.images.keys() - samples.keys())
    if not missing:
        return
    shown = ", ".join(repr(name) for name in missing[:_SHOWN])
    more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
    raise InvalidArgument(
        f"{file.file_name}: {len(missing)} of its images name no sample of the draft or of this upload: "
        f"{shown}{more} (an image annotates the sample named exactly as its file_name)",
        field="file",
    )


def _check_size(file_name: str, image: CocoImage, sample: Sample) -> None:
    """Boxes are in the pixels of the image the tool showed: the sample must be that image."""
    recorded = image_size(sample.metadata)
    if recorded is None:
        raise InvalidArgument(
            f"{file_name}: sample {sample.name!r} has no recorded width and height to check the "
            f"image's {image.width}x{image.height} against",
            field="file",
        )
    if recorded != (image.width, image.height):
        raise InvalidArgument(
            f"{file_name}: image {sample.name!r} is {image.width}x{image.height} there, but the sample "
            f"is {recorded[0]}x{recorded[1]}",
            field="file",
        )
