"""The tables of the reproduction suites as plain data: every cell names its pre-training row, its evaluation config,
the metric of that evaluation's results.json and the published number; the demo adds its seeds, targets and figures.
Python rather than YAML: the paper's 72 cells come from one line per row through small helpers (a YAML file would
list every cell or reinvent the helpers), and the planner and tests use these dataclasses directly."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cell:
    """One number of a table: the evaluation that produces it and where it is in that evaluation's results."""

    evaluation: str                      # eval config (its benchmark.task picks the eval-*.py script)
    metric: str                          # key of results.json's "metrics", the one compared with ``published``
    published: float | None = None       # the paper's number (None at demo scale)
    beside: tuple[str, str] | None = None  # (label, metric key): a second number printed after the comparison
    overrides: tuple[str, ...] = ()      # --set for the eval config
    seeds: tuple[int, ...] = (0,)        # demo: the cell is the mean over these training seeds
    source: str | None = None            # pre-training row, when not the row's own (End-to-end starts from AVSA)


@dataclass(frozen=True)
class Row:
    label: tuple[str, str]               # (method, variant) as printed
    source: str                          # key of Suite.pretrain, or KINETICS
    cells: tuple[Cell | None, ...]       # one per column; None: not in the paper ("–")


@dataclass(frozen=True)
class Table:
    key: str                             # --only name
    caption: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Gate:
    """A demo target: mean of ``cell`` ≥ ``threshold``, or ≥ the mean of ``baseline`` + ``margin``."""

    text: str
    cell: tuple[str, str, int]           # (table key, row method, column index)
    threshold: float | None = None
    baseline: tuple[str, str, int] | None = None
    margin: float = 0.0


@dataclass(frozen=True)
class Suite:
    name: str
    pretrain: dict[str, str]             # row source -> pre-training config
    tables: tuple[Table, ...]
    folds: tuple[int, ...] = ()          # action recognition: --folds (mean over the official splits)
    seeded_runs: bool = False            # run directories per seed (…-seed<S>) and seed=<S> for every script
    data: tuple[str, ...] = ()           # a command that generates the data (idempotent), run first
    data_done: str | None = None         # the manifest that says the data is complete
    pretrain_overrides: dict[str, tuple[str, ...]] = field(default_factory=dict)
    gates: tuple[Gate, ...] = ()
    figures: tuple[tuple[str, ...], ...] = ()  # visualize.py argument templates (see planner._figure_jobs)
    figures_dir: str | None = None       # where the figures go (None: --output); the demo's: the README's
    notes: str = ""


KINETICS = "kinetics"  # rows whose encoders come from --kinetics-checkpoint
KINETICS_ARCH = "configs/main/avsa/InstDisc.yaml"  # the R(2+1)D-18 + audio CNN the checkpoint is loaded into

PAPER_MAIN = "configs/main/avsa/"
BENCH = "configs/benchmark/"


def _bin(kind: str, transf: str, crops: int, published: float) -> Cell:
    return Cell(f"{BENCH}{kind}/{kind}-{transf}-{crops}crop.yaml", "Acc@1", published)


def _segm(variant: str, pix_acc: float, miou: float, source: str | None = None) -> tuple[Cell, Cell]:
    """The published mIoU is the original's per-image mean: compare that, and show the dataset-level mIoU after it."""
    config = f"{BENCH}segmentation/yt360-fpn-4crop-{variant}.yaml"
    return (Cell(config, "PixAcc", pix_acc, source=source),
            Cell(config, "mIoU/per-image", miou, source=source, beside=("dataset-level", "mIoU")))


def _action(suffix: str, ucf: tuple[float, float], hmdb: tuple[float, float]) -> tuple[Cell, ...]:
    return (Cell(f"{BENCH}ucf/ucf-8at16{suffix}.yaml", "Clip@1", ucf[0]),
            Cell(f"{BENCH}ucf/ucf-8at16{suffix}.yaml", "Video@1", ucf[1]),
            Cell(f"{BENCH}hmdb/hmdb-8at16{suffix}.yaml", "Clip@1", hmdb[0]),
            Cell(f"{BENCH}hmdb/hmdb-8at16{suffix}.yaml", "Video@1", hmdb[1]))


