"""The registry's use cases. Each is one transaction: load, ask the domain, store, record the event."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from mlops.algorithms.bundle import BundleError, ModelBundle, Signature
from mlops.api.common.v1 import common_pb2
from mlops.api.events.v1 import events_pb2
from mlops.kernel.auth import Principal
from mlops.kernel.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from mlops.kernel.events import CloudEvent
from mlops.kernel.objectstore import ObjectStore

from . import events
from .cards import ModelCard, facts_from_training, generate_facts
from .domain import (
    Approval,
    ApprovalState,
    AutomationRule,
    Bundle,
    Comparison,
    Lineage,
    Model,
    ModelVersion,
    QualityGate,
    Stage,
    VersionDraft,
    check_alias,
    compare_versions,
    gates_pass,
    run_gates,
    utcnow,
)
from .runs import RunSource, draft_from_run, evaluation_of
from .store import SqlRegistryStore, SqlRegistryUnit
from .uploads import check_onnx, spool_upload

log = logging.getLogger(__name__)

T = TypeVar("T")
_REGISTER_ATTEMPTS = 5
# evaluation.json also holds every testing prediction; past this the card goes without per-label metrics.
MAX_EVALUATION_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class ExternalDeclaration:
    model: str
    signature: Signature
    file_name: str = ""
    description: str = ""
    scenario: str = ""


@dataclass
class LineageGraph:
    nodes: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (kind, label)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def node(self, kind: str, node_id: str, label: str) -> str:
        self.nodes.setdefault(node_id, (kind, label))
        return node_id

    def edge(self, from_id: str, to_id: str) -> None:
        if (from_id, to_id) not in self.edges:
            self.edges.append((from_id, to_id))


def _dataset_node(graph: LineageGraph, dataset_id: str, number: int) -> str:
    return graph.node("dataset_version", f"dataset:{dataset_id}/v{number}", f"{dataset_id} v{number}")


def _version_nodes(graph: LineageGraph, version: ModelVersion) -> None:
    """The version, its run and data upstream, and the deployments serving it downstream."""
    model_node = graph.node(
        "model_version", f"model:{version.label}", f"{version.model_name} v{version.number}"
    )
    lineage = version.lineage
    if lineage.run_id:
        run_node = graph.node("run", f"run:{lineage.run_id}", lineage.run_id)
        graph.edge(run_node, model_node)
        if lineage.dataset_id:
            graph.edge(_dataset_node(graph, lineage.dataset_id, lineage.dataset_version), run_node)
    for deployment in version.deployed_as:
        graph.edge(model_node, graph.node("deployment_revision", f"deployment:{deployment}", deployment))


def _parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise FailedPrecondition(f"the bundle URI {uri!r} is not an s3:// URI", field="run_id")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


class RegistryService:
    def __init__(
        self,
        store: SqlRegistryStore,
        runs: RunSource,
        blobs: ObjectStore,
        *,
        spool_dir: Path | None = None,
        max_upload_bytes: int = 512 * 1024 * 1024,
        service_authorization: str | None = None,
    ) -> None:
        self.store = store
        self.runs = runs
        self.blobs = blobs
        self.spool_dir = spool_dir
        self.max_upload_bytes = max_upload_bytes
        self.service_authorization = service_authorization

    # --- models -------------------------------------------------------------------------------------

    async def create_model(
        self, actor: Principal, name: str, *, description: str, scenario: str, tags: Sequence[str]
    ) -> Model:
        model = Model.create(name, owner=actor.subject, scenario=scenario, description=description, tags=tags)
        async with self.store.unit() as uow:
            await uow.add_model(model)
        return model

    async def get_model(self, ref: str) -> Model:
        async with self.store.unit() as uow:
            return await uow.get_model(ref)

    async def list_models(
        self, *, scenario: str, name_contains: str, offset: int, limit: int
    ) -> tuple[list[Model], int]:
        async with self.store.unit() as uow:
            return await uow.list_models(
                scenario=scenario, name_contains=name_contains, offset=offset, limit=limit
            )

    async def set_gates(self, model_ref: str, gates: Sequence[QualityGate]) -> Model:
        async with self.store.unit() as uow:
            model = await uow.get_model(model_ref)
            await uow.set_gates(model.model_id, gates)
            return await uow.get_model(model.model_id)

    # --- registering ------------------------------------------------------------------------------

    async def register_from_run(
        self, actor: Principal, model_ref: str, run_id: str, authorization: str | None
    ) -> ModelVersion:
        if not run_id:
            raise InvalidArgument("name the run to register", field="run_id")
        run = await self.runs.get_run(run_id, authorization)
        draft = await self._with_bundle_signature(draft_from_run(run, actor.subject), evaluation_of(run))
        version, _ = await self._retrying(lambda uow: self._register_in(uow, model_ref, draft))
        return version

    async def _with_bundle_signature(
        self, draft: VersionDraft, evaluation_ref: common_pb2.ArtifactRef | None = None
    ) -> VersionDraft:
        """Read the run's bundle: its SHA-256 must match the run's record, and it carries the signature."""
        bucket, key = _parse_s3_uri(draft.bundle.uri)
        if bucket != self.blobs.bucket:
            raise FailedPrecondition(
                f"the bundle lies in bucket {bucket!r}, which this registry does not read", field="run_id"
            )
        try:
            data = await (await self.blobs.open_object(key)).read_all()
        except NotFound:
            raise FailedPrecondition(
                f"the run's bundle {draft.bundle.uri} is missing", field="run_id"
            ) from None
        if hashlib.sha256(data).hexdigest() != draft.bundle.sha256:
            raise FailedPrecondition("the run's bundle does not match its recorded SHA-256", field="run_id")
        try:
            bundle = await asyncio.to_thread(ModelBundle.from_zip, data)
        except (BundleError, ValueError, KeyError) as error:
            raise FailedPrecondition(f"the run's bundle is unreadable: {error}", field="run_id") from None
        evaluation = await self._evaluation(evaluation_ref) if evaluation_ref is not None else {}
        facts = {**draft.card_facts, **facts_from_training(bundle.model_card, evaluation)}
        return replace(draft, signature=bundle.signature.to_json(), card_facts=facts)

    async def _evaluation(self, ref: common_pb2.ArtifactRef) -> dict[str, Any]:
        """The run's evaluation.json, for the card's per-label metrics; the card does without it when
        it is missing, foreign or too large to be worth reading."""
        bucket, key = _parse_s3_uri(ref.uri)
        if bucket != self.blobs.bucket or ref.size_bytes > MAX_EVALUATION_BYTES:
            return {}
        try:
            data = await (await self.blobs.open_object(key)).read_all()
            value = json.loads(data)
        except (NotFound, ValueError):
            log.warning("a run's evaluation is unreadable", extra={"fields": {"uri": ref.uri}})
            return {}
        return value if isinstance(value, dict) else {}

    async def _register_in(
        self, uow: SqlRegistryUnit, model_ref: str, draft: VersionDraft
    ) -> tuple[ModelVersion, bool]:
        """Register the draft; registering a run the model already holds returns that version."""
        model = await uow.get_model(model_ref)
        if draft.lineage.run_id:
            existing = await uow.version_of_run(model.model_id, draft.lineage.run_id)
            if existing is not None:
                return await uow.get_version(model, existing), False
        number = await uow.next_number(model)
        version = ModelVersion.from_draft(model, number, draft, utcnow())
        facts = generate_facts(version, draft.card_facts)
        if not await uow.add_version(version, facts):
            raise Conflict("the run was registered meanwhile", field="run_id")
        await events.version_registered(uow.session, version)
        return version, True

    async def _retrying(self, work: Callable[[SqlRegistryUnit], Awaitable[T]]) -> T:
        """Concurrent registrations race for a number: the loser retries on a fresh transaction."""
        for attempt in range(_REGISTER_ATTEMPTS):
            try:
                async with self.store.unit() as uow:
                    return await work(uow)
            except Conflict:
                if attempt == _REGISTER_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.02 * (attempt + 1))
        raise AssertionError("unreachable")

    async def upload_external(
        self, actor: Principal, declaration: ExternalDeclaration, chunks: AsyncIterator[bytes]
    ) -> ModelVersion:
        model = await self.get_model(declaration.model)
        if declaration.scenario and model.scenario and declaration.scenario != model.scenario:
            raise InvalidArgument(
                f"the upload declares scenario {declaration.scenario} but model {model.name!r} is "
                f"{model.scenario}",
                field="declaration.scenario",
            )
        spooled = await spool_upload(chunks, self.spool_dir, self.max_upload_bytes)
        try:
            data = await asyncio.to_thread(spooled.read_bytes)
        finally:
            await asyncio.to_thread(spooled.unlink, True)
        # Checking parses and loads the model: off the event loop.
        bundle = await asyncio.to_thread(check_onnx, data, declaration.signature)
        archive = await asyncio.to_thread(bundle.to_zip)
        await self.blobs.ensure_bucket()
        info = await self.blobs.put_bytes(archive, media_type="application/zip")
        draft = VersionDraft(
            bundle=Bundle(
                uri=f"s3://{self.blobs.bucket}/{info.key}",
                sha256=info.sha256,
                size_bytes=info.size,
                media_type="application/zip",
                name="bundle.zip",
            ),
            signature=bundle.signature.to_json(),
            algorithm_id=bundle.algorithm_id,
            algorithm_version=bundle.algorithm_version,
            lineage=Lineage(external=True),
            code_version={},
            parameters={},
            metrics={},
            registered_by=actor.subject,
            card_facts={"file_name": declaration.file_name, "onnx_sha256": bundle.onnx_sha256},
        )
        version, _ = await self._retrying(lambda uow: self._register_in(uow, declaration.model, draft))
        return version

    # --- reading ------------------------------------------------------------------------------------

    async def get_version(self, model_ref: str, number: int, alias: str = "") -> ModelVersion:
        async with self.store.unit() as uow:
            return await self._version(uow, model_ref, number, alias)

    async def _version(
        self, uow: SqlRegistryUnit, model_ref: str, number: int, alias: str = ""
    ) -> ModelVersion:
        model = await uow.get_model(model_ref)
        if alias:
            return await uow.resolve_alias(model, alias)
        if number <= 0:
            raise InvalidArgument("name a version number or an alias", field="number")
        return await uow.get_version(model, number)

    async def list_versions(
        self, model_ref: str, *, stage: Stage | None, offset: int, limit: int
    ) -> tuple[list[ModelVersion], int]:
        async with self.store.unit() as uow:
            model = await uow.get_model(model_ref)
            return await uow.list_versions(model, stage=stage, offset=offset, limit=limit)

    async def compare(
        self, model_ref: str, before: int, after: int
    ) -> tuple[ModelVersion, ModelVersion, Comparison]:
        async with self.store.unit() as uow:
            first = await self._version(uow, model_ref, before)
            second = await self._version(uow, model_ref, after)
        return first, second, compare_versions(first, second)

    async def lineage_of_version(self, model_ref: str, number: int, alias: str = "") -> LineageGraph:
        version = await self.get_version(model_ref, number, alias)
        graph = LineageGraph()
        _version_nodes(graph, version)
        return graph

    async def lineage_of_dataset(
        self, dataset_id: str, number: int, authorization: str | None
    ) -> LineageGraph:
        if not dataset_id or number <= 0:
            raise InvalidArgument("name a dataset id and version number", field="dataset_version")
        async with self.store.unit() as uow:
            versions = await uow.versions_of_dataset(dataset_id, number)
        graph = LineageGraph()
        dataset_node = _dataset_node(graph, dataset_id, number)
        for version in versions:
            _version_nodes(graph, version)
        # Runs that produced no registered model are known only to the training service.
        for run_id in await self.runs.runs_of_dataset(dataset_id, number, authorization):
            graph.edge(dataset_node, graph.node("run", f"run:{run_id}", run_id))
        return graph

    # --- deleting -----------------------------------------------------------------------------------

    async def delete_version(self, model_ref: str, number: int, alias: str = "") -> ModelVersion:
        async with self.store.unit() as uow:
            version = await self._version(uow, model_ref, number, alias)
            version.check_deletable()
            await uow.delete_version(version)
            await events.version_deleted(uow.session, version)
        return version

    # --- model cards --------------------------------------------------------------------------------

    async def get_card(self, model_ref: str, number: int, alias: str = "") -> ModelCard:
        async with self.store.unit() as uow:
            version = await self._version(uow, model_ref, number, alias)
            return await uow.get_card(version)

    async def update_card(
        self, model_ref: str, number: int, *, intended_use: str | None, risks: str | None
    ) -> ModelCard:
        for name, text in (("intended_use", intended_use), ("risks", risks)):
            if text is not None and len(text) > 20_000:
                raise InvalidArgument("at most 20000 characters", field=name)
        async with self.store.unit() as uow:
            version = await self._version(uow, model_ref, number)
            await uow.update_card(version, intended_use=intended_use, risks=risks, now=utcnow())
            return await uow.get_card(version)

    # --- stages and aliases -------------------------------------------------------------------------

    async def transition(
        self, actor: Principal, model_ref: str, number: int, target: Stage, approval_id: str
    ) -> ModelVersion:
        """Move a version; into production only with an approved request for that version. The approval
        stays valid for that version, so rolling back to an archived version needs no second review."""
        async with self.store.unit() as uow:
            model = await uow.get_model(model_ref)
            version = await uow.get_version(model, number)
            moved = version.moved_to(target)
            if target is Stage.PRODUCTION:
                await self._check_production_approval(uow, model, version, approval_id)
                previous = await uow.production_version(model)
                if previous is not None:
                    # Kept, archived, for rollback: archived -> production is allowed with a new approval.
                    await uow.set_stage(previous, Stage.ARCHIVED)
                    await events.stage_changed(
                        uow.session,
                        previous.moved_to(Stage.ARCHIVED),
                        Stage.PRODUCTION,
                        actor.subject,
                        approval_id,
                    )
            await uow.set_stage(version, target)
            await events.stage_changed(
                uow.session,
                moved,
                version.stage,
                actor.subject,
                approval_id if target is Stage.PRODUCTION else "",
            )
            return await uow.get_version(model, number)

    async def _check_production_approval(
        self, uow: SqlRegistryUnit, model: Model, version: ModelVersion, approval_id: str
    ) -> None:
        if not approval_id:
            raise FailedPrecondition(
                "moving to production needs an approved approval: request one and pass its id",
                field="approval_id",
            )
        approval = await uow.get_approval(approval_id)
        approval.check_allows(version)
        # Gates may have been tightened since the request: the version must pass today's gates too.
        outcomes = run_gates(model.gates, version.metrics)
        if not gates_pass(outcomes):
            failed = "; ".join(o.detail for o in outcomes if not o.passed)
            raise FailedPrecondition(
                f"{version.label} fails the model's quality gates: {failed}", field="stage"
            )

    async def set_alias(self, model_ref: str, number: int, alias: str, *, remove: bool) -> ModelVersion:
        alias = check_alias(alias)
        async with self.store.unit() as uow:
            model = await uow.get_model(model_ref)
            version = await uow.get_version(model, number)
            if remove:
                if alias not in version.aliases:
                    raise NotFound(f"{version.label} has no alias {alias!r}", field="alias")
                await uow.remove_alias(model.model_id, alias)
            else:
                await uow.set_alias(version, alias)
            return await uow.get_version(model, number)

    # --- approvals ----------------------------------------------------------------------------------

    async def request_approval(self, actor: Principal, model_ref: str, number: int, reason: str) -> Approval:
        async with self.store.unit() as uow:
            model = await uow.get_model(model_ref)
            version = await uow.get_version(model, number)
            outcomes = run_gates(model.gates, version.metrics)
            approval = Approval.request(version, reason=reason, requested_by=actor.subject, outcomes=outcomes)
            await uow.add_approval(approval)
            await events.approval_requested(uow.session, approval)
        return approval

    async def decide_approval(
        self, actor: Principal, approval_id: str, *, approve: bool, comment: str
    ) -> Approval:
        async with self.store.unit() as uow:
            approval = await uow.get_approval(approval_id)
            decided = approval.decide(
                approve=approve, decided_by=actor.subject, comment=comment, now=utcnow()
            )
            await uow.decide_approval(decided)
            await events.approval_decided(uow.session, decided)
        return decided

    async def list_approvals(self, model_ref: str, state: ApprovalState | None) -> list[Approval]:
        async with self.store.unit() as uow:
            model = await uow.get_model(model_ref) if model_ref else None
            return await uow.list_approvals(model, state)

    # --- automation rules ---------------------------------------------------------------------------

    async def create_rule(
        self,
        actor: Principal,
        model_ref: str,
        *,
        dataset_id: str,
        algorithm_id: str,
        compare_metric: str,
        higher_is_better: bool,
    ) -> AutomationRule:
        async with self.store.unit() as uow:
            model = await uow.get_model(model_ref)
            rule = AutomationRule.create(
                model,
                dataset_id=dataset_id,
                algorithm_id=algorithm_id,
                compare_metric=compare_metric,
                higher_is_better=higher_is_better,
                created_by=actor.subject,
            )
            await uow.add_rule(rule)
        return rule

    async def list_rules(self, model_ref: str) -> tuple[list[AutomationRule], dict[str, str]]:
        """The rules, and model names by id for showing them."""
        async with self.store.unit() as uow:
            model = await uow.get_model(model_ref) if model_ref else None
            rules = await uow.list_rules(model)
            names = {r.model_id: (await uow.get_model(r.model_id)).name for r in rules}
        return rules, names

    # --- consumers ----------------------------------------------------------------------------------

    async def on_event(self, session: AsyncSession, event: CloudEvent) -> None:
        """The durable consumer's handler; runs in the inbox's transaction, so redeliveries are no-ops."""
        if event.type_name == "RunFinished":
            await self.on_run_finished(session, event)
        else:
            await self.on_deployment_event(session, event)

    async def on_run_finished(self, session: AsyncSession, event: CloudEvent) -> None:
        """RunFinished: for each rule watching the run's dataset and algorithm, register the run and,
        if it passes the gates and beats production, move it to staging. Runs in the inbox's transaction,
        so a redelivered event changes nothing."""
        finished = event.payload(events_pb2.RunFinished)
        if finished.status != "succeeded":
            return
        uow = SqlRegistryUnit(session)
        rules = await uow.rules_watching(finished.dataset_id, finished.algorithm_id)
        if not rules:
            return
        run = await self.runs.get_run(finished.run_id, self.service_authorization)
        candidate = await self._with_bundle_signature(draft_from_run(run, ""), evaluation_of(run))
        for rule in rules:
            draft = replace(candidate, registered_by=f"automation:{rule.rule_id}")
            model = await uow.get_model(rule.model_id)
            version, created = await self._register_in(uow, model.model_id, draft)
            if not created or version.stage is not Stage.NONE:
                continue
            production = await uow.production_version(model)
            if rule.should_stage(version, model.gates, production):
                await uow.set_stage(version, Stage.STAGING)
                await events.stage_changed(
                    session, version.moved_to(Stage.STAGING), Stage.NONE, f"automation:{rule.rule_id}"
                )
                log.info(
                    "automation staged a version",
                    extra={"fields": {"version": version.label, "rule": rule.rule_id}},
                )

    async def on_deployment_event(self, session: AsyncSession, event: CloudEvent) -> None:
        uow = SqlRegistryUnit(session)
        now = utcnow()
        match event.type_name:
            case "ServiceDeployed":
                deployed = event.payload(events_pb2.ServiceDeployed)
                await uow.record_deployment(
                    deployed.deployment, deployed.model_name, deployed.model_version, deployed.revision, now
                )
            case "ServiceUpdated":
                updated = event.payload(events_pb2.ServiceUpdated)
                if updated.model_name and updated.model_version > 0:
                    await uow.record_deployment(
                        updated.deployment, updated.model_name, updated.model_version, updated.revision, now
                    )
            case "ServiceStopped":
                stopped = event.payload(events_pb2.ServiceStopped)
                await uow.forget_deployment(stopped.deployment)
            case other:
                log.warning(
                    "ignoring an event this consumer does not handle", extra={"fields": {"type": other}}
                )


def stage_from_name(value: str) -> Stage:
    try:
        return Stage(value.strip().lower())
    except ValueError:
        raise InvalidArgument(
            f"unknown stage {value!r}; one of {', '.join(s.value for s in Stage)}", field="stage"
        ) from None
