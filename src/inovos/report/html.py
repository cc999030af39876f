"""The report page: one self-contained HTML string (inline CSS and SVG, data: URI images).

Nothing here reads files; `inovos.report.build` gathers the data. Every piece of
text that comes from the user or the file system is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from inovos.evaluation.results import GLOBAL_COLUMNS
from inovos.report.charts import bar_chart, line_chart, series_colour
from inovos.report.runs import RunScores
from inovos.report.train_log import LOSS_TERMS, TrainLog

_LOWER_IS_BETTER = ("J-Decay", "F-Decay")

_CSS = """
:root { color-scheme: light; }
body { margin: 0; background: #f6f7f9; color: #22262b;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1380px; margin: 0 auto; padding: 24px 28px 40px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0 0 12px; }
section { background: #fff; border: 1px solid #e2e5e9; border-radius: 8px;
  padding: 18px 20px; margin: 18px 0; }
.meta { color: #5b626b; margin: 0; }
.meta code { background: #eef0f3; padding: 1px 5px; border-radius: 4px; }
.note { color: #6b727b; font-size: 13px; margin: 8px 0 0; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 12px; border-bottom: 1px solid #e6e8eb; }
thead th { background: #f1f3f5; text-align: right; font-weight: 600; }
thead th:first-child, td.run { text-align: left; }
td.num { text-align: right; }
td.best { font-weight: 700; }
tbody tr:nth-child(even) { background: #fafbfc; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 7px; }
.path { color: #6b727b; font-size: 12px; }
.record { color: #6b727b; font-size: 12px; max-width: 36em; white-space: normal; }
svg.chart { max-width: 100%; height: auto; font-size: 12px; fill: #3c4148; }
svg.chart .chart-title { font-size: 13px; font-weight: 600; }
svg.chart .tick, svg.chart .value { fill: #6b727b; font-size: 11px; }
svg.chart .axis { fill: #5b626b; }
.charts { display: flex; flex-wrap: wrap; gap: 12px 20px; }
.cards { display: flex; flex-wrap: wrap; gap: 16px; }
.card { border: 1px solid #e2e5e9; border-radius: 8px; padding: 10px 12px; max-width: 100%;
  box-sizing: border-box; }
.card h3 { font-size: 15px; margin: 0 0 4px; }
.scores { margin: 0 0 8px; font-size: 13px; color: #4a5058; }
.scores span { margin-right: 14px; white-space: nowrap; }
figure { display: inline-block; margin: 0; max-width: 100%; }
figcaption { display: flex; font-size: 12px; color: #6b727b; }
figcaption span { flex: 1; }
figure img { display: block; max-width: 100%; height: auto; border-radius: 4px; }
footer { color: #8a9099; font-size: 12px; text-align: center; }
"""


@dataclass(frozen=True)
class SequenceCard:
    """One sequence of the animation grid.

    Attributes:
        name: sequence name.
        image_uri: data: URI of the animation (ground truth beside prediction), or None.
        note: why there is no image (shown instead of it).
    """

    name: str
    image_uri: str | None
    note: str = ""


def percent(value: float) -> str:
    """A fraction as a percentage with one decimal ("n/a" for NaN)."""
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}"


def _swatch(i: int) -> str:
    return f'<span class="swatch" style="background:{series_colour(i)}"></span>'


def _config_block(log: TrainLog) -> str:
    """The training run's saved config.yaml, folded."""
    if log.config is None:
        return '<p class="note">no config.yaml beside the log</p>'
    return (
        "<details><summary>config.yaml</summary>"
        f'<pre class="config">{escape(log.config)}</pre></details>'
    )


def _record_note(run: RunScores) -> str:
    """The run's settings from its ``run.json`` (model, protocol, versions), one line."""
    from inovos.records import summary_line

    if run.record is None:
        return '<div class="record">no run.json: settings not recorded</div>'
    return f'<div class="record">{escape(summary_line(run.record))}</div>'


def scores_table(runs: Sequence[RunScores]) -> str:
    """The global J&F table: one row per run, values in percent, the best in bold."""
    best = {}
    for column in GLOBAL_COLUMNS:
        values = [r.global_scores[column] for r in runs if not math.isnan(r.global_scores[column])]
        if values and len(runs) > 1:
            best[column] = min(values) if column in _LOWER_IS_BETTER else max(values)
    head = "".join(f"<th>{escape(c)}</th>" for c in ("Run", "Objects", *GLOBAL_COLUMNS))
    rows = []
    for i, run in enumerate(runs):
        cells = [
            f'<td class="run">{_swatch(i)}{escape(run.name)}'
            f'<div class="path">{escape(str(run.path))}</div>{_record_note(run)}</td>',
            f'<td class="num">{run.num_objects}</td>',
        ]
        for column in GLOBAL_COLUMNS:
            value = run.global_scores[column]
            cls = "num best" if best.get(column) == value else "num"
            cells.append(
                f'<td class="{cls}" data-column="{escape(column)}" data-value="{value!r}">'
                f"{percent(value)}</td>"
            )
        rows.append(f'<tr data-run="{escape(run.name)}">{"".join(cells)}</tr>')
    return (
        f'<table class="scores-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def sequence_bars(runs: Sequence[RunScores], sequences: Sequence[str]) -> str:
    """Per-sequence J&F bars (percent), one bar per run."""
    series = [
        (run.name, [100 * run.sequence_jf[s] if s in run.sequence_jf else None for s in sequences])
        for run in runs
    ]
    return bar_chart(sequences, series, max_value=100.0, title="J&F-Mean per sequence (%)")


def _curve_order(name: str) -> tuple[int, int, str]:
    """Sort key: losses first, then the INO terms in their usual order, then the rest."""
    last = name.rsplit("/", 1)[-1]
    if last.startswith("loss"):
        return 0, 0, name
    if last in LOSS_TERMS:
        return 1, LOSS_TERMS.index(last), name
    return 2, 0, name


def loss_charts(log: TrainLog) -> str:
    """One small line chart per metric of the training log."""
    if not log.curves:
        return f'<p class="note">No loss values found in {escape(str(log.path))}.</p>'
    charts = [
        line_chart([(name, *log.curves[name])], title=name, x_label=log.x_key, width=340)
        for name in sorted(log.curves, key=_curve_order)
    ]
    return f'<div class="charts loss-charts">{"".join(charts)}</div>'


def _card(card: SequenceCard, runs: Sequence[RunScores], animated: str) -> str:
    scores = "".join(
        f"<span>{_swatch(i)}{escape(run.name)}: "
        f"{percent(run.sequence_jf.get(card.name, math.nan))}</span>"
        for i, run in enumerate(runs)
    )
    if card.image_uri is None:
        body = f'<p class="note">{escape(card.note)}</p>'
    else:
        body = (
            f"<figure><figcaption><span>ground truth</span><span>{escape(animated)}</span>"
            f'</figcaption><img class="animation" src="{escape(card.image_uri)}" '
            f'alt="{escape(card.name)}: ground truth and {escape(animated)}"></figure>'
        )
    return (
        f'<div class="card" id="seq-{escape(card.name)}"><h3>{escape(card.name)}</h3>'
        f'<p class="scores">J&amp;F: {scores}</p>{body}</div>'
    )


def render_page(
    *,
    runs: Sequence[RunScores],
    sequences: Sequence[str],
    cards: Sequence[SequenceCard],
    animated_run: str,
    meta: Sequence[tuple[str, str]],
    train_log: TrainLog | None = None,
    footer: str = "",
) -> str:
    """The whole report page.

    Args:
        runs: the runs compared, in display order (colours follow this order).
        sequences: sequences of the bar chart, top to bottom.
        cards: one animation card per sequence.
        animated_run: name of the run whose predictions the animations show.
        meta: (label, value) pairs shown under the title (dataset, split, ...).
        train_log: curves of a training log, or None for no training section.
        footer: a line of small print at the bottom.

    Returns:
        A complete HTML5 document.
    """
    info = " &middot; ".join(f"{escape(k)}: <code>{escape(v)}</code>" for k, v in meta)
    sections = [
        "<section><h2>Global scores (%)</h2>"
        f"{scores_table(runs)}"
        '<p class="note">DAVIS-2017 semi-supervised protocol; statistics averaged over '
        "objects. Decay: lower is better. Best value per column in bold.</p></section>",
        f"<section><h2>Per-sequence J&amp;F</h2>{sequence_bars(runs, sequences)}</section>",
    ]
    if train_log is not None:
        sections.append(
            "<section><h2>Training</h2>"
            f'<p class="meta">log: <code>{escape(str(train_log.path))}</code></p>'
            f'<p class="train-status">{escape(train_log.status)}</p>'
            f"{loss_charts(train_log)}{_config_block(train_log)}</section>"
        )
    sections.append(
        f"<section><h2>Sequences: ground truth and {escape(animated_run)}</h2>"
        f'<div class="cards">{"".join(_card(c, runs, animated_run) for c in cards)}</div>'
        "</section>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>inovos report</title><style>{_CSS}</style></head>"
        f'<body><main><h1>inovos report</h1><p class="meta">{info}</p>'
        f"{''.join(sections)}<footer>{escape(footer)}</footer></main></body></html>\n"
    )
