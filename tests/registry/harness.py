"""A running registry service for the test_registry_* modules: real runtime, identity, NATS, SeaweedFS,
and a real grpc.aio TrainingService serving canned runs (the real training service is another issue's)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import struct_pb2
from google.protobuf.message import Message

from mlops.algorithms.external import external_bundle
from mlops.api.common.v1 import common_pb2
from mlops.api.registry.v1 import registry_pb2 as pb
from mlops.api.registry.v1 import registry_pb2_grpc
from mlops.api.training.v1 import training_pb2, training_pb2_grpc
from mlops.kernel.auth import Role
from mlops.kernel.events import EventBus, build_event, subject_for
from mlops.kernel.events.envelope import HEADER_MSG_ID
from mlops.kernel.grpcx import open_channel
from mlops.kernel.objectstore import ObjectStore
from mlops.stack.servers import NatsServer
from services.registry.main import RegistryRuntime, build
from services.registry.settings import RegistrySettings
from tests.fixtures.s3 import S3Endpoint, unique_bucket
from tests.integration.test_grpc_auth import start_identity
from tests.registry.builders import tiny_onnx, tiny_signature

SCIENTIST = "mlops_scientist_s3cret"
ENGINEER = "mlops_engineer_s3cret"
ENGINEER_2 = "mlops_engineer2_s3cret"
VIEWER = "mlops_viewer_s3cret"
SERVICE = "mlops_service_s3cret"
TOKENS = {
    SCIENTIST: ("sam", Role.DATA_SCIENTIST),
    ENGINEER: ("erin", Role.MLOPS_ENGINEER),
    ENGINEER_2: ("emil", Role.MLOPS_ENGINEER),
    VIEWER: ("vera", Role.VIEWER),
    SERVICE: ("registry", Role.SERVICE),
}


class CannedTraining(training_pb2_grpc.TrainingServiceServicer):
    """GetRun and ListRuns over canned runs; remembers the authorization each call carried."""

    def __init__(self) -> None:
        self.runs: dict[str, training_pb2.Run] = {}
        self.authorizations: list[str] = []

    async def GetRun(self, request: Any, context: Any) -> training_pb2.Run:
        self.authorizations.append(dict(context.invocation_metadata()).get("authorization", ""))
        run = self.runs.get(request.run_id)
        if run is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no run {request.run_id}")
        return run

    async def ListRuns(self, request: Any, context: Any) -> training_pb2.ListRunsResponse:
        found = [
            r
            for r in self.runs.values()
            if r.dataset.dataset_id == request.dataset_id and r.dataset.number == request.dataset_version
        ]
        return training_pb2.ListRunsResponse(runs=found)


@dataclass
class Registry:
    runtime: RegistryRuntime
    address: str
    training: CannedTraining
    blobs: ObjectStore
    bus: EventBus
    channels: list[grpc.aio.Channel] = field(default_factory=list)

    def stub(self, token: str = SCIENTIST) -> registry_pb2_grpc.RegistryServiceStub:
        channel = open_channel(self.address, token=token, default_timeout=30)
        self.channels.append(channel)
        return registry_pb2_grpc.RegistryServiceStub(channel)

    async def add_run(
        self,
        *,
        status: int = training_pb2.RUN_STATUS_SUCCEEDED,
        dataset: tuple[str, int] = ("ds1", 1),
        algorithm_id: str = "anomaly_detection",
        metrics: dict[str, float] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> training_pb2.Run:
        """A canned run whose bundle really lies in the object store, as the training worker leaves it."""
        run_id = uuid.uuid4().hex
        bundle = external_bundle(tiny_onnx(), tiny_signature())
        bundle.algorithm_id = algorithm_id
        bundle.model_card = "# Tiny\n\n## Intended use\nDemos.\n\n## Limits\nThree features only.\n"
        archive = bundle.to_zip()
        info = await self.blobs.put_object(f"runs/{run_id}/bundle.zip", archive, media_type="application/zip")
        evaluation = json.dumps({"per_class": [{"label": "fraud", "f1": 0.8, "support": 10.0}]}).encode()
        evaluated = await self.blobs.put_object(f"runs/{run_id}/evaluation.json", evaluation)
        params = struct_pb2.Struct()
        params.update(parameters or {"epochs": 3, "lr": 0.01})
        run = training_pb2.Run(
            id=run_id,
            status=status,  # type: ignore[arg-type]
            dataset=training_pb2.DatasetVersionRef(
                dataset_id=dataset[0], number=dataset[1], manifest_digest=f"{dataset[1]:064x}"
            ),
            algorithm_id=algorithm_id,
            algorithm_version="1",
            parameters=params,
            summary_metrics=metrics if metrics is not None else {"macro_f1": 0.9},
            code_version=common_pb2.CodeVersion(package_version="0.1.0", git_revision="abc123"),
            artifacts=[
                common_pb2.ArtifactRef(
                    name="bundle.zip",
                    uri=f"s3://{self.blobs.bucket}/{info.key}",
                    sha256=info.sha256 or "",
                    size_bytes=info.size,
                    media_type="application/zip",
                ),
                common_pb2.ArtifactRef(
                    name="evaluation.json",
                    uri=f"s3://{self.blobs.bucket}/{evaluated.key}",
                    sha256=evaluated.sha256 or "",
                    size_bytes=evaluated.size,
                    media_type="application/json",
                ),
            ],
        )
        self.training.runs[run_id] = run
        return run

    async def announce(self, source: str, payload: Message) -> None:
        """Publish as another service's outbox relay would."""
        envelope = build_event(payload, source=source)
        await self.bus.js.publish(
            subject_for(source, payload), envelope.to_json(), headers={HEADER_MSG_ID: envelope.id}
        )


