"""`compare` on a synthetic experiment: predictions with known accuracies in the experiment
runner's layout (and as a flat list of evaluate outputs), checked for the table's statistics,
the pairing by id, the JSON, the Markdown footer and the bar charts' axes and bars."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pytest
from seqeval.metrics import f1_score

from xadj.analysis.compare import LAYOUT, CompareConfig, compare, find_runs

SEEDS = (1, 2, 3)
N_ITEMS = 300
ENTITY_TAGS = ["O", "O", "B-PER", "I-PER", "B-LOC"]


def xnli_items(accuracy: float, seed: int, lang: str) -> list[dict]:
    rng = np.random.default_rng([seed, len(lang), ord(lang[0])])
    gold = np.random.default_rng(ord(lang[0])).integers(0, 3, N_ITEMS)  # same gold every run
    right = rng.random(N_ITEMS) < accuracy
    pred = np.where(right, gold, (gold + 1) % 3)
    return [{"id": f"{lang}-{k}", "gold": int(g), "prediction": int(p)}
            for k, (g, p) in enumerate(zip(gold, pred, strict=True))]


def ner_items(error_rate: float, seed: int) -> list[dict]:
    base = np.random.default_rng(11)
    gold = [[ENTITY_TAGS[t] for t in base.integers(0, 5, size=base.integers(2, 9))]
            for _ in range(120)]
    rng = np.random.default_rng(seed + 100)
    pred = [[ENTITY_TAGS[rng.integers(5)] if rng.random() < error_rate else t for t in s]
            for s in gold]
    return [{"id": k, "gold": g, "prediction": p}
            for k, (g, p) in enumerate(zip(gold, pred, strict=True))]


def write_eval(eval_dir: Path, task: str, by_config: dict[str, list[dict]], seed: int,
               label: str | None = None) -> None:
    """results.json + predictions/ as `evaluate` writes them (metrics computed independently)."""
    (eval_dir / "predictions").mkdir(parents=True)
    metrics = {}
    for config, items in by_config.items():
        golds, preds = [i["gold"] for i in items], [i["prediction"] for i in items]
        if task == "ner":
            metrics[config] = {"f1": 100 * f1_score(golds, preds), "n": len(items)}
        else:
            metrics[config] = {"accuracy": 100 * float(np.mean(np.equal(golds, preds))),
                               "n": len(items)}
        with open(eval_dir / "predictions" / f"{config}.jsonl", "w") as f:
            f.writelines(json.dumps(i) + "\n" for i in items)
    config = {"seed": seed, **({"label": label} if label else {})}
    (eval_dir / "results.json").write_text(json.dumps(
        {"task": task, "model": f"/runs/{label or 'm'}", "config": config, "metrics": metrics}))


# Model -> xnli accuracy per language, NER error rate. `adjusted` is much better on es, equal
# (identical predictions) on ru; `other` is slightly different everywhere.
SETUP = {"original": ({"es": 0.55, "ru": 0.60}, 0.40),
         "adjusted": ({"es": 0.80, "ru": 0.60}, 0.15),
         "other": ({"es": 0.57, "ru": 0.61}, 0.38)}


def eval_dir_of(root: Path, model: str, task: str, seed: int) -> Path:
    return Path(LAYOUT.format(root=root, model=model, task=task, seed=seed)).parent


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("experiment")
    for model, (acc, ner_error) in SETUP.items():
        for seed in SEEDS:
            # Every model draws the same random numbers per seed and language, so equal accuracy
            # (ru of `adjusted` and `original`) means the very same predictions.
            xnli = {lang: xnli_items(a, seed, lang) for lang, a in acc.items()}
            write_eval(eval_dir_of(root, model, "xnli", seed), "xnli", xnli, seed)
            write_eval(eval_dir_of(root, model, "ner", seed), "ner",
                       {"es": ner_items(ner_error, seed)}, seed)
    return root


@pytest.fixture(scope="module")
def result(experiment):
    return compare(CompareConfig(inputs=[str(experiment)], baseline="original"))


def row(result, task, config, metric):
    return next(r for r in result.rows if (r.task, r.config, r.metric) == (task, config, metric))


def reported(root, model, task, config, metric):
    return [json.loads((eval_dir_of(root, model, task, s) / "results.json").read_text())
            ["metrics"][config][metric] for s in SEEDS]


def test_table_statistics(experiment, result):
    assert result.baseline == "original"
    assert len(result.rows) == 3  # xnli es, xnli ru, ner es
    r = row(result, "xnli", "es", "accuracy")
    for model in SETUP:
        values = reported(experiment, model, "xnli", "es", "accuracy")
        assert r.summaries[model].mean == pytest.approx(statistics.mean(values))
        assert r.summaries[model].std == pytest.approx(statistics.stdev(values))
        assert r.summaries[model].seeds == 3 and r.n[model] == N_ITEMS
    test = r.tests["adjusted"]
    assert test["delta_of_means"] == pytest.approx(
        r.summaries["adjusted"].mean - r.summaries["original"].mean)
    # The bootstrap's full-sample delta is the same delta, recomputed from the predictions.
    assert test["delta"] == pytest.approx(test["delta_of_means"])
    assert test["seeds"] == list(SEEDS) and test["n"] == N_ITEMS
    assert test["delta"] > 15 and test["significant"] and test["p_holm"] < 0.01
    assert test["ci_low"] < test["delta"] < test["ci_high"]


def test_identical_predictions_are_not_significant(result):
    test = row(result, "xnli", "ru", "accuracy").tests["adjusted"]
    assert test["delta"] == 0 and test["p_value"] == 1.0 and not test["significant"]


def test_entity_f1_comparison(experiment, result):
    r = row(result, "ner", "es", "f1")
    values = reported(experiment, "adjusted", "ner", "es", "f1")
    assert r.summaries["adjusted"].mean == pytest.approx(statistics.mean(values))
    test = r.tests["adjusted"]
    assert test["delta"] == pytest.approx(test["delta_of_means"]) and test["significant"]


def test_holm_over_the_whole_family(result):
    tests = [t for r in result.rows for t in r.tests.values()]
    assert len(tests) == 6 == result.footer["family_size"]  # 2 models x 3 rows
    assert all(t["p_holm"] >= t["p_value"] for t in tests)
    smallest = min(tests, key=lambda t: t["p_value"])
    assert smallest["p_holm"] == pytest.approx(min(1.0, 6 * smallest["p_value"]))


def test_outputs_json_markdown_and_charts(experiment, result):
    saved = json.loads((experiment / "compare.json").read_text())
    assert saved["baseline"] == "original" and len(saved["rows"]) == 3
    assert saved["rows"][0]["vs_baseline"]["adjusted"]["p_holm"] is not None
    md = result.markdown
    assert "| config | metric | original (baseline) | adjusted | other |" in md
    for key in ("seeds", "n (test items)", "selection rule", "Holm", "paired bootstrap"):
        assert f"- {key}" in md or key in md
    assert "Δ +" in md and "*" in md
    for task in ("xnli", "ner"):
        png = result.charts[task]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    (ax,) = result.figures["xnli"].axes
    assert ax.get_xlabel() == "language (config)" and ax.get_ylabel() == "accuracy (%)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["es", "ru"]
    bars = [p for p in ax.patches if p.get_height() > 0]
    assert len(bars) == 6  # 3 models x 2 languages
    es_adjusted = row(result, "xnli", "es", "accuracy").summaries["adjusted"].mean
    assert any(b.get_height() == pytest.approx(es_adjusted) for b in bars)
    stars = [t for t in ax.texts if t.get_text() == "*"]
    assert len(stars) == sum(r.tests[m].get("significant", False)
                             for r in result.rows if r.task == "xnli" for m in r.tests)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["original", "adjusted", "other"]  # the baseline first


def test_items_pair_by_id_not_by_line(experiment, tmp_path):
    # The same runs, each file in another order: the same statistics.
    flat = []
    for model in SETUP:
        for seed in SEEDS:
            src = eval_dir_of(experiment, model, "xnli", seed)
            results = json.loads((src / "results.json").read_text())
            items = [json.loads(line) for line in open(src / "predictions" / "es.jsonl")]
            order = np.random.default_rng(seed).permutation(len(items))
            dst = tmp_path / f"{model}-{seed}"
            write_eval(dst, "xnli", {"es": [items[k] for k in order]}, seed, label=model)
            assert json.loads((dst / "results.json").read_text())["metrics"]["es"][
                "accuracy"] == pytest.approx(results["metrics"]["es"]["accuracy"])
            flat.append(str(dst))
    shuffled = compare(CompareConfig(inputs=flat, output_dir=str(tmp_path / "out")))
    original = compare(CompareConfig(inputs=[str(experiment)], output_dir=str(tmp_path / "o2")))
    assert shuffled.baseline == "original"  # the default baseline
    a = row(shuffled, "xnli", "es", "accuracy").tests["adjusted"]
    b = row(original, "xnli", "es", "accuracy").tests["adjusted"]
    for key in ("delta", "p_value", "ci_low", "ci_high"):
        assert a[key] == pytest.approx(b[key])


def test_qa_and_ner_metrics_recomputed_by_the_task_scorers(tmp_path):
    from seqeval.metrics import precision_score

    from xadj.tasks.qa_post import qa_metrics

    golds = [["the cat"], ["a dog", "dog"], ["El gato"], ["red"]] * 10
    answers = {"original": ["cat", "dogs", "gato", "blue"] * 10,
               "adjusted": ["the cat", "dog", "el gato", "red"] * 10}
    flat = []
    for model, preds in answers.items():
        d = tmp_path / model
        (d / "predictions").mkdir(parents=True)
        items = [{"id": f"q{k}", "gold": g, "prediction": p}
                 for k, (g, p) in enumerate(zip(golds, preds, strict=True))]
        (d / "predictions" / "mlqa.es.en.jsonl").write_text(
            "".join(json.dumps(i) + "\n" for i in items))
        scores = qa_metrics(preds, golds, normalizer="mlqa", lang="es")
        ner = ner_items(0.3 if model == "original" else 0.1, seed=1)
        (d / "predictions" / "es.jsonl").write_text("".join(json.dumps(i) + "\n" for i in ner))
        precision = 100 * precision_score([i["gold"] for i in ner], [i["prediction"] for i in ner])
        for task, metrics in (("qa", {"mlqa.es.en": {**scores}}),
                              ("ner", {"es": {"precision": precision, "n": len(ner)}})):
            e = d / task
            (e / "predictions").mkdir(parents=True)
            name = "mlqa.es.en.jsonl" if task == "qa" else "es.jsonl"
            (e / "predictions" / name).write_text((d / "predictions" / name).read_text())
            (e / "results.json").write_text(json.dumps({
                "task": task, "model": model, "metrics": metrics,
                "config": {"seed": 1, "label": model, "qa_normalizer": "mlqa"}}))
            flat.append(str(e))
    with pytest.MonkeyPatch.context() as mp:
        warnings = []
        mp.setattr("xadj.analysis.compare.log.warning", lambda *a: warnings.append(a))
        result = compare(CompareConfig(inputs=flat, output_dir=str(tmp_path / "out")))
    assert warnings == []  # every recomputed full-set value equals the reported one
    em = row(result, "qa", "mlqa.es.en", "exact_match").tests["adjusted"]
    # MLQA's Spanish rules drop "El": "gato" matches "El gato" (SQuAD's would not, delta 100).
    assert em["delta"] == pytest.approx(75.0) and em["significant"]
    f1 = row(result, "qa", "mlqa.es.en", "f1").tests["adjusted"]
    assert f1["delta"] == pytest.approx(f1["delta_of_means"])
    prec = row(result, "ner", "es", "precision").tests["adjusted"]
    assert prec["delta"] == pytest.approx(prec["delta_of_means"]) and prec["delta"] > 0


def test_bad_inputs_are_named(experiment, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        find_runs([tmp_path / "missing"])
    with pytest.raises(FileNotFoundError, match="no results"):
        find_runs([tmp_path])
    with pytest.raises(ValueError, match="baseline 'nope'"):
        compare(CompareConfig(inputs=[str(experiment)], baseline="nope",
                              output_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="resamples must be >= 1000"):
        compare(CompareConfig(inputs=[str(experiment)], resamples=10))
    bad = tmp_path / "bad"
    write_eval(bad, "xnli", {"es": xnli_items(0.5, 1, "es")}, 1, label="x")
    with open(bad / "predictions" / "es.jsonl", "a") as f:
        f.write("{not json\n")
    other = tmp_path / "other"
    write_eval(other, "xnli", {"es": xnli_items(0.5, 1, "es")}, 1, label="y")
    with pytest.raises(ValueError, match=rf"es.jsonl:{N_ITEMS + 1}: not JSON"):
        compare(CompareConfig(inputs=[str(bad), str(other)], output_dir=str(tmp_path / "o")))
