"""Benchmarks: parameters, FLOPs, latency, throughput and memory on several backends, with environment records.

Import what you need from the submodules (:mod:`.compare`, :mod:`.latency`, :mod:`.flops`, ...): this package
imports nothing itself, so that measuring one model's latency does not load ONNX Runtime.
"""
