"""Benchmarks: parameters, FLOPs, latency, throughput and memory on several backends, with environment records."""

from alembert.bench.backends import BACKENDS, Runner, build_runner
from alembert.bench.compare import BenchConfig, BenchResult, Measurement, bench_models
from alembert.bench.devpass import DevPassResult, time_dev_pass
from alembert.bench.env import bench_environment, measure_matmul_peak
from alembert.bench.flops import FlopCount, count_flops, encoder_shape
from alembert.bench.latency import Latency, count_parameters, environment, measure_latency
from alembert.bench.table import print_bench


__all__ = [
    "BACKENDS",
    "BenchConfig",
    "BenchResult",
    "DevPassResult",
    "FlopCount",
    "Latency",
    "Measurement",
    "Runner",
    "bench_environment",
    "bench_models",
    "build_runner",
    "count_flops",
    "count_parameters",
    "encoder_shape",
    "environment",
    "measure_latency",
    "measure_matmul_peak",
    "print_bench",
    "time_dev_pass",
]
