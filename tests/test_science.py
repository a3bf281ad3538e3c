"""benches/bench_science.py reduced (--quick, one seed): the whole comparison runs end to end on
the synthetic pair, writes the page, the figures and checks.json, and a second run with the same
seeds gives the same tables. Whether the science checks pass is not tested at this scale."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_science",
                                                  ROOT / "benches" / "bench_science.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_science"] = module  # dataclasses resolve their module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _bench()


def _run(bench: ModuleType, tmp: Path, name: str, capsys: pytest.CaptureFixture[str]
         ) -> tuple[Path, dict[str, Any], str]:
    page = tmp / name / "science.md"
    code = bench.main(["--quick", "--seeds", "3", "--output", str(page),
                       "--work-dir", str(tmp / f"{name}-work")])
    printed = capsys.readouterr().out
    assert code == 0
    return page, json.loads((page.parent / "science" / "checks.json").read_text()), printed


def test_quick_run_end_to_end_and_repeatable(bench: ModuleType, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    page, checks, printed = _run(bench, tmp_path, "a", capsys)
    figures = page.parent / "science"
    names = {"compare-ner.png", "compare-xnli.png", "compare-xsr.png",
             "distances-histograms.png", "distances-differences.png"}
    assert names <= {p.name for p in figures.iterdir()}
    for name in names:
        assert (figures / name).read_bytes()[:8] == PNG, name

    # Four checks, each with a verdict and the figures it was decided on.
    assert [c["name"][:2] for c in checks["checks"]] == ["1.", "2.", "3.", "4."]
    for c in checks["checks"]:
        assert c["passed"] in (True, False) and c["statement"] and c["figures"]
        verdict = "PASS" if c["passed"] else "FAIL"
        assert f"{verdict} {c['name']}" in printed
        assert f"**{verdict}** {c['name']}" in page.read_text()
    # Ratios are related/unrelated, the inverse of what analyze writes.
    analysis = json.loads((tmp_path / "a-work" / "analysis" / "main" / "analysis.json")
                          .read_text())
    for label, summary in analysis["models"].items():
        assert checks["ratios_related_unrelated"][label]["l2"] == pytest.approx(
            1.0 / summary["l2"]["ratio_unrelated_related"])
    assert checks["checks"][0]["figures"]["adjusted"] == checks[
        "ratios_related_unrelated"]["adjusted"]["l2"]
    # Every model of the plan is in the table; seeds as asked; the page links what exists.
    text = page.read_text()
    rows = checks["compare"]
    word = next(r for r in rows if (r["task"], r["config"], r["metric"]) == ("ner", "qaa", "f1"))
    assert set(word["models"]) == {"original", "adjusted", "adjusted-gold", "continual"}
    assert word["models"]["original"]["seeds"] == 1
    assert word["vs_baseline"]["adjusted"]["seeds"] == [3]
    assert "p_holm" in word["vs_baseline"]["adjusted"]
    for name in names:
        assert f"(science/{name})" in text
    assert "| total |" in text and "load average" in text
    assert "python benches/bench_science.py --quick --seeds 3" in text

    # The same seeds again, in fresh directories: the same tables, ratios and verdicts.
    _, again, _ = _run(bench, tmp_path, "b", capsys)
    assert again["compare"] == checks["compare"]
    assert again["ratios_related_unrelated"] == checks["ratios_related_unrelated"]
    assert [c["passed"] for c in again["checks"]] == [c["passed"] for c in checks["checks"]]


def test_refuses_a_foreign_work_dir(bench: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("not the bench's\n")
    with pytest.raises(ValueError, match="not a bench_science work directory"):
        bench.run(bench.ScienceConfig(quick=True, work_dir=str(tmp_path / "mine"),
                                      output=str(tmp_path / "p.md"), seeds=[1]))
    assert (tmp_path / "mine" / "keep.txt").is_file()


def test_quick_plan_is_the_shipped_plan_with_fewer_steps(bench: ModuleType,
                                                         tmp_path: Path) -> None:
    loads = bench.tomllib.loads
    shipped = loads(bench.PLAN.read_text())
    quick = loads(bench.write_plan(True, [7, 8], tmp_path / "p.toml").read_text())
    assert quick["seeds"] == [7, 8] and set(quick["models"]) == set(shipped["models"])
    assert quick["tasks"]["ner"]["finetune"]["lr"] == shipped["tasks"]["ner"]["finetune"]["lr"]
    assert quick["models"]["adjusted"]["align"]["max_steps"] == 4
    full = loads(bench.write_plan(False, [1], tmp_path / "f.toml").read_text())
    assert full == {**shipped, "seeds": [1]}
