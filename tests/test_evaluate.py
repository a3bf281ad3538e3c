"""evaluate: results.json and predictions layout, metrics recomputed from the predictions and
against hand-computed cases and seqeval, resume."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from xadj.evaluate import EvaluateConfig, evaluate
from xadj.finetune import FinetuneConfig, finetune
from xadj.tasks.ner import entity_scores
from xadj.tasks.xnli import accuracy

TASKS = Path(__file__).resolve().parent / "data" / "tasks"


@pytest.fixture(scope="module")
def finetuned(tiny_dirs, tmp_path_factory) -> dict[str, Path]:
    logging.getLogger("transformers").setLevel(logging.ERROR)
    root = tmp_path_factory.mktemp("finetuned")
    out = {}
    for task, data in (("xnli", "xnli"), ("ner", "wikiann")):
        config = FinetuneConfig(task=task, model=str(tiny_dirs["bert"]), data=str(TASKS / data),
                                output_dir=str(root / task), batch_size=16, epochs=1,
                                max_train_samples=32)
        out[task] = finetune(config, progress=False).model_dir.parent
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_xnli_results_and_predictions(finetuned, tmp_path):
    config = EvaluateConfig(task="xnli", model=str(finetuned["xnli"]), languages=["es"],
                            output_dir=str(tmp_path / "ev"), data=str(TASKS / "xnli"), seed=7)
    result = evaluate(config, progress=False)
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert set(results) == {"task", "model", "config", "metrics"}
    assert results["task"] == "xnli" and results["config"]["seed"] == 7
    assert "torch" in results["config"]["versions"]
    items = read_jsonl(tmp_path / "ev" / "predictions" / "es.jsonl")
    gold = [json.loads(line)["label"]
            for line in (TASKS / "xnli" / "es" / "test.jsonl").read_text().splitlines()]
    assert [it["id"] for it in items] == list(range(24))  # no ids in XNLI: row index
    assert [it["gold"] for it in items] == gold
    assert all(it["prediction"] in (0, 1, 2) for it in items)
    hits = sum(it["gold"] == it["prediction"] for it in items)
    assert results["metrics"]["es"] == {"accuracy": pytest.approx(100 * hits / 24), "n": 24}
    assert result.metrics == results["metrics"]


def test_ner_metric_is_seqeval_on_the_written_predictions(finetuned, tmp_path):
    from seqeval.metrics import f1_score

    config = EvaluateConfig(task="ner", model=str(finetuned["ner"] / "model"), languages=["es"],
                            output_dir=str(tmp_path / "ev"), data=str(TASKS / "wikiann"))
    result = evaluate(config, progress=False)
    items = read_jsonl(tmp_path / "ev" / "predictions" / "es.jsonl")
    rows = [json.loads(line) for line in
            (TASKS / "wikiann" / "es" / "test.jsonl").read_text().splitlines()]
    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    assert [it["gold"] for it in items] == [[names[t] for t in r["ner_tags"]] for r in rows]
    assert all(len(it["prediction"]) == len(r["tokens"]) for it, r in zip(items, rows, strict=True))
    expected = 100 * f1_score([it["gold"] for it in items], [it["prediction"] for it in items])
    assert result.metrics["es"]["f1"] == pytest.approx(expected)
    assert result.metrics["es"]["n"] == 24


def test_resume_skips_done_configs_and_redoes_missing_ones(finetuned, tmp_path):
    config = EvaluateConfig(task="xnli", model=str(finetuned["xnli"]), languages=["es"],
                            output_dir=str(tmp_path / "ev"), data=str(TASKS / "xnli"),
                            max_test_samples=6)
    first = evaluate(config, progress=False)
    config.resume = True
    again = evaluate(config, progress=False)
    assert again.skipped == ["es"] and again.metrics == first.metrics
    (tmp_path / "ev" / "predictions" / "es.jsonl").unlink()
    redone = evaluate(config, progress=False)
    assert redone.skipped == [] and redone.metrics == first.metrics
    config.batch_size = 3  # evaluation settings may not change under resume ...
    config.qa_normalizer = "mlqa"
    with pytest.raises(ValueError, match="qa_normalizer"):
        evaluate(config, progress=False)


def test_accuracy_by_hand():
    assert accuracy([0, 1, 2, 2], [0, 2, 2, 1]) == 50.0
    with pytest.raises(ValueError):
        accuracy([], [])


def test_entity_f1_by_hand_and_against_seqeval():
    from seqeval.metrics import f1_score

    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    # gold entities: PER(0-1), LOC(3), ORG(0); predicted: PER(0-1), ORG(3), ORG(0); 2 correct
    scores = entity_scores(gold, predicted)
    assert scores["precision"] == pytest.approx(200 / 3)
    assert scores["recall"] == pytest.approx(200 / 3)
    assert scores["f1"] == pytest.approx(200 / 3)
    # seqeval's default (conlleval) rules: an I- after O starts an entity
    gold2, pred2 = [["O", "I-PER", "I-PER", "O"]], [["O", "B-PER", "I-PER", "O"]]
    assert entity_scores(gold2, pred2)["f1"] == pytest.approx(100 * f1_score(gold2, pred2))
    assert entity_scores(gold2, pred2)["f1"] == 100.0


def test_qa_finetune_and_evaluate_xquad_and_mlqa_pairs(tiny_dirs, tmp_path):
    from transformers import AutoModelForQuestionAnswering

    data = str(TASKS / "qa")
    ft = finetune(FinetuneConfig(task="qa", model=str(tiny_dirs["xlmr"]), data=data,
                                 output_dir=str(tmp_path / "ft"), batch_size=8, epochs=1,
                                 max_length=64, doc_stride=24), progress=False)
    assert AutoModelForQuestionAnswering.from_pretrained(ft.model_dir).qa_outputs.out_features == 2
    config = EvaluateConfig(task="qa", model=str(tmp_path / "ft"), languages=["es"],
                            qa_pairs=["es.en"], output_dir=str(tmp_path / "ev"), data=data,
                            qa_normalizer="mlqa")
    with pytest.raises(FileNotFoundError, match=r"DIR/mlqa\.es\.es/test\.jsonl"):
        evaluate(config, progress=False)  # es gives xquad.es and mlqa.es.es: the latter absent
    config.languages, config.overwrite = ["xquad.es"], True
    result = evaluate(config, progress=False)
    assert list(result.metrics) == ["xquad.es", "mlqa.es.en"]
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    resolved = results["config"]["resolved"]
    assert resolved["max_length"] == 64 and resolved["doc_stride"] == 24  # the model's own
    assert resolved["qa_normalizers"] == {"xquad.es": "squad", "mlqa.es.en": "mlqa"}
    from xadj.tasks.qa_post import qa_metrics

    for name in ("xquad.es", "mlqa.es.en"):
        items = read_jsonl(tmp_path / "ev" / "predictions" / f"{name}.jsonl")
        assert len(items) == 8 and all(isinstance(it["gold"], list) for it in items)
        assert all(it["prediction"] in r for it, r in zip(items, _contexts(name), strict=True))
        norm = "mlqa" if name.startswith("mlqa") else "squad"
        again = qa_metrics({it["id"]: it["prediction"] for it in items},
                           {it["id"]: it["gold"] for it in items}, normalizer=norm, lang="es")
        assert result.metrics[name] == pytest.approx(again)


def _contexts(config: str) -> list[str]:
    split = "validation" if config.startswith("xquad") else "test"
    path = TASKS / "qa" / config / f"{split}.jsonl"
    return [json.loads(line)["context"] for line in path.read_text().splitlines()]


def test_xsr_both_directions_with_a_known_answer(tiny_dirs, tmp_path):
    # Other side = English side: every sentence retrieves itself, in both directions.
    lines = [json.loads(line)["sentence2"] for line in
             (TASKS / "xsr" / "spa-eng" / "test.jsonl").read_text().splitlines()]
    bitext = tmp_path / "same.txt"
    bitext.write_text("".join(f"{s} ||| {s}\n" for s in lines))
    config = EvaluateConfig(task="xsr", model=str(tiny_dirs["bert"]), languages=["es"],
                            bitext=[str(bitext)], output_dir=str(tmp_path / "same"))
    result = evaluate(config, progress=False)
    assert result.metrics == {"spa-eng": {"xx2en_accuracy": 100.0, "en2xx_accuracy": 100.0,
                                          "n": 30}}
    results = json.loads((tmp_path / "same" / "results.json").read_text())
    assert results["config"]["resolved"]["layer"] == 1  # 2/3 of 2 layers, recorded
    for direction in ("xx2en", "en2xx"):
        items = read_jsonl(tmp_path / "same" / "predictions" / f"spa-eng.{direction}.jsonl")
        assert [(it["id"], it["gold"], it["prediction"]) for it in items] == \
            [(i, i, i) for i in range(30)]
    # Tatoeba layout, another layer: accuracies are recomputed from the prediction files.
    config = EvaluateConfig(task="xsr", model=str(tiny_dirs["bert"]), languages=["spa-eng"],
                            data=str(TASKS / "xsr"), layer=-1, output_dir=str(tmp_path / "tat"))
    result = evaluate(config, progress=False)
    for direction in ("xx2en", "en2xx"):
        items = read_jsonl(tmp_path / "tat" / "predictions" / f"spa-eng.{direction}.jsonl")
        hits = sum(it["prediction"] == it["gold"] for it in items)
        assert result.metrics["spa-eng"][f"{direction}_accuracy"] == pytest.approx(100 * hits / 30)
    with pytest.raises(ValueError, match="out of range"):
        evaluate(EvaluateConfig(task="xsr", model=str(tiny_dirs["bert"]), languages=["es"],
                                data=str(TASKS / "xsr"), layer=5,
                                output_dir=str(tmp_path / "bad")), progress=False)
