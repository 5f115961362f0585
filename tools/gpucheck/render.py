"""The report as files: gpu_check.json and gpu_check.md, one Markdown section for docs/performance.md (what ran
where, the targets, then each part's table)."""

from __future__ import annotations

import json
import os

from tools.gpucheck.common import MEDIA_KINDS, TARGETS
from utils.files import write_json, write_text


def write_outputs(report: dict, out: str) -> None:
    write_json(os.path.join(out, "gpu_check.json"), report)
    write_text(os.path.join(out, "gpu_check.md"), render_markdown(report))


def _fmt(value, spec: str = ".2f", scale: float = 1.0, suffix: str = "") -> str:
    return "—" if value is None else f"{value * scale:{spec}}{suffix}"


def _verdict(target: dict | None) -> str:
    return "not measured" if target is None else ("**pass**" if target["pass"] else "**FAIL**")


def render_markdown(report: dict) -> str:
    """One section for docs/performance.md: what ran where, the targets, then each part's table."""
    m, parts, targets = report["machine"], report["parts"], report["targets"]
    dry = report["mode"] == "quick"
    title = (f"### GPU check: {m['device']}, {m['date']}" if not dry else
             f"### GPU check dry run (CPU, toy sizes; not a GPU measurement): {m['date']}")
    gpu = (f"CUDA {m.get('cuda')}, cuDNN {m.get('cudnn')}, driver {m.get('driver') or '?'}, "
           f"{m.get('gpu_memory_gib')} GiB, TF32: cuDNN {m['tf32']['cudnn']}, matmul {m['tf32']['matmul']}; "
           if m["device_type"] == "cuda" else "")
    lines = [title, "",
             f"`tools/gpu_check.py` ({report['mode']} mode, {_fmt(report.get('elapsed_s'), '.0f')} s of a "
             f"{report['budget_s']:.0f}-s budget), config `{report['config']}`; torch {m['torch']}, {gpu}"
             f"{m['cpu_cores']} CPU cores, /dev/shm {_fmt(m.get('shm_free_gib'), '.1f')} GiB free; "
             f"commit {m.get('commit') or 'unknown'}.", "",
             "| target | measured | result |", "|---|---|---|"]
    t = targets.get("tests")
    counts = t["value"] if t else {}
    lines.append("| every test marked `gpu` passes | "
                 + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "—")
                 + ("" if not t or t["complete"] else f" (pytest {parts['tests']['status']})") + f" | {_verdict(t)} |")
    t = targets.get("speedup")
    lines.append(f"| bf16 + channels-last (+ compile) ≥ {TARGETS['speedup']}× fp32 eager crops/s | "
                 + (f"{t['value']:.2f}× ({t['variant']})" if t else "—") + f" | {_verdict(t)} |")
    for kind in MEDIA_KINDS:
        t = targets.get(f"data_wait_{kind}")
        lines.append(f"| data wait ≤ {100 * TARGETS['data_wait']:.0f} %, {kind} files | "
                     f"{_fmt(t and t['value'], '.1f', 100, ' %')} | {_verdict(t)} |")
    t = targets.get("precision")
    lines.append(f"| bf16 loss within {100 * TARGETS['precision']:.0f} % of fp32 in every window | "
                 + (f"worst {100 * t['value']:.2f} % over {t['windows']} windows" if t else "—")
                 + f" | {_verdict(t)} |")
    status = ", ".join(f"{name} {p['status']} ({p['seconds']:.0f} s)" + (f": {p['error']}" if p.get("error") else "")
                       for name, p in parts.items())
    lines += ["", f"Parts: {status}."]
    lines += _train_table(parts.get("train")) + _loader_table(parts.get("loader"))
    lines += _precision_table(parts.get("precision")) + _tests_table(parts.get("tests"))
    return "\n".join(lines) + "\n"


def _failure(error: str) -> str:
    """An error message as one short table cell."""
    return "failed: " + " ".join(error.split())[:150].replace("|", "/")


def _table(intro: str, header: list[str], rows: list[list[str]], align: str) -> list[str]:
    """A paragraph and a Markdown table; ``align``: one letter per column, l(eft) or r(ight)."""
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return ["", intro, "", "| " + " | ".join(header) + " |", rule] + ["| " + " | ".join(row) + " |" for row in rows]