def _table1_row(method: str, variant: str, source: str, avc: tuple, avsa: tuple) -> Row:
    """avc, avsa: published (1 viewpoint, 4 viewpoints); None where the paper has "–" (transf. with 1 viewpoint)."""
    transf = "transf" if variant == "transf." else "notransf"
    cells = tuple(_bin(kind, transf, crops, value) if value is not None else None
                  for kind, values in (("avc", avc), ("avsa", avsa)) for crops, value in zip((1, 4), values))
    return Row((method, variant), source, cells)


_NONE2 = (None, None)

PAPER = Suite(
    name="paper",
    # Pre-training rows: one config per method (README, "Reproducing Tables 1–3"). The curriculum configs point
    # model.init_from at InstDisc's snapshot (phase 1).
    pretrain={
        "AVC": f"{PAPER_MAIN}InstDisc.yaml",
        "AVC-transf": f"{PAPER_MAIN}AVC-Loc4-TransfD2.yaml",
        "AVTS": f"{PAPER_MAIN}AVTS.yaml",
        "AVTS-transf": f"{PAPER_MAIN}AVTS-Loc4-TransfD2.yaml",
        "AVSA": f"{PAPER_MAIN}Cur-Loc4-TransfD2.yaml",
        "AVSA-nocur": f"{PAPER_MAIN}NoCur-Loc4-TransfD2.yaml",
        "AVSA-mlp": f"{PAPER_MAIN}Cur-Loc4-MLP.yaml",
    },
    folds=(1, 2, 3),
    tables=(
        Table("table1", "Table 1: accuracy (%) of binary AVC and AVSA predictions on the YT-360 test set",
              ("AVC-Bin, 1 viewpoint", "AVC-Bin, 4 viewpoints", "AVSA-Bin, 1 viewpoint", "AVSA-Bin, 4 viewpoints"),
              (_table1_row("AVC", "no transf.", "AVC", (79.82, 82.68), (59.48, 59.25)),
               _table1_row("AVC", "transf.", "AVC-transf", (None, 83.87), (None, 61.20)),
               _table1_row("AVTS", "no transf.", "AVTS", (80.08, 82.77), (59.78, 60.37)),
               _table1_row("AVTS", "transf.", "AVTS-transf", (None, 83.77), (None, 60.73)),
               _table1_row("AVSA", "no transf.", "AVSA", (86.19, 91.67), (64.97, 68.87)),
               _table1_row("AVSA", "transf.", "AVSA", (None, 89.83), (None, 69.97)))),
        Table("table2", "Table 2: pixel accuracy and mIoU (%) of semantic segmentation on the YT-360 test set",
              ("Video only, Pix Acc", "Video only, mIoU", "+Audio, Pix Acc", "+Audio, mIoU",
               "+Audio+Context, Pix Acc", "+Audio+Context, mIoU"),
              (Row(("AVC", ""), "AVC", (*_segm("head-vonly", 71.16, 32.85), *_segm("head-audio", 71.07, 32.69),
                                        *_NONE2)),
               Row(("AVTS", ""), "AVTS", (*_segm("head-vonly", 73.24, 34.88), *_segm("head-audio", 72.97, 34.88),
                                          *_NONE2)),
               Row(("AVSA", ""), "AVSA", (*_segm("head-vonly", 73.44, 35.11), *_segm("head-audio", 73.11, 34.63),
                                          *_segm("head-audio-ctx", 73.85, 35.83))),
               Row(("AVSA (no curr.)", ""), "AVSA-nocur",
                   (*_segm("head-vonly", 71.95, 33.66), *_segm("head-audio", 71.49, 33.23),
                    *_segm("head-audio-ctx", 72.06, 34.30))),
               Row(("AVSA (mlp)", ""), "AVSA-mlp",
                   (*_segm("head-vonly", 73.10, 35.02), *_segm("head-audio", 73.21, 34.83),
                    *_segm("head-audio-ctx", 72.68, 34.35))),
               Row(("Kinetics (sup)", ""), KINETICS, (*_segm("head-vonly", 75.47, 36.91), *_NONE2, *_NONE2)),
               # "we trained the whole system end-to-end" (paper Sec. 3.2): from the AVSA model, encoders fine-tuned
               Row(("End-to-end", ""), "AVSA", (*_segm("e2e-vonly", 77.37, 41.05), *_segm("e2e-audio", 77.93, 42.00),
                                                *_segm("e2e-audio-ctx", 79.65, 43.21))))),
        Table("table3", "Table 3: action recognition, top-1 accuracy (%) on UCF101 and HMDB51 (mean over the three "
                        "official splits)",
              ("UCF Clip@1", "UCF Video@1", "HMDB Clip@1", "HMDB Video@1"),
              (Row(("Scratch", ""), "AVSA", _action("-scratch", (54.85, 59.95), (27.40, 31.10))),
               Row(("Kinetics Sup.", ""), KINETICS, _action("", (78.50, 83.43), (46.45, 51.90))),
               Row(("AVC", ""), "AVC", _action("", (64.63, 69.68), (31.33, 34.58))),
               Row(("AVTS", ""), "AVTS", _action("", (65.65, 70.34), (32.29, 35.89))),
               Row(("AVSA", ""), "AVSA", _action("", (68.52, 73.80), (32.96, 37.66))))),
    ),
    notes="Table 3 is the mean over the three official splits (eval-action-recg.py --folds 1,2,3). Table 1's "
          "transf. rows evaluate g_v2a's prediction from the video (use_transf); Table 2's End-to-end row fine-tunes "
          "the AVSA (curriculum) model. Table 2's mIoU cells compare the original's per-image mIoU (the mean IoU "
          "over the classes present in each test viewpoint, mIoU/per-image), which the published numbers come "
          "from, and give the dataset-level mIoU (one confusion matrix over the whole test set) after it.",
)

