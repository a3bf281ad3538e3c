"""finetune: the model it writes, exact resume after a kill, NER first-piece labels, every --data
layout, the offline message, length-grouped batches."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset, DatasetDict
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from xadj.finetune import FinetuneConfig, finetune
from xadj.tasks import get_task
from xadj.tasks.base import PAD_LABEL, length_grouped_order
from xadj.tasks.data import Source, hub_reachable, load_rows
from xadj.tracking import StepLog, read_metrics

TASKS = Path(__file__).resolve().parent / "data" / "tasks"


def small(tiny_dirs, tmp_path: Path, **overrides) -> FinetuneConfig:
    settings = dict(task="xnli", model=str(tiny_dirs["bert"]), output_dir=str(tmp_path / "ft"),
                    data=str(TASKS / "xnli"), batch_size=8, epochs=1, log_every=1, seed=3)
    return FinetuneConfig(**{**settings, **overrides})


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_xnli_model_loads_with_its_head_and_records_settings(tiny_dirs, tmp_path):
    logging.getLogger("transformers").setLevel(logging.ERROR)
    result = finetune(small(tiny_dirs, tmp_path), progress=False)
    assert result.steps == 6 and len(result.losses) == 6  # 48 rows / 8
    model = AutoModelForSequenceClassification.from_pretrained(result.model_dir)
    assert model.config.num_labels == 3
    assert model.config.id2label[0] == "entailment"
    record = json.loads((result.model_dir / "xadj_config.json").read_text())
    assert record["config"]["lr"] == 5e-5 and record["config"]["epochs"] == 1  # METHOD §5 lr
    assert record["seed"] == 3 and "transformers" in record["versions"]
    assert (result.model_dir / "modules.json").is_file()  # sentence-transformers config
    logged = read_metrics(tmp_path / "ft" / "metrics.jsonl")
    assert [r["step"] for r in logged] == list(range(1, 7))
    assert logged[-1]["lr"] == pytest.approx(0.0)  # linear decay to 0, no warm-up
    assert logged[0]["lr"] == pytest.approx(5e-5 * 5 / 6)
    # The encoder moved away from the starting weights.
    start = AutoModelForSequenceClassification.from_pretrained(tiny_dirs["bert"], num_labels=3)
    key = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(start.state_dict()[key], model.state_dict()[key])


def test_non_empty_output_dir_is_refused_without_resume(tiny_dirs, tmp_path):
    (tmp_path / "ft").mkdir()
    (tmp_path / "ft" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        finetune(small(tiny_dirs, tmp_path), progress=False)


class Killed(Exception):
    pass


def test_resume_after_kill_gives_the_same_weights(tiny_dirs, tmp_path, monkeypatch):
    logging.getLogger("transformers").setLevel(logging.ERROR)
    plain = finetune(small(tiny_dirs, tmp_path / "a"), progress=False)
    expected = weights(plain.model_dir)

    log_step = StepLog.log

    def killed_at_step_5(self, step, **metrics):
        log_step(self, step, **metrics)
        if step == 5:  # after the checkpoint of step 4: steps 5-6 must be redone identically
            raise Killed

    monkeypatch.setattr(StepLog, "log", killed_at_step_5)
    config = small(tiny_dirs, tmp_path / "b", checkpoint_every=2, keep_checkpoints=2)
    with pytest.raises(Killed):
        finetune(config, progress=False)
    out = tmp_path / "b" / "ft"
    assert not (out / "model").exists()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-2", "step-4"]
    monkeypatch.setattr(StepLog, "log", log_step)
    config.resume = True
    resumed = finetune(config, progress=False)
    assert len(resumed.losses) == 2  # steps 5 and 6 only
    assert resumed.losses == plain.losses[4:]
    got = weights(resumed.model_dir)
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == list(range(1, 7))


def test_ner_labels_sit_on_the_first_piece_of_each_word(tiny_dirs):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dirs["bert"])
    task = get_task("ner")
    rows = load_rows(task.train_source(), TASKS / "wikiann", max_rows=10)
    labels = task.label_names(rows)
    features = task.train_features(rows, tokenizer, labels, 128, 0)
    for i, feature in enumerate(features.inputs):
        words = rows[i]["tokens"]
        enc = tokenizer(words, is_split_into_words=True)
        word_ids = enc.word_ids()
        marked = [(p, lab) for p, lab in enumerate(feature["labels"]) if lab != PAD_LABEL]
        assert len(marked) == len(words)
        for p, lab in marked:
            w = word_ids[p]
            assert w is not None and word_ids.index(w) == p  # the word's first piece
            assert lab == rows[i]["ner_tags"][w]
    # Some word of the fixture spans several pieces, so the test sees ignored pieces too.
    assert any(sum(lab == PAD_LABEL for lab in f["labels"]) > 2 for f in features.inputs)


def test_every_data_layout_gives_the_same_rows(tmp_path):
    source = Source("unimelb-nlp/wikiann", "en", "train")
    reference = load_rows(source, TASKS / "wikiann")
    records = reference.to_list()
    layouts = {}
    layouts["json array"] = tmp_path / "json"
    (tmp_path / "json" / "en").mkdir(parents=True)
    (tmp_path / "json" / "en" / "train.json").write_text(json.dumps(records))
    layouts["parquet"] = tmp_path / "parquet"
    (tmp_path / "parquet" / "en").mkdir(parents=True)
    reference.to_parquet(str(tmp_path / "parquet" / "en" / "train.parquet"))
    layouts["save_to_disk split"] = tmp_path / "disk"
    reference.save_to_disk(str(tmp_path / "disk" / "en" / "train"))
    layouts["save_to_disk dict"] = tmp_path / "dict"
    DatasetDict({"train": reference}).save_to_disk(str(tmp_path / "dict" / "en"))
    for name, root in layouts.items():
        assert load_rows(source, root).to_list() == records, name
    assert len(load_rows(source, TASKS / "wikiann", max_rows=5)) == 5


def test_label_names_carried_by_the_data_win(tmp_path):
    from datasets import ClassLabel, Features, Sequence, Value

    features = Features({"tokens": Sequence(Value("string")),
                         "ner_tags": Sequence(ClassLabel(names=["O", "B-X", "I-X"]))})
    rows = Dataset.from_dict({"tokens": [["a", "b"]], "ner_tags": [[1, 2]]}, features=features)
    task = get_task("ner")
    assert task.label_names(rows) == ["O", "B-X", "I-X"]
    named = Dataset.from_list([{"tokens": ["a", "b"], "ner_tags": ["B-MISC", "O"]}])
    assert task.label_names(named)[-1] == "B-MISC"


def test_bad_rows_name_the_file_and_line(tmp_path):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "train.jsonl").write_text('{"tokens": ["a"], "ner_tags": [0]}\n{oops\n')
    with pytest.raises(ValueError, match=r"train\.jsonl:2: invalid JSON"):
        load_rows(Source("unimelb-nlp/wikiann", "en", "train"), tmp_path)
    with pytest.raises(FileNotFoundError, match=r"--data DIR with DIR/es/test\.jsonl"):
        load_rows(Source("unimelb-nlp/wikiann", "es", "test"), tmp_path)


def test_unreachable_hub_says_which_layout_to_pass(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub_reachable.cache_clear()
    try:
        with pytest.raises(OSError, match=r"--data DIR with DIR/xx/test\.jsonl"):
            load_rows(Source("xadj-test/no-such-dataset", "xx", "test"))
    finally:
        hub_reachable.cache_clear()


def test_length_grouped_order_is_a_permutation_sorted_within_groups():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 100, size=230)
    order = rng.permutation(230)
    grouped = length_grouped_order(lengths, order, batch_size=4, group=10)
    assert sorted(grouped.tolist()) == list(range(230))
    for start in range(0, 230, 40):
        chunk = grouped[start:start + 40]
        assert set(chunk.tolist()) == set(order[start:start + 40].tolist())
        assert np.all(np.diff(lengths[chunk]) <= 0)
