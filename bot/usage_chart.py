"""A usage report as a PNG bar chart (Pillow): seconds per user and per model.

Blocking (drawing and PNG encoding); call it from the event loop through
`asyncio.to_thread`.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Mapping

from PIL import Image, ImageDraw, ImageFont

from bot.reports import UsageReport

WIDTH = 800
ROW_HEIGHT = 26
MARGIN = 16
LABEL_WIDTH = 220
MAX_BARS = 15
BACKGROUND = (43, 45, 49)
FOREGROUND = (230, 230, 230)
MUTED = (160, 160, 170)
BAR_COLOURS = ((88, 101, 242), (87, 242, 135))


def _totals(report: UsageReport, names: Mapping[int, str]) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    by_user: dict[str, int] = defaultdict(int)
    by_model: dict[str, int] = defaultdict(int)
    for row in report.rows:
        by_user[names.get(row.user_id, str(row.user_id))] += row.seconds
        by_model[row.model] += row.seconds

    def top(totals: dict[str, int]) -> list[tuple[str, int]]:
        return sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:MAX_BARS]

    return top(by_user), top(by_model)


def render_usage_chart(report: UsageReport, names: Mapping[int, str], *, title: str = "Usage") -> bytes:
    users, models = _totals(report, names)
    sections = [("Seconds per user", users), ("Seconds per model", models)]
    rows = sum(len(bars) + 2 for _, bars in sections) + 2
    height = MARGIN * 2 + rows * ROW_HEIGHT
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    y = MARGIN
    total = report.money(report.total_micros)
    heading = f"{title} since {report.since:%Y-%m-%d}: {report.total_seconds} s, est. {total}"
    draw.text((MARGIN, y), heading, fill=FOREGROUND, font=font)
    y += ROW_HEIGHT * 2
    bar_space = WIDTH - LABEL_WIDTH - MARGIN * 2 - 70
    for index, (caption, bars) in enumerate(sections):
        draw.text((MARGIN, y), caption, fill=MUTED, font=font)
        y += ROW_HEIGHT
        if not bars:
            draw.text((MARGIN, y), "no usage", fill=MUTED, font=font)
            y += ROW_HEIGHT
        peak = max((seconds for _, seconds in bars), default=1) or 1
        for label, seconds in bars:
            draw.text((MARGIN, y + 6), label[:32], fill=FOREGROUND, font=font)
            length = max(int(bar_space * seconds / peak), 1)
            left = MARGIN + LABEL_WIDTH
            draw.rectangle((left, y + 4, left + length, y + ROW_HEIGHT - 6), fill=BAR_COLOURS[index % 2])
            draw.text((left + length + 6, y + 6), f"{seconds} s", fill=FOREGROUND, font=font)
            y += ROW_HEIGHT
        y += ROW_HEIGHT
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
