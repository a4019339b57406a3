"""The serving worker: hosts models and answers the KServe V2 / Open Inference Protocol.

Seams (after MLServer): `model_host` holds the protocol logic, `grpc_servicer` and `rest` are thin
adapters over it, `metrics` is the Prometheus endpoint, `main` wires them in one event loop.
"""
