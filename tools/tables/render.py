"""Text for people: the plan as the --dry-run listing, and TABLES.md (the paper's layout, our number beside the
published one, the demo's targets)."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

from datasets import build_dataset
from evaluation.schema import EVAL_SCHEMA
from tools.tables.planner import Plan, command, ordered
from tools.tables.suites import GATE_SEEDS, KINETICS_ARCH, Cell, Gate, Suite, Table, cell_key, find_cell, find_row
from utils.config import load_config
from utils.runs import read_results


def describe(plan: Plan, launcher: Sequence[str]) -> str:
    """The --dry-run listing: each job in order with what it waits for and its exact command, then every cell with
    the (evaluation, pre-training) pair and the jobs behind it."""
    lines = [f"suite {plan.suite.name}: {len(plan.jobs)} jobs"]
    planned = {key[0] for key in plan.cells}
    lines += [f"{table.key}: {note}" for table in plan.suite.tables if table.key in planned
              for note in protocol_notes(table)]
    for i, job in enumerate(ordered(plan.jobs), 1):
        lines.append(f"[{i}/{len(plan.jobs)}] {job.key}" + (f"  (after: {', '.join(job.needs)})" if job.needs else ""))
        lines.append(f"    {shlex.join(command(job, launcher))}")
    lines.append("cells:")
    for (table, method, variant, column), entries in plan.cells.items():
        label = f"{method} {variant}".strip()
        jobs = "; ".join(f"seed {seed}: {job}" if plan.suite.seeded_runs else job for seed, job in entries) or \
               "not run (needs --kinetics-checkpoint)"
        cell = find_cell(plan.suite, table, method, variant, column)
        source = cell.source or find_row(plan.suite, table, method, variant).source
        lines.append(f"  {table} | {label} | column {column + 1} | {cell.metric} of {cell.evaluation} "
                     f"x {plan.suite.pretrain.get(source, KINETICS_ARCH)} -> {jobs}")
    return "\n".join(lines)


def read_metrics(path: str) -> dict[str, float] | None:
    results = read_results(path)
    return None if results is None else results["metrics"]


def collect(plan: Plan) -> dict[tuple, dict[int, float]]:
    """cell -> {seed: value} for every cell whose results.json exists; (*cell, metric) -> {seed: value} for the
    number a cell shows beside its compared one."""
    values = {}
    for key, entries in plan.cells.items():
        cell = find_cell(plan.suite, *key)
        values[key] = _seed_values(plan, entries, cell.metric)
        if cell.beside:
            values[(*key, cell.beside[1])] = _seed_values(plan, entries, cell.beside[1])
    return values


def _seed_values(plan: Plan, entries: list[tuple[int, str]], metric: str) -> dict[int, float]:
    found = {}
    for seed, job in entries:
        metrics = read_metrics(plan.metrics[job])
        if metrics is not None and metric in metrics:
            found[seed] = float(metrics[metric])
    return found


def _mean(values: dict[int, float]) -> float | None:
    return sum(values.values()) / len(values) if values else None


def format_cell(cell: Cell | None, values: dict[int, float], beside: dict[int, float] | None = None) -> str:
    """ours / published (ours − published), then "; <label> <value>" for a cell's ``beside`` number; "—": not run
    yet; "–": not in the paper (nor in the demo)."""
    if cell is None:
        return "–"
    text = _format_seeds(values)
    if cell.published is not None:
        ours = _mean(values)
        text = f"— / {cell.published:.2f}" if ours is None else \
            f"{text} / {cell.published:.2f} ({ours - cell.published:+.2f})"
    if cell.beside:
        text += f"; {cell.beside[0]} {_format_seeds(beside or {})}"
    return text


def _format_seeds(values: dict[int, float]) -> str:
    """The mean over seeds, and each seed's value in brackets when there are several; "—" for none."""
    ours = _mean(values)
    text = "—" if ours is None else f"{ours:.2f}"
    if ours is not None and len(values) > 1:
        text += " (" + " / ".join(f"{values[s]:.2f}" for s in sorted(values)) + ")"
    return text


def misalignment_protocol(config: str, overrides: Sequence[str] = ()) -> str | None:
    """How an AVSA-Bin evaluation config labels its test samples, in words (None for other tasks)."""
    cfg = load_config(config, overrides, required=("benchmark", "dataset"), schema=EVAL_SCHEMA)
    if cfg["benchmark"]["task"] != "avsa-bin":
        return None
    misalign = cfg["dataset"]["misalign"]
    rotation = "a yaw" if misalign["mode"] == "yaw" else "a 3-D rotation"
    if misalign["min_angle_deg"] == 0:
        extent = (f"{rotation} drawn uniformly over all angles, each one labelled misaligned however small "
                  f"(the original's protocol)")
    else:
        extent = f"{rotation} of at least {misalign['min_angle_deg']:g}° (near-zero rotations never drawn)"
    return f"{100 * misalign['probability']:g} % of the test samples have their audio rotated by {extent}"


