"""Benchmarks: parameters, latency and environment records."""

from alembert.bench.latency import Latency, count_parameters, environment, measure_latency


__all__ = ["Latency", "count_parameters", "environment", "measure_latency"]
