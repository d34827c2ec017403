"""The benchmarks' publishing: a section is rewritten in place, everything else is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.performance import Figure, at_least, at_most, publish


def test_a_section_is_replaced_in_place_and_the_rest_is_kept(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    rows: list[dict[str, object]] = [{"case": "ours", "jobs/s": Figure.of([5, 1, 3, 4, 2]).show(1, 0)}]
    publish("drain", "Queue drain", [("first", rows)], [at_least("20× the peer", 25.0, 20)], doc=doc)
    publish("cold", "Cold start", [("", rows)], [at_most("1.25× bare", 1.4, 1.25)], doc=doc)
    doc.write_text(doc.read_text() + "\nProse written by hand.\n")
    publish("drain", "Queue drain", [("second", rows)], [], doc=doc)

    text = doc.read_text()
    assert text.count("<!-- bench:drain -->") == 1 and "first" not in text and "**second**" in text
    assert text.index("bench:drain") < text.index("bench:cold")  # kept its place
    assert "1.40× — **not met**" in text and "Prose written by hand." in text
    assert "| ours | 3 (1–5) |" in text


def test_a_figure_needs_five_runs() -> None:
    with pytest.raises(ValueError, match="at least 5"):
        Figure.of([1.0, 2.0])


def test_a_table_has_every_column_any_row_has(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    rows: list[dict[str, object]] = [{"module": "bare app", "ms": 600}, {"module": "status", "ms": 700, "× bare": 1.17}]
    publish("cold", "Cold start", [("", rows)], [], doc=doc)
    text = doc.read_text()
    assert "| module | ms | × bare |" in text
    assert "| bare app | 600 |  |" in text and "| status | 700 | 1.17 |" in text
