"""A subject's training history drawn with plotext (textual-plotext's ``PlotextPlot``), and
the text table it falls back to where a plot cannot be read.

Pure functions of a :class:`SubjectHistory` and a plot object: what is drawn is decided here,
how is the library's. The x axis is days since the first session (plotext's date axis needs
its own string format; integer days with date labels read the same and keep gaps honest).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from one_tui.engine.core.history import Stage, SubjectHistory

if TYPE_CHECKING:
    from textual_plotext.plot import Plot

#: Colours per stage (plotext names; Textual maps them down to 256 or 16 colours).
STAGE_COLORS = {Stage.HABITUATION: "gray", Stage.TRAINING: "orange", Stage.BIASED: "cyan",
                Stage.EPHYS: "magenta", Stage.OTHER: "white", Stage.NONE: "gray"}
#: Short names for the table and the protocol line.
STAGE_SHORT = {Stage.NONE: "-", Stage.HABITUATION: "habituation", Stage.TRAINING: "training",
               Stage.BIASED: "biased", Stage.EPHYS: "ephys", Stage.OTHER: "other"}
#: Below this width or height the plots cannot be read: the table is shown instead.
MIN_PLOT_WIDTH = 50
MIN_PLOT_HEIGHT = 14
#: Below this width the legend would cover the points: the protocol line below says it.
LEGEND_WIDTH = 120


def day_of(history: SubjectHistory, day: date) -> int:
    first = history.sessions[0].date if history.sessions else day
    return (day - first).days


def _xticks(plt: Plot, history: SubjectHistory, width: int) -> None:
    """A few date labels along the axis (as many as fit at ``width``)."""
    if not history.sessions:
        return
    last = day_of(history, history.sessions[-1].date)
    n = max(2, min(6, width // 14))
    ticks = sorted({round(last * i / (n - 1)) for i in range(n)}) if last else [0]
    first = history.sessions[0].date
    labels = [date.fromordinal(first.toordinal() + t).isoformat()[2:] for t in ticks]
    plt.xticks([float(t) for t in ticks], labels)


def _changes(plt: Plot, history: SubjectHistory) -> None:
    for day, stage in history.protocol_changes:
        plt.vline(day_of(history, day), STAGE_COLORS[stage])


def draw_performance(plt: Plot, history: SubjectHistory, width: int) -> None:
    """% correct per session, coloured by protocol; habituation at 0 marked as such; a
    vertical line the day the protocol changed. Without performance: the protocol timeline."""
    plt.clear_data()
    plt.clear_figure()
    if not history.has_performance:
        draw_protocols(plt, history, width)
        return
    plt.title("% correct")
    for stage in (Stage.TRAINING, Stage.BIASED, Stage.EPHYS, Stage.OTHER):
        points = [(day_of(history, s.date), s.performance) for s in history.sessions
                  if s.stage is stage and s.performance is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            plt.scatter(list(xs), list(ys), color=STAGE_COLORS[stage],
                        label=stage.value if width >= LEGEND_WIDTH else None, marker="dot")
    none = [day_of(history, s.date) for s in history.sessions if s.no_performance]
    if none:
        plt.scatter(none, [0] * len(none), color=STAGE_COLORS[Stage.HABITUATION],
                    label="no trials scored" if width >= LEGEND_WIDTH else None,
                    marker="x")
    _changes(plt, history)
    plt.ylim(0, 100)
    _xticks(plt, history, width)


def draw_trials(plt: Plot, history: SubjectHistory, width: int) -> None:
    """Trials per session (records read), coloured by protocol."""
    plt.clear_data()
    plt.clear_figure()
    plt.title("trials per session")
    for stage in Stage:
        points = [(day_of(history, s.date), s.n_trials) for s in history.sessions
                  if s.stage is stage and s.n_trials is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            plt.scatter(list(xs), list(ys), color=STAGE_COLORS[stage], marker="dot")
    _changes(plt, history)
    plt.ylim(0, max([s.n_trials or 0 for s in history.sessions] + [10]))
    _xticks(plt, history, width)


def draw_protocols(plt: Plot, history: SubjectHistory, width: int) -> None:
    """The protocol of each session as a height (habituation 1 ... ephys 4): the timeline the
    tables alone give."""
    plt.title("protocol of each session (performance needs Alyx)")
    for stage in (Stage.HABITUATION, Stage.TRAINING, Stage.BIASED, Stage.EPHYS, Stage.OTHER):
        xs = [day_of(history, s.date) for s in history.sessions if s.stage is stage]
        if xs:
            plt.scatter(xs, [stage.rank] * len(xs), color=STAGE_COLORS[stage],
                        label=stage.value if width >= LEGEND_WIDTH else None, marker="dot")
    _changes(plt, history)
    plt.ylim(0, 4.5)
    plt.yticks([1, 2, 3, 4], ["hab", "train", "biased", "ephys"])
    _xticks(plt, history, width)


def protocol_line(history: SubjectHistory) -> str:
    """'habituation 2024-02-20 → training 2024-02-22 → ...': when each stage began."""
    if not history.sessions:
        return ""
    start = next((s for s in history.sessions if s.stage is not Stage.NONE), None)
    if start is None:
        return "no session has a task protocol"
    parts = [f"{STAGE_SHORT[start.stage]} {start.date.isoformat()}"]
    parts += [f"{STAGE_SHORT[stage]} {day.isoformat()}" for day, stage in
              history.protocol_changes]
    return " → ".join(parts)


def table_text(history: SubjectHistory) -> str:
    """The history as a fixed-width table (one line a session, newest first): what a narrow
    terminal shows instead of the plots."""
    lines = [f"{'date':<10} {'#':>2} {'protocol':<11} {'trials':>6} {'%':>5}"]
    for s in reversed(history.sessions):
        perf = "-" if s.performance is None else f"{s.performance:.1f}"
        if s.stage is Stage.HABITUATION:
            perf = "hab."
        trials = "" if s.n_trials is None else str(s.n_trials)
        lines.append(f"{s.date.isoformat():<10} {s.number:>2} {STAGE_SHORT[s.stage]:<11} "
                     f"{trials:>6} {perf:>5}")
    return "\n".join(lines)


def plot_points(history: SubjectHistory) -> list[dict[str, Any]]:
    """What the plots show, one dict a session (tests compare it with the server's records)."""
    return [{"eid": s.eid, "day": day_of(history, s.date), "stage": s.stage.value,
             "n_trials": s.n_trials, "performance": s.performance} for s in history.sessions]
