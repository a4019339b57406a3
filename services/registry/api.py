"""gRPC adapter of the registry service: models, versions, lineage, model cards, stages, approvals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from mlops.api.registry.v1 import registry_pb2 as pb
from mlops.api.registry.v1 import registry_pb2_grpc
from mlops.kernel.errors import InvalidArgument
from mlops.kernel.grpcx import principal
from mlops.kernel.runtime import ServiceRuntime

from .convert import (
    approval_state_from_proto,
    approval_to_proto,
    card_to_proto,
    gate_from_proto,
    lineage_to_proto,
    model_to_proto,
    page_response,
    page_window,
    rule_to_proto,
    scenario_name,
    signature_from_proto,
    stage_from_proto,
    version_to_proto,
)
from .service import ExternalDeclaration, RegistryService

# grpc ships no type information: the servicer context is typed loosely on purpose.
Context = Any


def _authorization(context: Context) -> str | None:
    return dict(context.invocation_metadata() or ()).get("authorization")


def _model_ref(value: str) -> str:
    if not value:
        raise InvalidArgument("name a model (id or name)", field="model")
    return value


class RegistryServiceApi(registry_pb2_grpc.RegistryServiceServicer):
    def __init__(self, service: RegistryService) -> None:
        self.service = service

    # --- models -------------------------------------------------------------------------------------

    async def CreateModel(self, request: pb.CreateModelRequest, context: Context) -> pb.Model:
        model = await self.service.create_model(
            principal(),
            request.name,
            description=request.description,
            scenario=scenario_name(request.scenario),
            tags=list(request.tags),
        )
        return model_to_proto(model)

    async def GetModel(self, request: pb.GetModelRequest, context: Context) -> pb.Model:
        return model_to_proto(await self.service.get_model(_model_ref(request.model)))

    async def ListModels(self, request: pb.ListModelsRequest, context: Context) -> pb.ListModelsResponse:
        offset, limit = page_window(request.page)
        models, total = await self.service.list_models(
            scenario=scenario_name(request.scenario),
            name_contains=request.name_contains,
            offset=offset,
            limit=limit,
        )
        return pb.ListModelsResponse(
            models=[model_to_proto(m) for m in models], page=page_response(offset, len(models), total)
        )

    async def SetQualityGates(self, request: pb.SetQualityGatesRequest, context: Context) -> pb.Model:
        gates = [gate_from_proto(g) for g in request.gates]
        return model_to_proto(await self.service.set_gates(_model_ref(request.model), gates))

    # --- versions -----------------------------------------------------------------------------------

    async def RegisterFromRun(self, request: pb.RegisterFromRunRequest, context: Context) -> pb.ModelVersion:
        version = await self.service.register_from_run(
            principal(), _model_ref(request.model), request.run_id, _authorization(context)
        )
        return version_to_proto(version)

    async def UploadExternalModel(
        self, request_iterator: AsyncIterator[pb.UploadExternalModelRequest], context: Context
    ) -> pb.ModelVersion:
        caller = principal()
        parts = request_iterator.__aiter__()
        try:
            first = await parts.__anext__()
        except StopAsyncIteration:
            raise InvalidArgument("the upload sent nothing", field="declaration") from None
        if first.WhichOneof("part") != "declaration":
            raise InvalidArgument("the first message carries the declaration", field="declaration")
        declared = first.declaration
        declaration = ExternalDeclaration(
            model=_model_ref(declared.model),
            signature=signature_from_proto(declared.signature),
            file_name=declared.file_name,
            description=declared.description,
            scenario=scenario_name(declared.scenario),
        )

        async def chunks() -> AsyncIterator[bytes]:
            async for part in parts:
                if part.WhichOneof("part") != "chunk":
                    raise InvalidArgument("only one declaration per upload", field="declaration")
                yield part.chunk

        return version_to_proto(await self.service.upload_external(caller, declaration, chunks()))

    async def GetModelVersion(self, request: pb.GetModelVersionRequest, context: Context) -> pb.ModelVersion:
        version = await self.service.get_version(_model_ref(request.model), request.number, request.alias)
        return version_to_proto(version)

    async def ListModelVersions(
        self, request: pb.ListModelVersionsRequest, context: Context
    ) -> pb.ListModelVersionsResponse:
        offset, limit = page_window(request.page)
        stage = None if request.stage == pb.STAGE_UNSPECIFIED else stage_from_proto(request.stage)
        versions, total = await self.service.list_versions(
            _model_ref(request.model), stage=stage, offset=offset, limit=limit
        )
        return pb.ListModelVersionsResponse(
            versions=[version_to_proto(v) for v in versions], page=page_response(offset, len(versions), total)
        )

    async def DeleteModelVersion(
        self, request: pb.GetModelVersionRequest, context: Context
    ) -> pb.DeleteModelVersionResponse:
        await self.service.delete_version(_model_ref(request.model), request.number, request.alias)
        return pb.DeleteModelVersionResponse()

    async def CompareModelVersions(
        self, request: pb.CompareModelVersionsRequest, context: Context
    ) -> pb.CompareModelVersionsResponse:
        before, after, comparison = await self.service.compare(
            _model_ref(request.model), request.from_number, request.to_number
        )

        def rows(differences: Iterable[Any]) -> list[pb.ValueDifference]:
            return [
                pb.ValueDifference(name=d.name, from_value=d.from_value, to_value=d.to_value)
                for d in differences
            ]

        return pb.CompareModelVersionsResponse(
            from_version=version_to_proto(before),
            to_version=version_to_proto(after),
            parameters=rows(comparison.parameters),
            metrics=rows(comparison.metrics),
            data=rows(comparison.data),
        )

    async def GetLineage(self, request: pb.GetLineageRequest, context: Context) -> pb.GetLineageResponse:
        match request.WhichOneof("subject"):
            case "model_version":
                ref = request.model_version
                graph = await self.service.lineage_of_version(_model_ref(ref.model), ref.number, ref.alias)
            case "dataset_version":
                ref_ds = request.dataset_version
                graph = await self.service.lineage_of_dataset(
                    ref_ds.dataset_id, ref_ds.number, _authorization(context)
                )
            case _:
                raise InvalidArgument("name a model version or a dataset version", field="subject")
        return lineage_to_proto(graph)

    # --- model cards --------------------------------------------------------------------------------

    async def GetModelCard(self, request: pb.GetModelVersionRequest, context: Context) -> pb.ModelCard:
        card = await self.service.get_card(_model_ref(request.model), request.number, request.alias)
        return card_to_proto(card)

    async def UpdateModelCard(self, request: pb.UpdateModelCardRequest, context: Context) -> pb.ModelCard:
        card = await self.service.update_card(
            _model_ref(request.model),
            request.number,
            intended_use=request.intended_use if request.HasField("intended_use") else None,
            risks=request.risks if request.HasField("risks") else None,
        )
        return card_to_proto(card)

    # --- stages, aliases, approvals -----------------------------------------------------------------

    async def TransitionStage(self, request: pb.TransitionStageRequest, context: Context) -> pb.ModelVersion:
        version = await self.service.transition(
            principal(),
            _model_ref(request.model),
            request.number,
            stage_from_proto(request.stage),
            request.approval_id,
        )
        return version_to_proto(version)

    async def SetAlias(self, request: pb.SetAliasRequest, context: Context) -> pb.ModelVersion:
        version = await self.service.set_alias(
            _model_ref(request.model), request.number, request.alias, remove=request.remove
        )
        return version_to_proto(version)

    async def RequestApproval(self, request: pb.RequestApprovalRequest, context: Context) -> pb.Approval:
        approval = await self.service.request_approval(
            principal(), _model_ref(request.model), request.number, request.reason
        )
        return approval_to_proto(approval)

    async def DecideApproval(self, request: pb.DecideApprovalRequest, context: Context) -> pb.Approval:
        approval = await self.service.decide_approval(
            principal(), request.approval_id, approve=request.approve, comment=request.comment
        )
        return approval_to_proto(approval)

    async def ListApprovals(
        self, request: pb.ListApprovalsRequest, context: Context
    ) -> pb.ListApprovalsResponse:
        approvals = await self.service.list_approvals(request.model, approval_state_from_proto(request.state))
        return pb.ListApprovalsResponse(approvals=[approval_to_proto(a) for a in approvals])

    # --- automation rules ---------------------------------------------------------------------------

    async def CreateAutomationRule(
        self, request: pb.CreateAutomationRuleRequest, context: Context
    ) -> pb.AutomationRule:
        rule = request.rule
        created = await self.service.create_rule(
            principal(),
            _model_ref(rule.model),
            dataset_id=rule.dataset_id,
            algorithm_id=rule.algorithm_id,
            compare_metric=rule.compare_metric,
            higher_is_better=rule.higher_is_better,
        )
        return rule_to_proto(created, (await self.service.get_model(created.model_id)).name)

    async def ListAutomationRules(
        self, request: pb.ListAutomationRulesRequest, context: Context
    ) -> pb.ListAutomationRulesResponse:
        rules, names = await self.service.list_rules(request.model)
        return pb.ListAutomationRulesResponse(rules=[rule_to_proto(r, names[r.model_id]) for r in rules])


def register_api(runtime: ServiceRuntime, service: RegistryService) -> Iterable[str]:
    """Adds the servicer to the runtime's server; returns its full service name."""
    server = runtime.server
    assert server is not None
    registry_pb2_grpc.add_RegistryServiceServicer_to_server(RegistryServiceApi(service), server)
    return [pb.DESCRIPTOR.services_by_name["RegistryService"].full_name]
