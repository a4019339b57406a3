"""The Open Inference Protocol (KServe V2) logic, written once.

`types` holds the protocol's messages as plain dataclasses over numpy arrays, `codec` turns wire
tensors (raw bytes, typed contents, JSON) into arrays and back, `batching` is the dynamic batcher and
`handler` checks requests against a model's signature and runs them. The gRPC and REST adapters in
`services.serving.worker` only convert messages.
"""