# ---------------------------------------------------------------------------------------------------- demo suite
DEMO_BENCH = "configs/demo/benchmark/"
DEMO_SUITE = "configs/demo/suite/"
GATE_SEEDS = (0, 1)
_RANDOM = ("benchmark.scratch=true",)
# The 15-minute budget (docs/demo.md): a probe's cost is its data (decode, crops, rotation, log-mel ≈ 8-13 CPU ms per
# 4-view sample), so the cells that are not demo targets compute the frozen features of one epoch's draws instead of
# two and test on 150 clips; the targets keep 2 draws and 900 test clips.
_LIGHT = ("benchmark.feature_draws=1", "dataset.test.clips_per_video=1")


def _demo_bin(config: str, seeds=(0,), overrides=()) -> Cell:
    light = () if seeds == GATE_SEEDS else _LIGHT
    return Cell(config, "Acc@1", seeds=seeds, overrides=(*overrides, *light))


def _demo_table1_row(method: str, variant: str, source: str, avsa_4_seeds, transf: bool = False,
                     overrides=(), gate_only: bool = False) -> Row:
    """gate_only: only the AVSA-Bin 4-viewpoint cell (the random-init baseline of the demo targets)."""
    kind = "transf" if transf else "notransf"
    skip = transf or gate_only
    cells = (None if skip else _demo_bin(f"{DEMO_SUITE}avc-notransf-1crop.yaml", overrides=overrides),
             None if skip else _demo_bin(f"{DEMO_BENCH}avc.yaml", overrides=overrides),
             None if skip else _demo_bin(f"{DEMO_SUITE}avsa-notransf-1crop.yaml", overrides=overrides),
             _demo_bin(f"{DEMO_BENCH}avsa.yaml" if not transf else f"{DEMO_SUITE}avsa-{kind}-4crop.yaml",
                       avsa_4_seeds, overrides))
    return Row((method, variant), source, cells)


