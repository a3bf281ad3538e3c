"""Statistics of xadj.analysis.stats against known cases: seqeval itself, scipy's bootstrap, the
normal closed form of a bootstrap p-value, and Holm's procedure on a textbook example."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from scipy import stats as scipy_stats
from seqeval.metrics import f1_score, precision_score, recall_score

from xadj.analysis.stats import (
    EntityF1Metric,
    MeanMetric,
    SeedAverage,
    bootstrap_mean_ci,
    holm,
    mean_std,
    paired_bootstrap,
)

TAGS = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def random_tagging(rng: np.random.Generator, sentences: int) -> list[list[str]]:
    return [[TAGS[t] for t in rng.integers(0, len(TAGS), size=rng.integers(1, 12))]
            for _ in range(sentences)]


def noisy_copy(rng: np.random.Generator, gold: list[list[str]], rate: float) -> list[list[str]]:
    return [[TAGS[rng.integers(len(TAGS))] if rng.random() < rate else t for t in s] for s in gold]


def test_entity_f1_equals_seqeval_on_the_set_and_on_a_resample():
    rng = np.random.default_rng(1)
    gold = random_tagging(rng, 60)
    pred = noisy_copy(rng, gold, 0.3)
    metric = EntityF1Metric.from_tags(gold, pred)
    everything = np.arange(60)[None, :]
    assert metric.score(everything)[0] == pytest.approx(100 * f1_score(gold, pred))
    # A resample repeats sentences: seqeval on the repeated list is the reference.
    idx = rng.integers(0, 60, size=(3, 60))
    for row, value in zip(idx, metric.score(idx), strict=True):
        expected = 100 * f1_score([gold[i] for i in row], [pred[i] for i in row])
        assert value == pytest.approx(expected)


def test_entity_precision_and_recall_equal_seqeval():
    rng = np.random.default_rng(2)
    gold = random_tagging(rng, 40)
    pred = noisy_copy(rng, gold, 0.4)
    idx = rng.integers(0, 40, size=(2, 40))
    for measure, reference in (("precision", precision_score), ("recall", recall_score)):
        metric = EntityF1Metric.from_tags(gold, pred, measure)
        for row, value in zip(idx, metric.score(idx), strict=True):
            assert value == pytest.approx(
                100 * reference([gold[i] for i in row], [pred[i] for i in row]))


def test_entity_f1_is_not_the_mean_of_sentence_f1():
    # One sentence with 3 entities all found, one with 1 entity missed: micro F1 = 2*3/(3+4).
    gold = [["B-PER", "O", "B-LOC", "O", "B-ORG"], ["B-PER"]]
    pred = [["B-PER", "O", "B-LOC", "O", "B-ORG"], ["O"]]
    metric = EntityF1Metric.from_tags(gold, pred)
    assert metric.score(np.array([[0, 1]]))[0] == pytest.approx(100 * 6 / 7)


def test_entity_f1_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="sentence 0"):
        EntityF1Metric.from_tags([["O", "B-PER"]], [["O"]])


def correct_vectors(n: int, acc_a: float, acc_b: float, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    a = (rng.random(n) < acc_a).astype(float)
    b = (rng.random(n) < acc_b).astype(float)
    return a, b


def test_paired_bootstrap_interval_matches_scipy():
    a, b = correct_vectors(400, 0.70, 0.76, seed=3)
    ours = paired_bootstrap(MeanMetric(100 * a), MeanMetric(100 * b), resamples=4000, seed=0)
    ref = scipy_stats.bootstrap(
        (100 * a, 100 * b), lambda x, y, axis=-1: y.mean(axis=axis) - x.mean(axis=axis),
        paired=True, vectorized=True, n_resamples=4000, method="percentile",
        rng=np.random.default_rng(0)).confidence_interval
    se = (100 * (b - a)).std() / math.sqrt(400)
    assert ours.delta == pytest.approx(100 * (b.mean() - a.mean()))
    # Monte Carlo estimates of the same quantiles (scipy 1.17 draws the very same resamples
    # from the same seed; other versions may not): within a quarter of the standard error.
    assert ours.ci_low == pytest.approx(ref.low, abs=0.25 * se)
    assert ours.ci_high == pytest.approx(ref.high, abs=0.25 * se)
    assert ours.ci_low < ours.delta < ours.ci_high


@pytest.mark.parametrize("acc_b", [0.73, 0.78, 0.80])
def test_paired_bootstrap_p_value_matches_the_normal_closed_form(acc_b):
    # For a mean of paired differences the centred bootstrap distribution is ~ N(0, sd/sqrt(n))
    # on a lattice of step 100/n (accuracy in percent); counting |delta* - delta| >= |delta|
    # includes the boundary atom, so p ~ 2 (1 - Phi((|delta| - step/2) / se)).
    n = 600
    a, b = correct_vectors(n, 0.70, acc_b, seed=5)
    d = 100 * (b - a)
    ours = paired_bootstrap(MeanMetric(100 * a), MeanMetric(100 * b), resamples=5000, seed=1)
    se = d.std() / math.sqrt(n)
    closed = 2 * scipy_stats.norm.sf((abs(d.mean()) - 50 / n) / se)
    assert 0.005 < closed < 0.7  # a case where the p-value is informative
    assert ours.p_value == pytest.approx(closed, abs=0.02)


def test_paired_bootstrap_edge_cases():
    a, b = correct_vectors(200, 0.5, 0.5, seed=2)
    same = paired_bootstrap(MeanMetric(a), MeanMetric(a), resamples=1000)
    assert same.delta == 0 and same.p_value == 1.0
    ones, zeros = np.full(200, 100.0), np.zeros(200)
    far = paired_bootstrap(MeanMetric(zeros), MeanMetric(ones), resamples=1000)
    assert far.delta == 100 and far.p_value == pytest.approx(1 / 1001)
    again = paired_bootstrap(MeanMetric(a), MeanMetric(b), resamples=1000, seed=9)
    assert again == paired_bootstrap(MeanMetric(a), MeanMetric(b), resamples=1000, seed=9)
    with pytest.raises(ValueError, match="same items"):
        paired_bootstrap(MeanMetric(a), MeanMetric(b[:10]))


def test_seed_average_scores_the_mean_of_runs():
    a, b = correct_vectors(50, 0.4, 0.8, seed=4)
    avg = SeedAverage((MeanMetric(a), MeanMetric(b)))
    idx = np.random.default_rng(0).integers(0, 50, size=(5, 50))
    assert np.allclose(avg.score(idx), (a[idx].mean(axis=1) + b[idx].mean(axis=1)) / 2)


def test_holm_textbook_example():
    # Holm (1979) as taught, e.g. Wikipedia's example: p = .01 .04 .03 .005, alpha .05.
    # Sorted: .005*4 = .02, .01*3 = .03, .03*2 = .06, .04*1 = .04 -> max(.06, .04) = .06.
    # R: p.adjust(c(.01, .04, .03, .005), "holm") gives 0.03 0.06 0.06 0.02.
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert np.allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    assert list(adjusted <= 0.05) == [True, False, False, True]
    assert np.allclose(holm([0.5, 0.9]), [1.0, 1.0])  # capped at 1
    assert holm([]).shape == (0,)
    with pytest.raises(ValueError):
        holm([0.1, 1.5])


def test_mean_std_over_seeds():
    values = [71.2, 70.4, 72.9, 69.8, 71.0]
    s = mean_std(values)
    assert s.mean == pytest.approx(statistics.mean(values))
    assert s.std == pytest.approx(statistics.stdev(values))
    assert s.seeds == 5 and str(s) == f"{s.mean:.2f} ± {s.std:.2f}"
    single = mean_std([80.0])
    assert single.std is None and str(single) == "80.00"


def test_bootstrap_mean_ci_covers_the_normal_interval():
    values = np.random.default_rng(0).normal(2.0, 1.0, size=500)
    mean, low, high = bootstrap_mean_ci(values, resamples=2000, seed=0)
    se = values.std() / math.sqrt(500)
    assert mean == pytest.approx(values.mean())
    assert low == pytest.approx(mean - 1.96 * se, abs=0.25 * se)
    assert high == pytest.approx(mean + 1.96 * se, abs=0.25 * se)
