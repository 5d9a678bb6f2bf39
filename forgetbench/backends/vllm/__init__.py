"""The vLLM backend (`vllm`): `backend.VLLMBackend` (parent side, never imports vLLM), `options` (its engine
options: `VLLMOptions`), `process` (worker processes, install checks, engine arguments), `protocol` (the typed, versioned messages), `worker` and
`engine` (what runs inside a worker process, the only code importing vLLM)."""