DEMO = Suite(
    name="demo",
    pretrain={"AVC": "configs/demo/avc.yaml", "AVSA": "configs/demo/avsa.yaml"},
    seeded_runs=True,
    data=("tools/make_synthetic_data.py", "data/synthetic"),
    data_done="data/synthetic/synthetic.json",
    tables=(
        Table("table1", "Table 1 (demo): AVC-Bin and AVSA-Bin accuracy (%) on the synthetic YT-360 test set",
              ("AVC-Bin, 1 viewpoint", "AVC-Bin, 4 viewpoints", "AVSA-Bin, 1 viewpoint", "AVSA-Bin, 4 viewpoints"),
              (_demo_table1_row("random init", "no transf.", "AVSA", GATE_SEEDS, overrides=_RANDOM, gate_only=True),
               _demo_table1_row("AVC", "no transf.", "AVC", GATE_SEEDS),
               _demo_table1_row("AVSA", "no transf.", "AVSA", GATE_SEEDS),
               _demo_table1_row("AVSA", "transf.", "AVSA", (0,), transf=True))),
        Table("table2", "Table 2 (demo): segmentation of the synthetic YT-360 test viewpoints, FPN head on frozen "
                        "encoders, video only",
              ("Pix Acc", "mIoU", "mIoU things", "mIoU stuff"),
              tuple(Row((method, ""), source, tuple(Cell(f"{DEMO_BENCH}segmentation.yaml", metric, overrides=o)
                                                    for metric in ("PixAcc", "mIoU", "mIoU/things", "mIoU/stuff")))
                    for method, source, o in (("random init", "AVSA", _RANDOM), ("AVC", "AVC", ()),
                                              ("AVSA", "AVSA", ())))),
        Table("table3", "Table 3 (demo): action recognition on the synthetic UCF101-layout set (5 motion classes), "
                        "full fine-tuning",
              ("Clip@1", "Video@1"),
              tuple(Row((method, ""), source, (Cell(f"{DEMO_BENCH}ucf.yaml", "Clip@1", overrides=o),
                                               Cell(f"{DEMO_BENCH}ucf.yaml", "Video@1", overrides=o)))
                    for method, source, o in (("Scratch", "AVSA", _RANDOM), ("AVC", "AVC", ()),
                                              ("AVSA", "AVSA", ())))),
    ),
    gates=(
        Gate("AVSA-Bin (4 viewpoints) of the AVSA-pretrained encoders ≥ 65 %", ("table1", "AVSA", 3), threshold=65.0),
        Gate("AVSA-Bin of AVSA-pretrained ≥ AVC-pretrained + 5 points", ("table1", "AVSA", 3),
             baseline=("table1", "AVC", 3), margin=5.0),
        Gate("AVSA-Bin of AVC-pretrained ≥ random init + 3 points", ("table1", "AVC", 3),
             baseline=("table1", "random init", 3), margin=3.0),
    ),
    # The figures the README shows, written where it shows them: a fresh clone's `make demo` redraws them.
    figures=(
        ("method", "{pretrain:AVSA}", "--split", "test", "--index", "0"),
        ("sample", "{pretrain:AVSA}", "--split", "test", "--index", "0"),
        ("localize", "{pretrain:AVSA}", "--checkpoint", "{checkpoint:AVSA}", "--split", "test", "--index", "0"),
        ("segmentation", "{eval:table2:AVSA:0}"),
        ("curves", "{run:AVSA}"),
    ),
    figures_dir="docs/demo",
    notes="Demo scale: synthetic data (tools/make_synthetic_data.py), tiny encoders, minutes of CPU training; the "
          "numbers are not comparable with the paper's and no published value is shown. AVC-Bin does not separate "
          "the methods at this scale (both pre-trainings score high on it, docs/demo.md); AVSA-Bin does. "
          "\"random init\" / \"Scratch\": the same encoders, randomly initialised (benchmark.scratch).",
)

SUITES = {"paper": PAPER, "demo": DEMO}


def cell_key(table: Table, row: Row, column: int) -> tuple[str, str, str, int]:
    return table.key, row.label[0], row.label[1], column


def find_row(suite: Suite, table: str, method: str, variant: str) -> Row:
    return next(r for t in suite.tables if t.key == table for r in t.rows if r.label == (method, variant))


def find_cell(suite: Suite, table: str, method: str, variant: str, column: int) -> Cell:
    return find_row(suite, table, method, variant).cells[column]
