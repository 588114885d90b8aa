"""Plots explain themselves: their axis titles stay inside the figure however few rows there are."""

from __future__ import annotations

import polars as pl
import pytest

from trainer_plugin.evaluation import plots


@pytest.mark.parametrize("n_regions", [1, 2, 5, 30])
def test_heatmap_axis_title_fits_the_figure_with_few_regions(tmp_path, monkeypatch, n_regions):
    """A 4-document eval split gives two or three rows; the y-axis title was cut off above and below."""
    figures = []
    monkeypatch.setattr(plots.plt, "close", figures.append)  # keep the figure _save would close
    rows = [("all", "all")] + [("country", f"C{i}") for i in range(n_regions - 1)]
    table = pl.DataFrame(
        [
            {"level": level, "region": region, "condition": condition, "ppl": 500.0 + i, "small_n": True}
            for i, (level, region) in enumerate(rows)
            for condition in ("with_metadata", "without_metadata")
        ]
    )
    path = plots.perplexity_heatmap(table, tmp_path / "heat.png", note="identical body tokens")
    assert path.read_bytes()[:4] == b"\x89PNG"
    figure = figures[0]
    renderer = figure.canvas.get_renderer()
    figure_box = figure.bbox
    for text in (figure.axes[0].yaxis.label, figure.axes[0].xaxis.label, figure.axes[0].title):
        box = text.get_window_extent(renderer)
        assert box.y0 >= figure_box.y0 - 0.5 and box.y1 <= figure_box.y1 + 0.5, text.get_text()
        assert box.x0 >= figure_box.x0 - 0.5 and box.x1 <= figure_box.x1 + 0.5, text.get_text()
