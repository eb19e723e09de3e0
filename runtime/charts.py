"""The /stats charts as PNG images, drawn with matplotlib's Agg backend (no display) in a
worker thread of their own, so that the event loop keeps answering updates while a chart is
drawn. No aiogram here: plain data in, PNG bytes out."""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

from bot.domain.insights import InsightsReport
from bot.domain.models import Tier

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "Source Han Sans SC",
    "SimHei",
)


@dataclass(frozen=True)
class ChartLabels:
    """The translated titles and legends (from the catalogs)."""

    members_title: str = "Members and active members"
    members: str = "Members"
    active: str = "Active members"
    retention_title: str = "Retention of weekly join cohorts"
    retention_after: str = "after {days} d"
    tiers_title: str = "Tier pyramid"
    tier_names: tuple[str, ...] = ("Newcomer", "Member", "Active", "Contributor", "Core")
    points_title: str = "Points issued and spent"
    issued: str = "Issued"
    spent: str = "Spent"


@lru_cache(maxsize=1)
def _matplotlib() -> ModuleType:
    """matplotlib with the Agg backend, imported at the first chart: it adds about 50 MB to
    the process, which a bot whose moderators never ask for /stats does not need."""
    import matplotlib

    matplotlib.use("Agg")
    # Several CJK fonts (SimHei, WenQuanYi) have no U+2212 MINUS SIGN and draw it as a box;
    # an ASCII hyphen draws negative numbers in every font.
    matplotlib.rcParams["axes.unicode_minus"] = False
    return matplotlib


def _shipped_cjk_font() -> str | None:
    """Registers the CJK font that comes with the dependencies (`noto-cjk-sans-otc`, SIL
    Open Font License) and returns its family name; None when it is not installed."""
    try:
        from noto_cjk_sans_otc import FONT_PATH
    except ImportError:
        return None
    from matplotlib import font_manager

    path = str(FONT_PATH)
    font_manager.fontManager.addfont(path)
    name: str = font_manager.FontProperties(fname=path).get_name()
    return name


@lru_cache(maxsize=1)
def _cjk_font() -> str | None:
    """The CJK font to draw Chinese with: the shipped one, else one the system has."""
    _matplotlib()
    from matplotlib import font_manager

    shipped = _shipped_cjk_font()
    if shipped is not None:
        return shipped
    names = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in names), None)


def usable_labels(labels: ChartLabels) -> tuple[ChartLabels, list[str]]:
    """The labels and the font family list to draw them with. Labels in a script the
    installed fonts cannot show (Chinese without a CJK font) fall back to English."""
    text = "".join(
        value if isinstance(value, str) else "".join(value) for value in vars(labels).values()
    )
    cjk = _cjk_font()
    if text.isascii():
        return labels, ["DejaVu Sans"]
    if cjk is not None:
        return labels, [cjk, "DejaVu Sans"]
    return ChartLabels(), ["DejaVu Sans"]


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


DPI = 100


def _figure(fonts: list[str], *, left: float = 0.08) -> Figure:
    """A fixed layout (a layout engine costs more time than the drawing itself)."""
    matplotlib = _matplotlib()
    from matplotlib.figure import Figure

    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["font.sans-serif"] = fonts
    figure = Figure(figsize=(8, 4.5), facecolor="white")
    figure.subplots_adjust(left=left, right=0.97, top=0.9, bottom=0.14)
    return figure


def _day_axis(axes: Any, days: Sequence[Any]) -> None:
    """Days as positions, with at most about 8 date labels."""
    step = max(1, math.ceil(len(days) / 8))
    ticks = list(range(0, len(days), step))
    axes.set_xticks(ticks, [f"{days[i]:%m-%d}" for i in ticks])


def members_chart(report: InsightsReport, labels: ChartLabels, fonts: list[str]) -> bytes:
    figure = _figure(fonts)
    axes = figure.subplots()
    days = [row.day for row in report.days]
    positions = range(len(days))
    axes.plot(positions, [row.members for row in report.days], label=labels.members)
    axes.plot(positions, [row.active for row in report.days], label=labels.active)
    axes.set_title(labels.members_title)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left")
    _day_axis(axes, days)
    return _png(figure)


