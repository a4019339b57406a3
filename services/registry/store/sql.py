"""The SQLAlchemy implementation of the registry's store, tested on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlops.kernel.db import Database
from mlops.kernel.errors import AlreadyExists, Conflict, NotFound

from ..cards import ModelCard
from ..domain import (
    Approval,
    ApprovalState,
    AutomationRule,
    Bundle,
    GateOutcome,
    Lineage,
    Model,
    ModelVersion,
    QualityGate,
    Stage,
)
from .tables import aliases, approvals, automation_rules, deployments, model_versions, models

_HEX_ID_LENGTH = 32


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time the service stores is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _model_of(row: Any, production: int = 0) -> Model:
    return Model(
        model_id=row.model_id,
        name=row.name,
        description=row.description,
        scenario=row.scenario,
        owner=row.owner,
        tags=tuple(row.tags or ()),
        gates=tuple(QualityGate.from_json(g) for g in row.gates or ()),
        created_at=_aware(row.created_at),  # type: ignore[arg-type]
        latest_version=row.latest_version,
        production_version=production,
    )


def _version_values(version: ModelVersion, card_facts: dict[str, Any]) -> dict[str, Any]:
    lineage = version.lineage
    return {
        "model_id": version.model_id,
        "number": version.number,
        "stage": version.stage.value,
        "run_id": lineage.run_id or None,
        "external": lineage.external,
        "dataset_id": lineage.dataset_id,
        "dataset_version": lineage.dataset_version,
        "manifest_digest": lineage.manifest_digest,
        "bundle_uri": version.bundle.uri,
        "bundle_sha256": version.bundle.sha256,
        "bundle_size": version.bundle.size_bytes,
        "bundle_media_type": version.bundle.media_type,
        "bundle_name": version.bundle.name,
        "signature": version.signature,
        "algorithm_id": version.algorithm_id,
        "algorithm_version": version.algorithm_version,
        "code_version": version.code_version,
        "parameters": version.parameters,
        "metrics": version.metrics,
        "registered_by": version.registered_by,
        "created_at": version.created_at,
        "card_facts": card_facts,
        "intended_use": "",
        "risks": "",
        "card_updated_at": version.created_at,
    }


def _version_of(
    row: Any, model_name: str, alias_names: Sequence[str], deployed: Sequence[str]
) -> ModelVersion:
    return ModelVersion(
        model_id=row.model_id,
        model_name=model_name,
        number=row.number,
        stage=Stage(row.stage),
        bundle=Bundle(
            uri=row.bundle_uri,
            sha256=row.bundle_sha256,
            size_bytes=row.bundle_size,
            media_type=row.bundle_media_type,
            name=row.bundle_name,
        ),
        signature=dict(row.signature or {}),
        algorithm_id=row.algorithm_id,
        algorithm_version=row.algorithm_version,
        lineage=Lineage(
            run_id=row.run_id or "",
            dataset_id=row.dataset_id,
            dataset_version=row.dataset_version,
            manifest_digest=row.manifest_digest,
            external=row.external,
        ),
        code_version=dict(row.code_version or {}),
        parameters=dict(row.parameters or {}),
        metrics={k: float(v) for k, v in (row.metrics or {}).items()},
        registered_by=row.registered_by,
        created_at=_aware(row.created_at),  # type: ignore[arg-type]
        aliases=tuple(sorted(alias_names)),
        deployed_as=tuple(sorted(deployed)),
    )


def _approval_of(row: Any, model_name: str) -> Approval:
    return Approval(
        approval_id=row.approval_id,
        model_id=row.model_id,
        model_name=model_name,
        number=row.number,
        target_stage=Stage(row.target_stage),
        reason=row.reason,
        requested_by=row.requested_by,
        state=ApprovalState(row.state),
        gate_outcomes=tuple(GateOutcome.from_json(o) for o in row.gate_outcomes or ()),
        created_at=_aware(row.created_at),  # type: ignore[arg-type]
        decided_by=row.decided_by,
        decision_comment=row.decision_comment,
        decided_at=_aware(row.decided_at),
    )


def _rule_of(row: Any) -> AutomationRule:
    return AutomationRule(
        rule_id=row.rule_id,
        model_id=row.model_id,
        dataset_id=row.dataset_id,
        algorithm_id=row.algorithm_id,
        compare_metric=row.compare_metric,
        higher_is_better=row.higher_is_better,
        enabled=row.enabled,
        created_by=row.created_by,
        created_at=_aware(row.created_at),  # type: ignore[arg-type]
    )


class SqlRegistryUnit:
    """The work of one transaction. `session` is exposed for the outbox (record_event)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- models -------------------------------------------------------------------------------------

    async def add_model(self, model: Model) -> None:
        values = {
            "model_id": model.model_id,
            "name": model.name,
            "description": model.description,
            "scenario": model.scenario,
            "owner": model.owner,
            "tags": list(model.tags),
            "gates": [g.to_json() for g in model.gates],
            "created_at": model.created_at,
            "latest_version": model.latest_version,
        }
        try:
            async with self.session.begin_nested():
                await self.session.execute(insert(models).values(**values))
        except IntegrityError:
            raise AlreadyExists(f"a model named {model.name!r} exists", field="name") from None

    async def get_model(self, ref: str) -> Model:
        """A model by id or by name."""
        query = select(models).where(models.c.name == ref)
        if len(ref) == _HEX_ID_LENGTH:
            query = select(models).where((models.c.model_id == ref) | (models.c.name == ref))
        row = (await self.session.execute(query)).first()
        if row is None:
            raise NotFound(f"no model {ref!r}", field="model")
        return _model_of(row, await self._production_number(row.model_id))

    async def _production_number(self, model_id: str) -> int:
        found = await self.session.execute(
            select(model_versions.c.number).where(
                model_versions.c.model_id == model_id, model_versions.c.stage == Stage.PRODUCTION.value
            )
        )
        return found.scalar_one_or_none() or 0

    async def list_models(
        self, *, scenario: str, name_contains: str, offset: int, limit: int
    ) -> tuple[list[Model], int]:
        query = select(models)
        if scenario:
            query = query.where(models.c.scenario == scenario)
        if name_contains:
            query = query.where(models.c.name.like(f"%{_escape_like(name_contains)}%", escape="\\"))
        total = (await self.session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        rows = (await self.session.execute(query.order_by(models.c.name).offset(offset).limit(limit))).all()
        production = await self.session.execute(
            select(model_versions.c.model_id, model_versions.c.number).where(
                model_versions.c.model_id.in_([r.model_id for r in rows]),
                model_versions.c.stage == Stage.PRODUCTION.value,
            )
        )
        numbers = {r.model_id: r.number for r in production}
        return [_model_of(r, numbers.get(r.model_id, 0)) for r in rows], int(total)

    async def set_gates(self, model_id: str, gates: Sequence[QualityGate]) -> None:
        await self.session.execute(
            update(models).where(models.c.model_id == model_id).values(gates=[g.to_json() for g in gates])
        )

    async def next_number(self, model: Model) -> int:
        """Compare-and-set of the latest number: of two registrations reading the same, one retries."""
        result = await self.session.execute(
            update(models)
            .where(models.c.model_id == model.model_id, models.c.latest_version == model.latest_version)
            .values(latest_version=model.latest_version + 1)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise Conflict("another version of this model was registered meanwhile", field="model")
        return model.latest_version + 1

    # --- versions -----------------------------------------------------------------------------------

    async def add_version(self, version: ModelVersion, card_facts: dict[str, Any]) -> bool:
        """Insert a version; False when the model already holds a version of the same run."""
        try:
            async with self.session.begin_nested():
                await self.session.execute(
                    insert(model_versions).values(**_version_values(version, card_facts))
                )
        except IntegrityError:
            if version.lineage.run_id and await self.version_of_run(version.model_id, version.lineage.run_id):
                return False
            raise Conflict("another registration took this version number", field="model") from None
        return True

    async def version_of_run(self, model_id: str, run_id: str) -> int | None:
        found = await self.session.execute(
            select(model_versions.c.number).where(
                model_versions.c.model_id == model_id, model_versions.c.run_id == run_id
            )
        )
        return found.scalar_one_or_none()

    async def _hydrate(self, rows: Sequence[Any], model_name: str) -> list[ModelVersion]:
        if not rows:
            return []
        model_id = rows[0].model_id
        numbers = [r.number for r in rows]
        alias_rows = await self.session.execute(
            select(aliases.c.number, aliases.c.alias).where(
                aliases.c.model_id == model_id, aliases.c.number.in_(numbers)
            )
        )
        by_number: dict[int, list[str]] = {}
        for row in alias_rows:
            by_number.setdefault(row.number, []).append(row.alias)
        deployed_rows = await self.session.execute(
            select(deployments.c.number, deployments.c.deployment).where(
                deployments.c.model_name == model_name, deployments.c.number.in_(numbers)
            )
        )
        deployed: dict[int, list[str]] = {}
        for row in deployed_rows:
            deployed.setdefault(row.number, []).append(row.deployment)
        return [
            _version_of(r, model_name, by_number.get(r.number, ()), deployed.get(r.number, ())) for r in rows
        ]

    async def get_version(self, model: Model, number: int) -> ModelVersion:
        row = (
            await self.session.execute(
                select(model_versions).where(
                    model_versions.c.model_id == model.model_id, model_versions.c.number == number
                )
            )
        ).first()
        if row is None:
            raise NotFound(f"no version {number} of model {model.name!r}", field="number")
        return (await self._hydrate([row], model.name))[0]

    async def resolve_alias(self, model: Model, alias: str) -> ModelVersion:
        """A version by alias, by stage name ("production", "staging": the newest there), or "latest"."""
        if alias == "latest":
            query = select(func.max(model_versions.c.number)).where(
                model_versions.c.model_id == model.model_id
            )
        elif alias in {s.value for s in Stage}:
            query = select(func.max(model_versions.c.number)).where(
                model_versions.c.model_id == model.model_id, model_versions.c.stage == alias
            )
        else:
            query = select(aliases.c.number).where(
                aliases.c.model_id == model.model_id, aliases.c.alias == alias
            )
        number = (await self.session.execute(query)).scalar_one_or_none()
        if number is None:
            raise NotFound(f"model {model.name!r} has no version named {alias!r}", field="alias")
        return await self.get_version(model, number)

    async def list_versions(
        self, model: Model, *, stage: Stage | None, offset: int, limit: int
    ) -> tuple[list[ModelVersion], int]:
        query = select(model_versions).where(model_versions.c.model_id == model.model_id)
        if stage is not None:
            query = query.where(model_versions.c.stage == stage.value)
        total = (await self.session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        rows = (
            await self.session.execute(
                query.order_by(model_versions.c.number.desc()).offset(offset).limit(limit)
            )
        ).all()
        return await self._hydrate(rows, model.name), int(total)

    async def production_version(self, model: Model) -> ModelVersion | None:
        number = await self._production_number(model.model_id)
        return await self.get_version(model, number) if number else None

    async def versions_of_dataset(self, dataset_id: str, number: int) -> list[ModelVersion]:
        rows = (
            await self.session.execute(
                select(model_versions, models.c.name)
                .join(models, models.c.model_id == model_versions.c.model_id)
                .where(model_versions.c.dataset_id == dataset_id, model_versions.c.dataset_version == number)
                .order_by(models.c.name, model_versions.c.number)
            )
        ).all()
        found: list[ModelVersion] = []
        for row in rows:
            found += await self._hydrate([row], row.name)
        return found

    async def set_stage(self, version: ModelVersion, target: Stage) -> None:
        """Compare-and-set on the stage read; the partial unique index refuses a second production."""
        try:
            async with self.session.begin_nested():
                result = await self.session.execute(
                    update(model_versions)
                    .where(
                        model_versions.c.model_id == version.model_id,
                        model_versions.c.number == version.number,
                        model_versions.c.stage == version.stage.value,
                    )
                    .values(stage=target.value)
                )
        except IntegrityError:
            raise Conflict(
                f"another version of {version.model_name!r} entered production meanwhile", field="stage"
            ) from None
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise Conflict(f"{version.label} changed stage meanwhile; read it again", field="stage")

    async def delete_version(self, version: ModelVersion) -> None:
        keys = (version.model_id, version.number)
        await self.session.execute(
            delete(aliases).where(aliases.c.model_id == keys[0], aliases.c.number == keys[1])
        )
        await self.session.execute(
            delete(approvals).where(approvals.c.model_id == keys[0], approvals.c.number == keys[1])
        )
        await self.session.execute(
            delete(model_versions).where(
                model_versions.c.model_id == keys[0], model_versions.c.number == keys[1]
            )
        )

    # --- aliases and cards --------------------------------------------------------------------------

    async def set_alias(self, version: ModelVersion, alias: str) -> None:
        """Point `alias` at the version, moving it off any other version of the model."""
        await self.remove_alias(version.model_id, alias)
        await self.session.execute(
            insert(aliases).values(model_id=version.model_id, alias=alias, number=version.number)
        )

    async def remove_alias(self, model_id: str, alias: str) -> None:
        await self.session.execute(
            delete(aliases).where(aliases.c.model_id == model_id, aliases.c.alias == alias)
        )

    async def get_card(self, version: ModelVersion) -> ModelCard:
        row = (
            await self.session.execute(
                select(
                    model_versions.c.card_facts,
                    model_versions.c.intended_use,
                    model_versions.c.risks,
                    model_versions.c.card_updated_at,
                ).where(
                    model_versions.c.model_id == version.model_id, model_versions.c.number == version.number
                )
            )
        ).one()
        return ModelCard(
            version.model_name,
            version.number,
            dict(row.card_facts or {}),
            row.intended_use,
            row.risks,
            _aware(row.card_updated_at),  # type: ignore[arg-type]
        )

    async def update_card(
        self, version: ModelVersion, *, intended_use: str | None, risks: str | None, now: datetime
    ) -> None:
        values: dict[str, Any] = {"card_updated_at": now}
        if intended_use is not None:
            values["intended_use"] = intended_use
        if risks is not None:
            values["risks"] = risks
        await self.session.execute(
            update(model_versions)
            .where(model_versions.c.model_id == version.model_id, model_versions.c.number == version.number)
            .values(**values)
        )

    # --- approvals ----------------------------------------------------------------------------------

    async def add_approval(self, approval: Approval) -> None:
        await self.session.execute(
            insert(approvals).values(
                approval_id=approval.approval_id,
                model_id=approval.model_id,
                number=approval.number,
                target_stage=approval.target_stage.value,
                reason=approval.reason,
                requested_by=approval.requested_by,
                state=approval.state.value,
                gate_outcomes=[o.to_json() for o in approval.gate_outcomes],
                decided_by=approval.decided_by,
                decision_comment=approval.decision_comment,
                created_at=approval.created_at,
                decided_at=approval.decided_at,
            )
        )

    async def get_approval(self, approval_id: str) -> Approval:
        row = (
            await self.session.execute(
                select(approvals, models.c.name)
                .join(models, models.c.model_id == approvals.c.model_id)
                .where(approvals.c.approval_id == approval_id)
            )
        ).first()
        if row is None:
            raise NotFound(f"no approval {approval_id!r}", field="approval_id")
        return _approval_of(row, row.name)

    async def decide_approval(self, approval: Approval) -> None:
        """Record a decision on a still-pending request: of two concurrent decisions, one wins."""
        result = await self.session.execute(
            update(approvals)
            .where(
                approvals.c.approval_id == approval.approval_id,
                approvals.c.state == ApprovalState.PENDING.value,
            )
            .values(
                state=approval.state.value,
                decided_by=approval.decided_by,
                decision_comment=approval.decision_comment,
                decided_at=approval.decided_at,
            )
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise Conflict(f"approval {approval.approval_id} was decided meanwhile", field="approval_id")

    async def list_approvals(self, model: Model | None, state: ApprovalState | None) -> list[Approval]:
        query = select(approvals, models.c.name).join(models, models.c.model_id == approvals.c.model_id)
        if model is not None:
            query = query.where(approvals.c.model_id == model.model_id)
        if state is not None:
            query = query.where(approvals.c.state == state.value)
        rows = (await self.session.execute(query.order_by(approvals.c.created_at.desc()).limit(1000))).all()
        return [_approval_of(r, r.name) for r in rows]

    # --- automation rules ---------------------------------------------------------------------------

    async def add_rule(self, rule: AutomationRule) -> None:
        await self.session.execute(
            insert(automation_rules).values(
                rule_id=rule.rule_id,
                model_id=rule.model_id,
                dataset_id=rule.dataset_id,
                algorithm_id=rule.algorithm_id,
                compare_metric=rule.compare_metric,
                higher_is_better=rule.higher_is_better,
                enabled=rule.enabled,
                created_by=rule.created_by,
                created_at=rule.created_at,
            )
        )

    async def list_rules(self, model: Model | None) -> list[AutomationRule]:
        query = select(automation_rules)
        if model is not None:
            query = query.where(automation_rules.c.model_id == model.model_id)
        rows = (await self.session.execute(query.order_by(automation_rules.c.created_at))).all()
        return [_rule_of(r) for r in rows]

    async def rules_watching(self, dataset_id: str, algorithm_id: str) -> list[AutomationRule]:
        rows = (
            await self.session.execute(
                select(automation_rules).where(
                    automation_rules.c.dataset_id == dataset_id,
                    automation_rules.c.algorithm_id == algorithm_id,
                    automation_rules.c.enabled.is_(True),
                )
            )
        ).all()
        return [_rule_of(r) for r in rows]

    async def model_by_id(self, model_id: str) -> Model:
        return await self.get_model(model_id)

    # --- deployments --------------------------------------------------------------------------------

    async def record_deployment(
        self, deployment: str, model_name: str, number: int, revision: int, now: datetime
    ) -> None:
        await self.session.execute(delete(deployments).where(deployments.c.deployment == deployment))
        await self.session.execute(
            insert(deployments).values(
                deployment=deployment, model_name=model_name, number=number, revision=revision, updated_at=now
            )
        )

    async def forget_deployment(self, deployment: str) -> None:
        await self.session.execute(delete(deployments).where(deployments.c.deployment == deployment))


class SqlRegistryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[SqlRegistryUnit]:
        """A unit of work: commits when the block ends, rolls back if it raises."""
        async with self.db.transaction() as session:
            yield SqlRegistryUnit(session)