def _train_table(part: dict | None) -> list[str]:
    r = (part or {}).get("results") or {}
    if not r.get("variants"):
        return []
    base = next((v.get("crops_per_s") for v in r["variants"] if v["variant"] == "fp32"), None)
    rows = [[v["variant"], _fmt(v["crops_per_s"], ".1f"),
             _fmt(v["crops_per_s"] / base if base and v["crops_per_s"] else None, ".2f", suffix="×"),
             _fmt(v["median_step_s"], ".1f", 1000), f"{v['first_step_s']:.1f}", f"{v['peak_memory_gib']:.2f}",
             _fmt(v.get("tflops_per_s"), ".1f"), _fmt(v.get("mfu"), ".1f", 100, " %"),
             _fmt(v.get("matmul_fraction"), ".1f", 100, " %"), f"{v['losses'][0]:.4f} → {v['losses'][-1]:.4f}"]
            if "error" not in v else [v["variant"], _failure(v["error"])] + [""] * 8 for v in r["variants"]]
    rows += [[variant, "not run (out of time)"] + [""] * 8 for variant in r.get("skipped", [])]
    intro = (f"Training step, batch {r['batch_size']} × {r['views']} views on batches cached on the device "
             f"({_fmt(r.get('batches_gib'), '.2f')} GiB, in the peak memory); "
             f"{_fmt(r.get('flops_per_step'), '.1f', 1e-9)} GFLOP per step (forward + backward, counted); "
             f"bf16 peak {_fmt(r.get('peak_tflops'), '.1f')} TFLOP/s ({r.get('peak_source') or 'unknown device'}), "
             f"measured bf16 matmul {_fmt(r.get('matmul_tflops'), '.1f')} TFLOP/s; compile backend "
             f"{r['compile_backend']}:")
    return _table(intro, ["variant", "crops/s", "vs fp32", "step ms", "first step s", "peak GiB", "TFLOP/s", "MFU",
                          "of matmul", "loss first → last"], rows, "lrrrrrrrrl")


def _loader_table(part: dict | None) -> list[str]:
    r = (part or {}).get("results") or {}
    if not r.get("media"):
        return []
    step, source = r.get("simulated_step_s"), r.get("step_source")
    rows = [[kind, str(x["workers"]), _fmt(x.get("data_wait_fraction"), ".1f", 100, " %"),
             _fmt(x.get("device_transform_ms"), ".1f"), _fmt(x.get("capacity_samples_per_s"), ".1f"),
             _fmt(x.get("needed_samples_per_s"), ".1f"), str(x["timed_steps"])] if "error" not in x else
            [kind, str(x["workers"]), _failure(x["error"])] + [""] * 4
            for kind, x in r["media"].items()]
    intro = ("Loader, `augment_on: gpu`, the model step simulated by sleeping "
             + (f"{1000 * step:.1f} ms ({'given' if source == '--step-s' else f'the {source} step'})" if step
                else "0 ms (no step time measured)")
             + ":")
    return _table(intro, ["files", "workers", "data wait", "device transform ms", "loader samples/s",
                          "needed samples/s", "steps"], rows, "lrrrrrr")


def _precision_table(part: dict | None) -> list[str]:
    r = (part or {}).get("results") or {}
    if not r.get("windows"):
        return []
    rows = [[f"{w['steps'][0]}–{w['steps'][1]}", f"{w['fp32']:.4f}", f"{w['bf16']:.4f}",
             f"{100 * w['relative_difference']:.2f} %"] for w in r["windows"]]
    intro = (f"bf16 + channels-last vs fp32 eager, {r['steps']} steps from the same seed on {r['batches']} cached "
             "batches (mean loss per window):")
    return _table(intro, ["steps", "fp32", "bf16", "difference"], rows, "lrrr")


def _tests_table(part: dict | None) -> list[str]:
    r = (part or {}).get("results") or {}
    if not r.get("outcomes"):
        return []
    measured = {x["test"]: {k: v for k, v in x.items() if k != "test"} for x in r.get("measured", [])}
    rows = [[f"`{test}`", outcome, json.dumps(measured[test], separators=(", ", ": "))[:200]
             if test in measured else ""] for test, outcome in r["outcomes"].items()]
    return _table("Tests (tests/gpu/test_gpu.py), with the differences each measured:",
                  ["test", "outcome", "measured"], rows, "lll")
