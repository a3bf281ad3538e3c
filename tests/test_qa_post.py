"""QA building blocks: SQuAD/MLQA scoring on hand-computed cases, n-best post-processing on
hand-made windows with known spans, and windows + training labels from real tiny tokenizers,
including an answer that crosses a window boundary."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from xadj.tasks.qa_post import (
    QaFeatures,
    exact_match,
    f1,
    get_normalizer,
    mlqa_normalize,
    postprocess,
    prepare_features,
    qa_metrics,
    squad_normalize,
)

# -- scoring ---------------------------------------------------------------------------------


def test_squad_normalisation():
    assert squad_normalize("  The Cat,  sat! ") == "cat sat"
    assert squad_normalize("An apple. A pear") == "apple pear"
    assert squad_normalize("Theater and thematic") == "theater and thematic"  # whole words only
    assert squad_normalize("¿Dónde?") == "¿dónde"  # SQuAD drops ASCII punctuation only


def test_exact_match_and_f1_by_hand():
    assert exact_match("the Eiffel Tower!", ["Eiffel tower"]) == 1.0
    assert exact_match("Eiffel", ["Eiffel tower"]) == 0.0
    # pred {big, red, dog} vs gold {red, dog, barked}: 2 shared, P = R = 2/3.
    assert f1("the big red dog", ["red dog barked"]) == pytest.approx(2 / 3)
    assert f1("the big red dog", ["cat", "red dog barked", "dog"]) == pytest.approx(2 / 3)
    # Repeated tokens count once per occurrence: P = 1/2, R = 1, F1 = 2/3.
    assert f1("dog dog", ["dog"]) == pytest.approx(2 / 3)
    assert f1("cat", ["dog"]) == 0.0
    assert f1("", ["dog"]) == 0.0
    assert f1("the", ["a"]) == 0.0  # both empty after normalisation: 0, as in SQuAD v1.1
    with pytest.raises(ValueError):
        f1("dog", "dog")


def test_qa_metrics_in_percent_with_a_missing_prediction():
    predictions = {"a": "Paris", "b": "the big red dog", "extra": "ignored"}
    golds = {"a": ["paris", "Paris, France"], "b": ["red dog barked"], "c": ["x"]}
    metrics = qa_metrics(predictions, golds)
    assert metrics["n"] == 3
    assert metrics["exact_match"] == pytest.approx(100 / 3)
    assert metrics["f1"] == pytest.approx(100 * (1 + 2 / 3 + 0) / 3)
    # The same items as aligned lists; one item alone gives its own score.
    by_position = qa_metrics(["Paris", "the big red dog", ""], [g for g in golds.values()])
    assert by_position == pytest.approx(metrics)
    assert qa_metrics(["the big red dog"], [["red dog barked"]])["f1"] == pytest.approx(200 / 3)
    with pytest.raises(ValueError, match="both"):
        qa_metrics(predictions, list(golds.values()))
    with pytest.raises(ValueError, match="2 predictions for 3"):
        qa_metrics(["a", "b"], list(golds.values()))


def test_mlqa_normaliser_spanish():
    assert mlqa_normalize("¡El perro de los vecinos!", "es") == "perro de vecinos"
    assert mlqa_normalize("«Hola» — dijo Unamuno", "es") == "hola dijo unamuno"
    # Spanish articles and Unicode punctuation make EM differ from SQuAD's rule.
    assert exact_match("¡el perro!", ["perro"], get_normalizer("mlqa", "es")) == 1.0
    assert exact_match("¡el perro!", ["perro"], get_normalizer("squad")) == 0.0
    metrics = qa_metrics({"1": "los gatos"}, {"1": ["gatos"]}, normalizer="mlqa", lang="es")
    assert metrics["exact_match"] == 100.0


def test_mlqa_normaliser_german_and_vietnamese():
    assert mlqa_normalize("Der Hund und die Katze.", "de") == "hund und katze"
    assert mlqa_normalize("Dieser Hund, des Nachbarn", "de") == "dieser hund nachbarn"
    assert mlqa_normalize("Những con mèo của tôi.", "vi") == "con mèo tôi"
    assert mlqa_normalize("Là một chiếc xe", "vi") == "một xe"


def test_mlqa_normaliser_other_languages():
    assert mlqa_normalize("The answer, an idea", "en") == squad_normalize("The answer, an idea")
    assert mlqa_normalize("北京大学。", "zh") == "北 京 大 学"
    assert mlqa_normalize("iPhone手机", "zh") == "iphone 手 机"
    assert f1("北京大学", ["北京"], get_normalizer("mlqa", "zh")) == pytest.approx(2 / 3)
    assert mlqa_normalize("भारत की राजधानी।", "hi") == "भारत की राजधानी"
    with pytest.raises(ValueError, match="squad"):
        mlqa_normalize("привет", "ru")
    with pytest.raises(ValueError, match="unknown QA normaliser"):
        get_normalizer("bleu")


# -- post-processing on hand-made windows ------------------------------------------------------

CONTEXT = "alpha beta gamma delta epsilon zeta"
ALPHA, BETA, GAMMA, DELTA, EPSILON, ZETA = (0, 5), (6, 10), (11, 16), (17, 22), (23, 30), (31, 35)
Q = [None, None, None]  # [CLS] question [SEP]


def window(*spans):
    return Q + list(spans) + [None]


def logits(length, **at):
    row = np.full(length, -5.0)
    for position, value in at.items():
        row[int(position[1:])] = value
    return row


def one_window(start, end, n_best=20, max_answer_length=30):
    offsets = window(ALPHA, BETA, GAMMA, DELTA, EPSILON, ZETA)
    features = QaFeatures([{}], [0], [offsets])
    examples = [{"id": "q", "context": CONTEXT}]
    return postprocess(examples, features, [start], [end], n_best=n_best,
                       max_answer_length=max_answer_length)["q"]


def test_answer_across_a_window_boundary_comes_from_the_second_window():
    # Window 0 sees alpha..delta, window 1 (overlap of two tokens) gamma..zeta. The answer
    # "delta epsilon" crosses the boundary: window 0 can only offer "delta" (score 5).
    features = QaFeatures(
        inputs=[{}, {}],
        example_index=[0, 0],
        offsets=[window(ALPHA, BETA, GAMMA, DELTA), window(GAMMA, DELTA, EPSILON, ZETA)],
    )
    starts = [logits(8, p0=100.0, p6=3.0), logits(8, p4=4.0)]  # p0 = [CLS]: never an answer
    ends = [logits(8, p0=100.0, p6=2.0), logits(8, p5=4.0)]
    examples = [{"id": "q", "context": CONTEXT}]
    assert postprocess(examples, features, starts, ends) == {"q": "delta epsilon"}
    # The same window alone gives its best partial answer.
    alone = QaFeatures([{}], [0], [features.offsets[0]])
    assert postprocess(examples, alone, starts[:1], ends[:1]) == {"q": "delta"}


def test_max_answer_length_is_respected():
    start = logits(10, p3=10.0, p5=5.0)  # alpha, gamma
    end = logits(10, p8=10.0, p6=4.0, p5=1.0)  # zeta, delta, gamma
    assert one_window(start, end) == CONTEXT  # alpha..zeta, 6 tokens
    # At most 3 tokens: (alpha, gamma) = 11 beats (gamma, delta) = 9 and (gamma, gamma) = 6.
    assert one_window(start, end, max_answer_length=3) == "alpha beta gamma"
    assert one_window(start, end, max_answer_length=1) == "gamma"


def test_reversed_spans_and_non_context_tokens_are_skipped():
    assert one_window(logits(10, p6=10.0), logits(10, p4=10.0, p7=1.0)) == "delta epsilon"
    # The best start is in the question: the best start inside the context is used.
    assert one_window(logits(10, p1=50.0, p4=1.0), logits(10, p4=1.0)) == "beta"


def test_n_best_limits_the_candidates():
    start = logits(10, p0=100.0, p3=1.0)
    end = logits(10, p0=100.0, p4=1.0)
    assert one_window(start, end, n_best=1) == ""  # only [CLS] considered: no valid span
    assert one_window(start, end, n_best=2) == "alpha beta"


def test_padding_logits_beyond_the_window_are_ignored():
    start = np.concatenate([logits(10, p3=1.0), [99.0, 99.0]])
    end = np.concatenate([logits(10, p5=1.0), [99.0, 99.0]])
    assert one_window(start, end) == "alpha beta gamma"


# -- windows and labels from real tokenizers ---------------------------------------------------

STORY = ("a man in a blue shirt is riding a bike . two dogs play in the snow near a red house "
         "while children watch from the window of the old school building . a woman sells "
         "bread at the market and a boy carries a large basket of apples down the street .")
ANSWER = "the old school building"
QUESTION = "  where do children watch from ?"


def crossing_case(tokenizer, **kwargs):
    start = STORY.index(ANSWER)
    answers = [{"text": [ANSWER], "answer_start": [start]},
               {"text": ["bread"], "answer_start": [STORY.index("bread")]}]
    features = prepare_features(tokenizer, [QUESTION, "what does she sell ?"], [STORY, STORY],
                                ["q1", "q2"], answers=answers, max_length=40, doc_stride=10,
                                **kwargs)
    return features, start, start + len(ANSWER)


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
def test_windows_overlap_by_the_stride_and_label_the_answer(tiny_dirs, kind):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dirs[kind])
    features, first, last = crossing_case(tokenizer)
    assert len(features) > 4 and set(features.example_index) == {0, 1}
    crossing = 0
    for k, (inputs, offsets) in enumerate(zip(features.inputs, features.offsets, strict=True)):
        assert len(inputs["input_ids"]) <= 40
        context = [o for o in offsets if o is not None]
        assert offsets[0] is None and offsets[-1] is None  # specials
        assert context == sorted(context)
        if k + 1 < len(features) and features.example_index[k + 1] == features.example_index[k]:
            following = [o for o in features.offsets[k + 1] if o is not None]
            assert context[-10:] == following[:10]  # doc_stride tokens of overlap
        s, e = inputs["start_positions"], inputs["end_positions"]
        if features.example_index[k] != 0:
            continue
        inside = context[0][0] <= first and context[-1][1] >= last
        if inside:
            assert STORY[offsets[s][0]:offsets[e][1]] == ANSWER
        else:
            assert (s, e) == (0, 0)  # [CLS]
            crossing += context[0][0] <= first < context[-1][1] < last
    assert crossing >= 1, "the case must have a window that cuts the answer"


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
@pytest.mark.parametrize("pad", [False, True])
def test_label_logits_round_trip_through_postprocess(tiny_dirs, kind, pad):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dirs[kind])
    features, first, last = crossing_case(tokenizer, pad=pad)
    starts, ends = [], []
    for inputs, offsets in zip(features.inputs, features.offsets, strict=True):
        length = len(inputs["input_ids"])
        assert not pad or length == 40
        start, end = np.zeros(length), np.zeros(length)
        s, e = inputs["start_positions"], inputs["end_positions"]
        if s:
            start[s], end[e] = 5.0, 5.0
        else:
            # A window that cuts the answer offers its cut-off part with a lower score.
            cut = [t for t, o in enumerate(offsets) if o is not None and first <= o[0] < last]
            if cut:
                start[cut[0]], end[cut[-1]] = 4.0, 4.0
        starts.append(start)
        ends.append(end)
    examples = [{"id": "q1", "context": STORY}, {"id": "q2", "context": STORY}]
    assert postprocess(examples, features, starts, ends) == {"q1": ANSWER, "q2": "bread"}


def test_bad_input_is_named(tiny_dirs):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dirs["bert"])
    with pytest.raises(ValueError, match="must match"):
        prepare_features(tokenizer, ["q"], ["c", "d"])
    with pytest.raises(ValueError, match="doc_stride"):
        prepare_features(tokenizer, ["q"], ["c"], max_length=64, doc_stride=64)
    long_question = " ".join(["where"] * 40)
    with pytest.raises(ValueError, match=r"example 1 \(id 'b'\).*doc_stride 10"):
        prepare_features(tokenizer, ["short ?", long_question], [STORY, STORY], ["a", "b"],
                         max_length=48, doc_stride=10)
    # A long question with a short context needs no window: it is accepted.
    assert len(prepare_features(tokenizer, [long_question], ["dog"], max_length=128,
                                doc_stride=100)) == 1
    with pytest.raises(ValueError, match="fast tokenizer"):
        prepare_features(object(), ["q"], ["c"])
    with pytest.raises(ValueError, match="windows"):
        postprocess([{"id": "q", "context": "c"}], QaFeatures([{}], [0], [[None]]), [], [])