def retention_chart(report: InsightsReport, labels: ChartLabels, fonts: list[str]) -> bytes:
    figure = _figure(fonts, left=0.2)
    axes = figure.subplots()
    cohorts = report.cohorts
    after = sorted({n for cohort in cohorts for n in cohort.retained}) or [1, 7, 30]
    grid: list[list[float]] = []
    for cohort in cohorts:
        row = []
        for n in after:
            share = cohort.retained.get(n)
            row.append(share[0] / share[1] * 100 if share and share[1] else float("nan"))
        grid.append(row)
    if not grid:
        grid = [[float("nan")] * len(after)]
    image = axes.imshow(grid, aspect="auto", cmap="YlGn", vmin=0, vmax=100)
    axes.set_xticks(range(len(after)), [labels.retention_after.format(days=n) for n in after])
    axes.set_yticks(range(len(cohorts)), [f"{c.week:%Y-%m-%d} ({c.members})" for c in cohorts])
    for y, row in enumerate(grid):
        for x, value in enumerate(row):
            if not math.isnan(value):
                axes.text(x, y, f"{value:.0f}%", ha="center", va="center", fontsize=8)
    figure.colorbar(image, ax=axes, format="%.0f%%")
    axes.set_title(labels.retention_title)
    return _png(figure)


def tiers_chart(report: InsightsReport, labels: ChartLabels, fonts: list[str]) -> bytes:
    figure = _figure(fonts, left=0.15)
    axes = figure.subplots()
    tiers = list(Tier)
    counts = [report.tiers.get(tier, 0) for tier in tiers]
    names = [
        labels.tier_names[tier] if tier < len(labels.tier_names) else tier.name for tier in tiers
    ]
    widest = max(counts) or 1
    axes.barh(
        range(len(tiers)),
        counts,
        left=[-(count / 2) for count in counts],
        color=["#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c"][: len(tiers)],
    )
    for y, count in enumerate(counts):
        axes.text(widest / 2 + widest * 0.02, y, str(count), va="center", fontsize=9)
    axes.set_yticks(range(len(tiers)), names)
    axes.set_xlim(-widest / 2 * 1.05, widest / 2 * 1.3)
    axes.set_xticks([])
    axes.set_title(labels.tiers_title)
    return _png(figure)


def points_chart(report: InsightsReport, labels: ChartLabels, fonts: list[str]) -> bytes:
    figure = _figure(fonts)
    axes = figure.subplots()
    days = [row.day for row in report.days]
    positions = range(len(days))
    axes.bar(positions, [row.issued for row in report.days], label=labels.issued, color="#2ca02c")
    axes.bar(positions, [-row.spent for row in report.days], label=labels.spent, color="#d62728")
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set_title(labels.points_title)
    axes.grid(alpha=0.3, axis="y")
    axes.legend(loc="upper left")
    _day_axis(axes, days)
    return _png(figure)


CHARTS: tuple[Callable[[InsightsReport, ChartLabels, list[str]], bytes], ...] = (
    members_chart,
    retention_chart,
    tiers_chart,
    points_chart,
)


def render_all(report: InsightsReport, labels: ChartLabels) -> list[bytes]:
    """Every /stats chart, in the album's order."""
    usable, fonts = usable_labels(labels)
    return [chart(report, usable, fonts) for chart in CHARTS]


def _warm_up() -> None:
    """A first small drawing: loads matplotlib, its fonts and its renderer's caches."""
    _cjk_font()  # registers the shipped CJK font before the first Chinese chart
    figure = _figure(usable_labels(ChartLabels())[1])
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], label="0")
    axes.set_title("0")
    axes.legend()
    _png(figure)


class ChartRenderer:
    """Draws charts in one worker thread (matplotlib's state is not shared between threads,
    so drawings run one at a time) and awaits them without blocking the event loop."""

    def __init__(
        self, render: Callable[[InsightsReport, ChartLabels], Sequence[bytes]] = render_all
    ) -> None:
        self._render = render
        self._executor: ThreadPoolExecutor | None = None

    def _worker(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="charts")
        return self._executor

    def warm_up(self) -> asyncio.Future[None]:
        """Imports matplotlib and finds the fonts in the worker, off the event loop, so that
        the first /stats does not pay for it (about half a second)."""
        return asyncio.get_running_loop().run_in_executor(self._worker(), _warm_up)

    async def render(self, report: InsightsReport, labels: ChartLabels) -> list[bytes]:
        loop = asyncio.get_running_loop()
        return list(await loop.run_in_executor(self._worker(), self._render, report, labels))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