def protocol_notes(table: Table) -> list[str]:
    """One line per distinct AVSA-Bin protocol among the table's cells, naming the configs that use it."""
    protocols: dict[str, list[str]] = {}
    for row in table.rows:
        for cell in row.cells:
            text = cell and misalignment_protocol(cell.evaluation, cell.overrides)
            if text and _short(cell.evaluation) not in protocols.setdefault(text, []):
                protocols[text].append(_short(cell.evaluation))
    return [f"AVSA-Bin protocol ({', '.join(configs)}): {text}." for text, configs in protocols.items()]


def render(suite: Suite, values: dict, *, only: Sequence[str] = (), test_clips: dict[str, int] | None = None) -> str:
    """TABLES.md: the paper's layout, one Markdown table per paper table (and the demo targets)."""
    published = any(c is not None and c.published is not None for t in suite.tables for r in t.rows for c in r.cells)
    lines = [f"# Tables 1–3 reproduced (suite: {suite.name})", ""]
    if published:
        lines.append("Each cell: ours / published (ours − published). \"—\": not run yet; \"–\": not in the paper.")
    else:
        lines.append("Each cell: the mean over training seeds (per-seed values in brackets, seed order). "
                     "\"—\": not run yet; \"–\": not part of the demo.")
    if suite.notes:
        lines += ["", suite.notes]
    for table in suite.tables:
        if only and table.key not in only:
            continue
        lines += ["", f"## {table.caption}", "",
                  "| Pre-training | | " + " | ".join(table.columns) + " |",
                  "|---|---|" + "---|" * len(table.columns)]
        for row in table.rows:
            cells = [format_cell(cell, values.get(cell_key(table, row, i), {}),
                                 values.get((*cell_key(table, row, i), cell.beside[1])) if cell and cell.beside
                                 else None)
                     for i, cell in enumerate(row.cells)]
            lines.append(f"| {row.label[0]} | {row.label[1]} | " + " | ".join(cells) + " |")
        notes = protocol_notes(table)
        if notes:
            lines += ["", *notes]
    if suite.gates:
        lines += ["", "## Demo targets", ""]
        seeds = sorted({s for t in suite.tables for r in t.rows for c in r.cells if c for s in c.seeds})
        lines.append(f"Means over training seeds {', '.join(map(str, GATE_SEEDS))} "
                     f"(other cells: seed {seeds[0]}).")
        if test_clips:
            lines.append("Test clips: " + ", ".join(f"{k}: {v}" for k, v in test_clips.items()) + ".")
        lines += ["", "| target | measured | result |", "|---|---|---|"]
        for gate in suite.gates:
            lines.append("| " + " | ".join(_gate_row(suite, gate, values)) + " |")
    return "\n".join(lines) + "\n"


def _gate_row_of(suite: Suite, table: str, method: str):
    """The row of a gate's (table, method, column) reference: the first of that method in the table."""
    return next(r for t in suite.tables if t.key == table for r in t.rows if r.label[0] == method)


def _gate_value(suite: Suite, ref: tuple[str, str, int], values: dict) -> float | None:
    table, method, column = ref
    return _mean(values.get((table, method, _gate_row_of(suite, table, method).label[1], column), {}))


def _gate_row(suite: Suite, gate: Gate, values: dict) -> tuple[str, str, str]:
    ours = _gate_value(suite, gate.cell, values)
    if gate.baseline is None:
        if ours is None:
            return gate.text, "—", "not run"
        return gate.text, f"{ours:.2f}", "pass" if ours >= gate.threshold else "FAIL"
    base = _gate_value(suite, gate.baseline, values)
    if ours is None or base is None:
        return gate.text, "—", "not run"
    return (gate.text, f"{ours:.2f} vs {base:.2f} ({ours - base:+.2f})",
            "pass" if ours >= base + gate.margin else "FAIL")


def gate_test_clips(suite: Suite) -> dict[str, int]:
    """Size of the test set behind each gate's evaluation config (the demo's "≥ 900 test clips")."""
    sizes = {}
    for gate in suite.gates:
        table, method, column = gate.cell
        config = _gate_row_of(suite, table, method).cells[column].evaluation
        if config not in sizes:
            cfg = load_config(config, required=("benchmark", "dataset"), schema=EVAL_SCHEMA)
            try:
                sizes[config] = len(build_dataset(cfg["dataset"], "test", seed=cfg["benchmark"]["test_seed"]))
            except Exception:  # noqa: BLE001 - the count is informative; a missing dataset must not stop the report
                continue
    return {_short(k): v for k, v in sizes.items()}


def _short(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]

