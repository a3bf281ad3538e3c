"""XSR retrieval on cases whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from xadj.tasks import xsr
from xadj.tasks.xsr import nearest, retrieve


def test_permuted_scaled_copies_are_found_in_both_directions():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 16)).astype(np.float32)
    perm = rng.permutation(50)
    en = 3.0 * x[perm]  # cosine ignores scale: English item j is x[perm[j]]
    inverse = np.argsort(perm)
    result = retrieve(x, en)
    np.testing.assert_array_equal(result.xx2en, inverse)
    np.testing.assert_array_equal(result.en2xx, perm)
    fixed = 100.0 * np.mean(perm == np.arange(50))
    assert result.xx2en_accuracy == pytest.approx(fixed)
    assert result.en2xx_accuracy == pytest.approx(fixed)
    assert result.n == 50
    perfect = retrieve(x, 0.5 * x)
    assert perfect.xx2en_accuracy == perfect.en2xx_accuracy == 100.0


def test_the_two_directions_can_differ():
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    en = np.array([[1.0, 0.0], [1.0, 0.1]])
    # x1 = (0,1) is closest to en1 (cos 0.0995 > 0); en1 = (1, .1) is closest to x0 (0.995).
    result = retrieve(x, en)
    assert result.xx2en.tolist() == [0, 1]
    assert result.en2xx.tolist() == [0, 0]
    assert result.metrics() == {"xx2en_accuracy": 100.0, "en2xx_accuracy": 50.0, "n": 2}


def test_ties_go_to_the_lowest_index():
    x = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    en = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    result = retrieve(x, en)
    assert result.xx2en.tolist() == [0, 0, 2]
    assert result.en2xx.tolist() == [0, 0, 2]
    assert result.xx2en_accuracy == pytest.approx(200 / 3)


def test_zero_vectors_give_cosine_zero_not_nan():
    x = np.array([[0.0, 0.0], [0.0, 1.0]])
    en = np.array([[-1.0, 0.0], [0.0, 1.0]])
    # x0 has cosine 0 with both: the tie goes to 0 (correct); en0 has -0 with x0 and 0 with x1.
    result = retrieve(x, en)
    assert result.xx2en.tolist() == [0, 1]
    assert result.en2xx.tolist() == [0, 1]


def test_blocks_of_rows_give_the_same_answer(monkeypatch):
    rng = np.random.default_rng(1)
    queries, keys = rng.normal(size=(7, 5)), rng.normal(size=(9, 5))
    unit_q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    unit_k = keys / np.linalg.norm(keys, axis=1, keepdims=True)
    want = np.argmax(unit_q @ unit_k.T, axis=1)
    monkeypatch.setattr(xsr, "ROWS_PER_BLOCK", 2)
    np.testing.assert_array_equal(nearest(queries, keys), want)


@pytest.mark.parametrize(
    ("x", "en", "message"),
    [
        (np.ones((3, 4)), np.ones((2, 4)), "translation pairs"),
        (np.ones((2, 4)), np.ones((2, 3)), "dimensions"),
        (np.ones(4), np.ones(4), "translation pairs"),
        (np.zeros((0, 4)), np.zeros((0, 4)), "at least one"),
        (np.array([[1.0, np.nan], [1.0, 1.0]]), np.ones((2, 2)), "row 0 is not finite"),
    ],
)
def test_bad_input_is_named(x, en, message):
    with pytest.raises(ValueError, match=message):
        retrieve(x, en)
