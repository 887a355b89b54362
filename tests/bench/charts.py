"""Charts for the benchmark report, as plain SVG (no plotting library to install).

`latency_chart` draws the distribution of submit → audited latencies of each run: for every
latency on the (logarithmic) x axis, the share of cases audited within it, on a scale of
nines (0, 90, 99, 99.9 % equally spaced), so that the tail the targets are about is as
readable as the median. A target such as "p99 <= 100 ms" reads as: the curve must cross the
99 % line left of the 100 ms line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 60, 200, 40, 50
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
NINES = 3  # the top of the y axis: 99.9 %
POINTS = 200  # per curve: enough for a smooth line, small enough for a readable file


def latency_chart(
    runs: Mapping[str, Sequence[float]], *, title: str, target_ms: float | None = None
) -> str:
    """An SVG of the cumulative distribution of each run's latencies (milliseconds)."""
    samples = {name: sorted(v for v in values if v > 0) for name, values in runs.items()}
    samples = {name: values for name, values in samples.items() if values}
    if not samples:
        raise ValueError("no latencies to draw")
    low = 10 ** math.floor(math.log10(min(v[0] for v in samples.values())))
    high = 10 ** math.ceil(math.log10(max(v[-1] for v in samples.values())))
    if target_ms is not None:
        high = max(high, 10 ** math.ceil(math.log10(target_ms)))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(ms: float) -> float:
        return LEFT + plot_w * math.log10(ms / low) / math.log10(high / low)

    def y(share: float) -> float:
        nines = -math.log10(1 - min(share, 1 - 10**-NINES))
        return TOP + plot_h * (1 - nines / NINES)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    decade = low
    while decade <= high:
        parts.append(_line(x(decade), TOP, x(decade), TOP + plot_h, "#ddd"))
        parts.append(_text(x(decade), TOP + plot_h + 16, f"{decade:g} ms", "middle"))
        decade *= 10
    for share, label in (
        (0, "0 %"),
        (0.5, "50 %"),
        (0.9, "90 %"),
        (0.99, "99 %"),
        (0.999, "99.9 %"),
    ):
        parts.append(_line(LEFT, y(share), LEFT + plot_w, y(share), "#ddd"))
        parts.append(_text(LEFT - 6, y(share) + 4, label, "end"))
    parts.append(_text(LEFT + plot_w / 2, HEIGHT - 10, "submit → audited (log scale)", "middle"))
    if target_ms is not None:
        parts.append(_line(x(target_ms), TOP, x(target_ms), TOP + plot_h, "#555", dashed=True))
        parts.append(_text(x(target_ms) + 4, TOP + 12, f"target {target_ms:g} ms", "start"))
    for i, (name, values) in enumerate(samples.items()):
        colour = COLOURS[i % len(COLOURS)]
        # Evenly spaced on the nines scale, so the tail keeps its detail.
        ranks = sorted(
            {
                min(len(values) - 1, int(len(values) * (1 - 10 ** (-NINES * i / POINTS))))
                for i in range(POINTS + 1)
            }
            | {len(values) - 1}
        )
        picked = [(values[k], (k + 1) / len(values)) for k in ranks]
        path = " ".join(f"{x(ms):.1f},{y(share):.1f}" for ms, share in picked)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}">'
            f"<title>{escape(name)}</title></polyline>"
        )
        legend_y = TOP + 10 + 18 * i
        parts.append(_line(WIDTH - RIGHT + 12, legend_y, WIDTH - RIGHT + 32, legend_y, colour))
        parts.append(_text(WIDTH - RIGHT + 38, legend_y + 4, name, "start"))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _line(x1: float, y1: float, x2: float, y2: float, colour: str, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}"{dash}/>'
    )


def _text(x: float, y: float, text: str, anchor: str) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'