async def create_model(stub: registry_pb2_grpc.RegistryServiceStub, **fields: Any) -> pb.Model:
    return await stub.CreateModel(pb.CreateModelRequest(name=f"m-{uuid.uuid4().hex[:10]}", **fields))


def upload_parts(model: str, data: bytes, signature: Any = None, chunk: int = 4096) -> list[Any]:
    sig = signature or tiny_signature()
    declared = common_pb2.Signature(
        inputs=[common_pb2.TensorSpec(name=t.name, datatype=t.datatype, shape=t.shape) for t in sig.inputs],
        outputs=[common_pb2.TensorSpec(name=t.name, datatype=t.datatype, shape=t.shape) for t in sig.outputs],
    )
    head = pb.UploadExternalModelRequest(
        declaration=pb.ExternalModelDeclaration(model=model, signature=declared, file_name="model.onnx")
    )
    return [
        head,
        *(pb.UploadExternalModelRequest(chunk=data[i : i + chunk]) for i in range(0, len(data), chunk)),
    ]


async def start_registry(
    tmp_path: Path, nats: NatsServer, s3: S3Endpoint, **overrides: Any
) -> AsyncIterator[Registry]:
    identity, identity_address, _ = await start_identity(TOKENS)
    training = CannedTraining()
    training_server = grpc.aio.server()
    training_pb2_grpc.add_TrainingServiceServicer_to_server(training, training_server)
    training_port = training_server.add_insecure_port("127.0.0.1:0")
    await training_server.start()
    settings = RegistrySettings(
        data_dir=tmp_path / "data",
        grpc_port=0,
        identity_address=identity_address,
        training_address=f"127.0.0.1:{training_port}",
        nats_url=nats.url,
        s3=s3.settings(unique_bucket()),
        service_token=SERVICE,  # type: ignore[arg-type]
        shutdown_grace_seconds=0.5,
        log_json=False,
        **overrides,
    )
    runtime = build(settings)
    await runtime.start()
    bus = EventBus(nats.url, name=f"test-{uuid.uuid4().hex[:8]}")
    await bus.connect(wait=True)
    registry = Registry(runtime, f"127.0.0.1:{runtime.port}", training, ObjectStore(settings.s3), bus)
    try:
        yield registry
    finally:
        for channel in registry.channels:
            await channel.close()
        await bus.close()
        await runtime.stop()
        await training_server.stop(0)
        await identity.stop(0)
