"""The command line as a user runs it: the main job, prepare, datasets sources, bad paths."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from xadj.corpus import export_hf_dataset, read_bitext


def cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xadj.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def test_bad_model_or_corpus_fails_before_training(tmp_path):
    out = cli("align", "--model", tmp_path / "no-such-model", "--output-dir", tmp_path / "o")
    assert out.returncode == 2 and "no-such-model" in out.stderr and "Traceback" not in out.stderr
    out = cli("align", "--model", "tiny", "--bitext", tmp_path / "missing.txt",
              "--output-dir", tmp_path / "o")
    assert out.returncode == 2 and "missing.txt" in out.stderr
    assert not (tmp_path / "o" / "model").exists() and not (tmp_path / "o" / "checkpoints").exists()


def test_prepare_on_the_shipped_sample_with_the_builtin_aligner(tmp_path):
    out = cli("prepare", "--tokenizer", "tiny", "--output", tmp_path / "ds", "--max-pairs", "300")
    assert out.returncode == 0, out.stderr
    counts = json.loads(out.stdout)
    assert counts["pairs_read"] == 1000 and counts["pairs_out"] == 300
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    assert meta["corpus"]["alignments"] is None and meta["counts"]["aligner"]["forward"]["pairs"]
    assert meta["tokenizer"]["prefix_ids"] and meta["tokenizer"]["suffix_ids"]


def test_datasets_sources_in_both_hub_schemas(tmp_path):
    import datasets

    rows = [{"translation": {"es": f"hola mundo {i}", "en": f"hello world {i}"}} for i in range(5)]
    jsonl = tmp_path / "opus.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    other, english = export_hf_dataset(str(jsonl), tmp_path / "a", other_lang="es")
    assert other.read_text().splitlines()[3] == "hola mundo 3"
    assert english.read_text().splitlines()[3] == "hello world 3"

    wiki = datasets.Dataset.from_dict({"english": ["a cat\nsat", "dogs"],
                                       "non_english": ["un chat", "des chiens"]})
    wiki.save_to_disk(str(tmp_path / "wikimatrix"))
    other, english = export_hf_dataset(str(tmp_path / "wikimatrix"), tmp_path / "b")
    assert english.read_text().splitlines() == ["a cat sat", "dogs"]  # inner newline joined
    bitext = read_bitext(other, english, unicode_words=True)
    assert bitext.num_pairs == 2

    with pytest.raises(ValueError, match="columns"):
        export_hf_dataset(str(tmp_path / "wikimatrix"), tmp_path / "c", other_column="fr")


def test_align_from_a_datasets_file_end_to_end(tmp_path):
    sample = Path(__file__).resolve().parent.parent / "python" / "xadj" / "sample"
    lines = (sample / "multi30k.fr-en.txt").read_text().splitlines()[:300]
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text("".join(json.dumps({"non_english": a, "english": b}) + "\n"
                             for a, b in (line.split(" ||| ") for line in lines)))
    out = cli("align", "--model", "tiny", "--tiny-kind", "xlmr", "--hf-dataset", jsonl,
              "--lang", "fr", "--output-dir", tmp_path / "run", "--max-steps", "3",
              "--heldout-pairs", "50")
    assert out.returncode == 0, out.stderr
    model = tmp_path / "run" / "model"
    config = json.loads((model / "xadj_config.json").read_text())
    assert config["steps"] == 3
    report = json.loads((tmp_path / "run" / "alignment_report.json").read_text())
    assert report["fr"]["after"]["aligned_pairs"] > 0


def test_several_languages_one_model_each_or_mixed(tmp_path):
    from xadj.corpus import sample_bitext

    lines = sample_bitext().read_text().splitlines()
    for lang, part in (("fr", lines[:200]), ("qaa", lines[200:400])):
        (tmp_path / f"{lang}.txt").write_text("\n".join(part) + "\n")
    corpora = ["--corpus", f"fr={tmp_path / 'fr.txt'}", "--corpus", f"qaa={tmp_path / 'qaa.txt'}"]
    common = ["--model", "tiny", "--max-steps", "2", "--heldout-pairs", "20"]
    out = cli("align", *corpora, *common, "--output-dir", tmp_path / "each")
    assert out.returncode == 0, out.stderr
    for lang in ("fr", "qaa"):
        assert (tmp_path / "each" / lang / "model" / "xadj_config.json").exists()
        assert (tmp_path / "each" / lang / "alignment_report.json").exists()
    out = cli("align", *corpora, *common, "--mix-languages", "--output-dir", tmp_path / "mixed")
    assert out.returncode == 0, out.stderr
    config = json.loads((tmp_path / "mixed" / "model" / "xadj_config.json").read_text())
    assert sorted(config["languages"]) == ["fr", "qaa"]
    report = json.loads((tmp_path / "mixed" / "alignment_report.json").read_text())
    assert {"fr", "qaa", "mean"} <= set(report)
    bad = cli("align", "--corpus", "fr", *common, "--output-dir", tmp_path / "bad")
    assert bad.returncode == 2 and "LANG=FILE" in bad.stderr


def test_align_on_a_prepared_dataset_checks_its_tokenizer(tmp_path):
    run = tmp_path / "run"
    first = cli("align", "--model", "tiny", "--max-steps", "1", "--output-dir", run)
    assert first.returncode == 0, first.stderr
    again = cli("align", "--model", "tiny", "--dataset", f"fr={run / 'data' / 'fr'}",
                "--max-steps", "2", "--output-dir", tmp_path / "again")
    assert again.returncode == 0, again.stderr
    assert not (tmp_path / "again" / "data").exists()  # nothing re-prepared
    other = cli("align", "--model", "tiny", "--tiny-kind", "xlmr", "--dataset",
                f"fr={run / 'data' / 'fr'}", "--output-dir", tmp_path / "other")
    assert other.returncode == 2 and "prepared with another tokenizer" in other.stderr


def test_two_processes_train_one_model(tmp_path):
    """The multi-GPU code path (DDP), exercised on CPU with gloo: `torchrun ... -m xadj.cli`."""
    import shutil

    torchrun = shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not installed")
    out = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "xadj.cli", "align",
         "--model", "tiny", "--max-steps", "4", "--checkpoint-every", "2",
         "--output-dir", str(tmp_path / "ddp")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "processes = 2" in out.stderr
    assert out.stdout.count("4 steps ->") == 1  # one process reports
    assert (tmp_path / "ddp" / "model" / "xadj_config.json").exists()
    assert [p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir()] == ["step-2"]
