"""Discovery of algorithms through the "mlops.algorithms" entry-point group, and parameter validation.

A plug-in package declares, in its pyproject.toml:

    [project.entry-points."mlops.algorithms"]
    my_algorithm = "my_package.module:MyAlgorithm"

The entry point names an `Algorithm` subclass (or a zero-argument factory returning an instance).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import jsonschema

from mlops.algorithms.base import Algorithm
from mlops.kernel.errors import FailedPrecondition, InvalidArgument, NotFound

if TYPE_CHECKING:
    from mlops.algorithms.bundle import ModelBundle
    from mlops.algorithms.predictor import Predictor

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mlops.algorithms"


class ParameterError(InvalidArgument):
    """Parameters that do not match an algorithm's schema; `field` names the offending parameter."""


class AlgorithmRegistry:
    def __init__(self, algorithms: Iterable[Algorithm] = ()) -> None:
        self._algorithms: dict[str, Algorithm] = {}
        for algorithm in algorithms:
            self.add(algorithm)

    @classmethod
    def discover(cls, *, include_builtins: bool = True) -> AlgorithmRegistry:
        """Load every algorithm installed under the entry-point group. A plug-in that fails to load is
        logged and skipped so that one broken package cannot take the catalog down."""
        registry = cls()
        for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            try:
                loaded = entry_point.load()
                algorithm = loaded() if callable(loaded) else loaded
                registry.add(algorithm)
            except Exception:
                logger.exception(
                    "algorithm plug-in %s (%s) failed to load", entry_point.name, entry_point.value
                )
        if include_builtins:
            from mlops.algorithms.builtin import builtin_algorithms

            for algorithm in builtin_algorithms():
                if algorithm.id not in registry._algorithms:
                    registry.add(algorithm)
        return registry

    def add(self, algorithm: Algorithm) -> None:
        if not isinstance(algorithm, Algorithm):
            raise TypeError(f"{algorithm!r} is not an Algorithm")
        jsonschema.Draft202012Validator.check_schema(algorithm.parameter_schema())
        missing = {"quick", "default"} - set(algorithm.presets())
        if missing:
            raise ValueError(f"algorithm {algorithm.id} lacks presets {sorted(missing)}")
        if algorithm.id in self._algorithms:
            raise ValueError(f"algorithm id {algorithm.id} registered twice")
        self._algorithms[algorithm.id] = algorithm

    def get(self, algorithm_id: str) -> Algorithm:
        try:
            return self._algorithms[algorithm_id]
        except KeyError:
            raise NotFound(f"no algorithm {algorithm_id!r}", field="algorithm") from None

    def __iter__(self):
        return iter(sorted(self._algorithms.values(), key=lambda a: a.id))

    def __len__(self) -> int:
        return len(self._algorithms)

    def ids(self) -> list[str]:
        return sorted(self._algorithms)

    def predictor(self, bundle: ModelBundle, *, device: str = "auto") -> Predictor:
        """The serving predictor for a bundle: its algorithm's, or the raw one for an outside model."""
        from mlops.algorithms.external import EXTERNAL_ALGORITHM_ID, external_predictor

        if bundle.algorithm_id == EXTERNAL_ALGORITHM_ID:
            return external_predictor(bundle, device=device)
        algorithm = self.get(bundle.algorithm_id)
        # Bundles keep working across minor versions; a new major version may read its state differently.
        if algorithm.version.split(".")[0] != bundle.algorithm_version.split(".")[0]:
            raise FailedPrecondition(
                f"bundle made by {bundle.algorithm_id} {bundle.algorithm_version}, "
                f"installed is {algorithm.version}",
                field="bundle",
            )
        return algorithm.predictor(bundle, device=device)

    def validate(
        self, algorithm_id: str, params: dict[str, Any], preset: str | None = None
    ) -> dict[str, Any]:
        """Parameters with the preset and then the schema's defaults filled in, validated."""
        algorithm = self.get(algorithm_id)
        return validate_parameters(algorithm, params, preset)


def validate_parameters(
    algorithm: Algorithm, params: dict[str, Any], preset: str | None = None
) -> dict[str, Any]:
    schema = algorithm.parameter_schema()
    merged: dict[str, Any] = {}
    for name, spec in schema.get("properties", {}).items():
        if "default" in spec:
            merged[name] = copy.deepcopy(spec["default"])
    if preset is not None:
        presets = algorithm.presets()
        if preset not in presets:
            raise ParameterError(
                f"unknown preset {preset!r}; known: {', '.join(sorted(presets))}", field="preset"
            )
        merged.update(copy.deepcopy(presets[preset]))
    merged.update(params)
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(merged))
    if error is not None:
        raise ParameterError(error.message, field=_field_name(error))
    # JSON Schema counts 30.0 as an integer, and protobuf Structs carry every number as a double:
    # give trainers real ints.
    for name, spec in schema.get("properties", {}).items():
        value = merged.get(name)
        if spec.get("type") == "integer" and isinstance(value, float) and value.is_integer():
            merged[name] = int(value)
    return merged


def _field_name(error: jsonschema.ValidationError) -> str:
    if error.absolute_path:
        return ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - allowed)
        if extra:
            return extra[0]
    if error.validator == "required":
        return str(error.message.split("'")[1]) if "'" in error.message else "parameters"
    return "parameters"
