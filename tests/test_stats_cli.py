"""``longtail stats PROJECT --out DIR [--json]``: every file written, an HTML report
that needs no network, the numbers as JSON, clear one-line failures."""

from __future__ import annotations

import json
import re

import pytest
from stats_support import build_hand_made

from app.cli import main
from pipeline.stats.plots import PLOTS
from pipeline.stats.report import NUMBERS_NAME, REPORT_NAME


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    made = build_hand_made(tmp_path_factory.mktemp("cli"))
    yield made
    made.project.close()


def test_stats_writes_every_plot_the_report_and_the_numbers(made, tmp_path, capsys):
    out = tmp_path / "stats"
    assert main(["stats", str(made.project.folder), "--out", str(out), "--json"]) == 0
    printed = capsys.readouterr().out
    expected = {f"{p.key}.png" for p in PLOTS} | {REPORT_NAME, NUMBERS_NAME}
    assert {p.name for p in out.iterdir()} == expected
    for plot in PLOTS:
        assert (out / f"{plot.key}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    numbers = json.loads((out / NUMBERS_NAME).read_text())
    assert numbers["shape"]["instances"] == 4
    assert numbers["agreement"]["reject_rate"] == pytest.approx(0.2)
    # --json prints the same document before the summary line
    document, summary = printed.rsplit("\n", 2)[0], printed.strip().splitlines()[-1]
    assert json.loads(document)["shape"]["instances"] == 4
    assert summary.startswith(f"wrote {len(expected)} files to {out}: 4 accepted instances")


def test_the_html_report_inlines_its_plots_and_loads_nothing_remote(made, tmp_path):
    out = tmp_path / "stats"
    assert main(["stats", str(made.project.folder), "--out", str(out)]) == 0
    page = (out / REPORT_NAME).read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "<script" not in page.lower() and "@import" not in page
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(images) == len(PLOTS)
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "cat" in page and "Federated coverage" in page


def test_stats_fails_in_one_line_for_a_bad_project_or_output(made, tmp_path, capsys):
    assert main(["stats", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("longtail: error:") and "does not exist" in error
    assert len(error.splitlines()) == 1
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["stats", str(made.project.folder), "--out", str(blocker)]) == 1
    assert "is a file; name a folder" in capsys.readouterr().err
