"""Outputs are never deleted or overwritten by surprise, settings mean what they say, and bad
options or inputs stop with a clear message before any work (issue 8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import xadj
from xadj.align import AlignConfig, adjust, language_from_names
from xadj.config import validate_language
from xadj.outputs import OutputLock

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "python" / "xadj" / "sample" / "multi30k.fr-en.txt"


def cli(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xadj.cli", "-q", *map(str, args)],
                          capture_output=True, text=True, env={**os.environ, **(env or {})})


def small_bitext(tmp_path: Path, n: int = 120, name: str = "pairs.txt") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(SAMPLE.read_text().splitlines()[:n]) + "\n")
    return path


def quick(tmp_path: Path, out: str = "run", **kw: object) -> AlignConfig:
    base: dict[str, object] = dict(model="tiny", output_dir=str(tmp_path / out), max_steps=2,
                                   heldout_pairs=20, lang="fr", checkpoint_every=0)
    config = AlignConfig(**{**base, **kw})  # type: ignore[arg-type]
    config.source.bitext = [str(small_bitext(tmp_path))]
    return config


# ---------------------------------------------------------------- 1. nothing deleted by surprise
def test_prepare_never_replaces_what_is_not_its_own(tmp_path):
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    out = cli("prepare", "--tokenizer", "tiny", "-o", precious, "--max-pairs", "50")
    assert out.returncode == 2 and "not a prepared dataset" in out.stderr
    out = cli("prepare", "--tokenizer", "tiny", "-o", precious, "--overwrite")
    assert out.returncode == 2 and (precious / "thesis.tex").read_text() == "years of work"

    ds = tmp_path / "ds"
    assert cli("prepare", "--tokenizer", "tiny", "-o", ds, "--max-pairs", "50").returncode == 0
    again = cli("prepare", "--tokenizer", "tiny", "-o", ds, "--max-pairs", "60")
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert json.loads((ds / "meta.json").read_text())["counts"]["pairs_out"] == 50
    forced = cli("prepare", "--tokenizer", "tiny", "-o", ds, "--max-pairs", "60", "--overwrite")
    assert forced.returncode == 0, forced.stderr
    assert json.loads((ds / "meta.json").read_text())["counts"]["pairs_out"] == 60


@pytest.mark.parametrize("code", ["../..", "/abs/dir", "xx", "e s", "", "fr/../.."])
def test_language_codes_are_validated_before_they_become_paths(code):
    with pytest.raises(ValueError, match="invalid language code"):
        validate_language(code)


def test_bad_language_codes_on_the_command_line(tmp_path):
    bitext = small_bitext(tmp_path)
    out = cli("align", "--model", "tiny", "--bitext", bitext, "--lang", "../..",
              "-o", tmp_path / "run")
    assert out.returncode == 2 and "invalid language code" in out.stderr
    assert not (tmp_path / "run").exists()
    out = cli("align", "--model", "tiny", "--corpus", f"/tmp={bitext}", "-o", tmp_path / "run")
    assert out.returncode == 2 and "invalid language code" in out.stderr


def test_the_language_of_a_bitext_is_required_or_read_from_its_name(tmp_path):
    bitext = small_bitext(tmp_path)
    out = cli("align", "--model", "tiny", "--bitext", bitext, "-o", tmp_path / "run")
    assert out.returncode == 2 and "--lang" in out.stderr
    out = cli("align", "--model", "tiny", "--lang", "de", "-o", tmp_path / "run")
    assert out.returncode == 2 and "sample is French-English" in out.stderr
    assert language_from_names([Path("train.de.gz"), Path("train.en.gz")]) == "de"
    assert language_from_names([Path("corpus/es-en.txt")]) == "es"
    assert language_from_names([Path("pairs.txt")]) is None


def test_the_tiny_model_cache_is_verified_and_rebuilt(tmp_path):
    from transformers import AutoTokenizer

    from xadj.model import tiny_model_dir

    built = tiny_model_dir("bert", cache=tmp_path)
    tok = AutoTokenizer.from_pretrained(built)
    ids = tok("a man is walking", add_special_tokens=False)["input_ids"]
    (built / "tokenizer.json").write_text('{"damaged": true}')  # a half-written or edited file
    rebuilt = tiny_model_dir("bert", cache=tmp_path)
    assert rebuilt == built
    assert AutoTokenizer.from_pretrained(rebuilt)("a man is walking",
                                                  add_special_tokens=False)["input_ids"] == ids
    assert tok.unk_token_id not in ids


def test_a_second_run_on_a_busy_directory_fails_fast_naming_the_holder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with OutputLock(run):
        start = time.monotonic()
        out = cli("align", "--model", "tiny", "-o", run, "--max-steps", "1")
        assert out.returncode == 2 and "in use by pid" in out.stderr
        assert time.monotonic() - start < 120
    assert not (run / "model").exists()


def test_reruns_are_refused_and_overwrite_replaces_only_xadj_paths(tmp_path):
    config = quick(tmp_path)
    adjust(config, progress=False)
    run = Path(config.output_dir)
    data_mtime = (run / "data" / "fr" / "meta.json").stat().st_mtime_ns
    model_mtime = (run / "model" / "model.safetensors").stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="--resume .* --overwrite"):
        adjust(quick(tmp_path, max_steps=3), progress=False)
    # refused before any work: the earlier data and model are untouched
    assert (run / "data" / "fr" / "meta.json").stat().st_mtime_ns == data_mtime
    assert (run / "model" / "model.safetensors").stat().st_mtime_ns == model_mtime

    (run / "notes.txt").write_text("mine")
    result = adjust(quick(tmp_path, max_steps=3, overwrite=True), progress=False)
    assert result.steps["fr"] == 3 and (run / "notes.txt").read_text() == "mine"

    other = tmp_path / "not-xadj"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not written by xadj"):
        adjust(quick(tmp_path, out="not-xadj", overwrite=True), progress=False)
    assert (other / "keep.txt").exists()


# ---------------------------------------------------------------- 2. settings mean what they say
def test_resume_refuses_changed_settings_listing_each(tmp_path):
    config = quick(tmp_path, max_steps=4, checkpoint_every=2)
    adjust(config, progress=False)
    changed = quick(tmp_path, max_steps=4, checkpoint_every=2, resume=True, lr=1e-3,
                    reg_weight=0.5)
    with pytest.raises(ValueError) as err:
        adjust(changed, progress=False)
    message = str(err.value)
    assert "lr: 5e-05 -> 0.001" in message and "reg_weight: 1.0 -> 0.5" in message


@pytest.mark.parametrize("args", [
    ["align", "--model", "tiny", "-o", "X", "--max-words", "-1"],
    ["align", "--model", "tiny", "-o", "X", "--epochs", "-1"],
    ["align", "--model", "tiny", "-o", "X", "--checkpoint-every", "-1"],
    ["align", "--model", "tiny", "-o", "X", "--max-pairs", "-5"],
    ["align", "--model", "tiny", "-o", "X", "--lr", "0"],
    ["align", "--model", "tiny", "-o", "X", "--warmup-fraction", "1.5"],
    ["wordalign", "in.txt", "--iterations", "-1"],
    ["wordalign", "in.txt", "--threads", "100000"],
    ["score", "--gold", "g", "h", "--last", "-1"],
])
def test_options_are_checked_at_parse_time(tmp_path, args):
    from xadj.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert not Path("X").exists()


def test_duplicate_languages_and_raw_text_with_alignments_are_refused(tmp_path):
    bitext = small_bitext(tmp_path)
    links = tmp_path / "links.align"
    links.write_text("0-0\n" * 120)
    out = cli("align", "--model", "tiny", "--corpus", f"fr={bitext}", "--corpus", f"fr={bitext}",
              "-o", tmp_path / "run")
    assert out.returncode == 2 and "given twice" in out.stderr
    out = cli("align", "--model", "tiny", "--bitext", bitext, "--lang", "fr", "--alignments",
              links, "--raw-text", "-o", tmp_path / "run")
    assert out.returncode == 2 and "--raw-text" in out.stderr
    assert not (tmp_path / "run").exists()


def test_max_seq_length_above_the_model_limit_is_refused(tmp_path):
    out = cli("prepare", "--tokenizer", "tiny", "-o", tmp_path / "ds", "--max-seq-length", "4096")
    assert out.returncode == 2 and "above the model's limit" in out.stderr


def test_a_diverging_run_stops_with_the_last_good_checkpoint(tmp_path):
    out = cli("align", "--model", "tiny", "-o", tmp_path / "run", "--lr", "1000",
              "--max-steps", "12", "--checkpoint-every", "1", "--heldout-pairs", "0")
    assert out.returncode == 3, out.stderr
    assert "diverged" in out.stderr or "non-finite" in out.stderr
    assert "Last good checkpoint: " in out.stderr and "step-1" in out.stderr
    assert not (tmp_path / "run" / "model").exists()


def test_the_config_decides_the_pooling_not_the_batcher(tmp_path, tiny_dirs):
    from transformers import AutoTokenizer

    from xadj.batches import Batcher
    from xadj.data import PrepareConfig, prepare
    from xadj.train import train

    tok = AutoTokenizer.from_pretrained(tiny_dirs["bert"])
    ds = prepare([small_bitext(tmp_path)], tok, tmp_path / "ds", progress=False,
                 options=PrepareConfig(max_words=0))
    config = AlignConfig(model=str(tiny_dirs["bert"]), output_dir=str(tmp_path / "o"),
                         pooling="first", max_steps=1, checkpoint_every=0)
    result = train(config, {"fr": Batcher(ds, pooling="avg")}, progress=False)["fr"]
    recorded = json.loads((result.model_dir / "xadj_config.json").read_text())
    assert recorded["config"]["pooling"] == "first"


def test_heldout_pairs_are_recorded_and_report_reproduces_the_run(tmp_path):
    config = quick(tmp_path, heldout_pairs=24)
    result = adjust(config, progress=False)
    run = Path(config.output_dir)
    held = json.loads((run / "heldout.json").read_text())["fr"]
    assert len(held["pairs"]) == 24 and len(held["corpus_lines"]) == 24
    record = json.loads((run / "model" / "xadj_config.json").read_text())
    assert record["heldout"]["fr"]["pairs"] == 24 and record["model_name"] == "tiny"
    again = xadj.report(xadj.ReportConfig(model=str(run)))
    assert again["fr"]["after"] == pytest.approx(result.reports["fr"]["fr"]["after"])


def test_mixed_language_runs_print_their_summary(tmp_path):
    a, b = small_bitext(tmp_path, 100, "fr.txt"), small_bitext(tmp_path, 100, "de.txt")
    out = cli("align", "--model", "tiny", "--corpus", f"fr={a}", "--corpus", f"de={b}",
              "--mix-languages", "--max-steps", "1", "--heldout-pairs", "20",
              "-o", tmp_path / "mixed")
    assert out.returncode == 0, out.stderr
    assert "fr+de: 1 steps" in out.stdout
    assert "fr held-out" in out.stdout and "de held-out" in out.stdout


def test_checkpoints_kept_as_asked_and_newer_ones_never_deleted(tmp_path, tiny_dirs):
    from transformers import AutoTokenizer

    from xadj.data import PrepareConfig, prepare
    from xadj.train import PROGRESS_FILE, train

    tok = AutoTokenizer.from_pretrained(tiny_dirs["bert"])
    ds = prepare([small_bitext(tmp_path)], tok, tmp_path / "ds", progress=False,
                 options=PrepareConfig(max_words=0))
    out = tmp_path / "o"
    newer = out / "checkpoints" / "step-100"
    newer.mkdir(parents=True)
    (newer / PROGRESS_FILE).write_text("{}")
    config = AlignConfig(model=str(tiny_dirs["bert"]), output_dir=str(out), max_steps=4,
                         pairs_per_step=8, checkpoint_every=1, keep_checkpoints=2)
    with pytest.raises(FileExistsError, match="earlier run"):
        train(config, {"fr": ds}, progress=False)
    config.overwrite = True
    train(config, {"fr": ds}, progress=False)
    kept = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert kept == ["step-100", "step-2", "step-3"]


def test_symmetrize_defaults_to_intersect_like_align(tmp_path):
    fwd, rev = tmp_path / "f", tmp_path / "r"
    fwd.write_text("0-0 1-1 2-1\n")
    rev.write_text("0-0 1-1 1-2\n")
    out = cli("symmetrize", fwd, rev)
    assert out.returncode == 0 and out.stdout == "0-0 1-1\n"


# ---------------------------------------------------------------- 3/4. inputs and first use
def test_a_damaged_prepared_dataset_is_an_error_not_a_traceback(tmp_path):
    ds = tmp_path / "ds"
    assert cli("prepare", "--tokenizer", "tiny", "-o", ds, "--max-pairs", "30").returncode == 0
    offsets = np.load(ds / "links.npy")
    np.save(ds / "link_offsets.npy", np.arange(len(offsets) + 7, dtype=np.int64)[::-1].copy())
    out = cli("align", "--model", "tiny", "--dataset", f"fr={ds}", "-o", tmp_path / "run")
    assert out.returncode == 2 and "damaged prepared dataset" in out.stderr
    assert "Traceback" not in out.stderr


def test_score_warns_when_gold_looks_one_based(tmp_path):
    gold = tmp_path / "gold"
    gold.write_text("".join(f"{i}-{i} {i + 1}-{i + 1}\n" for i in range(1, 30)))
    out = cli("score", "--gold", gold, gold)
    assert out.returncode == 0 and "looks 1-based" in out.stderr
    out = cli("score", "--gold", gold, "--one-based-gold", gold)
    assert "looks 1-based" not in out.stderr


def test_wordalign_reads_two_line_aligned_files_like_align(tmp_path):
    lines = SAMPLE.read_text().splitlines()[:60]
    (tmp_path / "x.fr").write_text("\n".join(line.split(" ||| ")[0] for line in lines) + "\n")
    (tmp_path / "x.en").write_text("\n".join(line.split(" ||| ")[1] for line in lines) + "\n")
    (tmp_path / "x.txt").write_text("\n".join(lines) + "\n")
    two = cli("wordalign", tmp_path / "x.fr", tmp_path / "x.en")
    one = cli("wordalign", tmp_path / "x.txt")
    assert two.returncode == 0 and two.stdout == one.stdout and len(one.stdout.splitlines()) == 60


def test_an_unreachable_hub_id_fails_at_once_with_advice(tmp_path):
    start = time.monotonic()
    out = cli("align", "--model", "some-org/some-model", "-o", tmp_path / "run",
              env={"HF_HUB_OFFLINE": "1"})
    assert out.returncode == 2 and "local model directory" in out.stderr
    assert time.monotonic() - start < 60 and not (tmp_path / "run").exists()


def test_loading_never_unpickles(tmp_path, tiny_dirs):
    import shutil

    from transformers import AutoModel

    from xadj.model import load_encoder

    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_dirs["bert"], pickled)
    import torch

    model = AutoModel.from_pretrained(pickled)
    (pickled / "model.safetensors").unlink()
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")  # a pickled checkpoint
    with pytest.raises(OSError):
        load_encoder(str(pickled))


def test_every_option_has_help_and_shows_its_default():
    from xadj.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():  # type: ignore[union-attr]
        assert "--help" in command.format_help()  # every help text formats
        for action in command._actions:
            if action.dest in ("help",):
                continue
            assert action.help, f"{name} {action.option_strings} has no help"
            takes_value = action.nargs != 0 and action.option_strings and not action.required
            if takes_value:
                assert "(default" in action.help, f"{name} {action.option_strings}"


def test_the_readme_python_section_runs(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```python\n", readme.index("## Python API")) + len("```python\n")
    code = readme[start:readme.index("```", start)]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "runs" / "api" / "model" / "xadj_config.json").exists()


def test_empty_sides_are_dropped_counted_once_and_named(tmp_path, caplog, tiny_dirs):
    """Real corpora have empty sides: dropped and counted (first line numbers in a warning);
    every dropped pair is counted under exactly one reason; --strict stops instead."""
    from transformers import AutoTokenizer

    from xadj.data import PrepareConfig, prepare

    lines = SAMPLE.read_text().splitlines()[:40]
    lines[3] = " ||| a man"  # empty other side
    lines[7] = "un homme ||| "  # empty English side
    lines[9] = " ".join(["mot"] * 70) + " ||| " + " ".join(["word"] * 70)  # too long, and
    bitext = tmp_path / "pairs.txt"  # with the identical-string filter off... unlinked anyway
    bitext.write_text("\n".join(lines) + "\n")
    tok = AutoTokenizer.from_pretrained(tiny_dirs["bert"])
    with caplog.at_level("WARNING"):
        ds = prepare([bitext], tok, tmp_path / "ds", progress=False)
    c = ds.meta["counts"]
    assert c["filter_pairs_empty"] == 2 and c["filter_pairs_too_long"] == 1
    assert c["pairs_read"] == 40 == (c["pairs_out"] + c["filter_pairs_empty"]
                                     + c["filter_pairs_too_long"] + c["map_pairs_too_many_pieces"]
                                     + c["map_pairs_without_links"])
    assert "4" in caplog.text and "8" in caplog.text  # the 1-based line numbers
    with pytest.raises(ValueError, match=r"pairs.txt:4"):
        prepare([bitext], tok, tmp_path / "strict", progress=False,
                options=PrepareConfig(strict=True))
