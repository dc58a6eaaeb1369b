"""The demo: a deterministic synthetic IBL-like database and an Alyx-compatible server.

Nothing here imports textual or rich, so the engine tests and benchmarks can use it headless.
"""
