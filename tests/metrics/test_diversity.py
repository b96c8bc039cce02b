"""Distinct-n, Self-BLEU and unique-answer rate on hand-computed cases."""

import math

import pytest

from jax_rlvr.metrics import diversity


def test_tokenize_words_and_chars():
  assert diversity.tokenize(" a  bc\td ") == ["a", "bc", "d"]
  assert diversity.tokenize("23+9 =32", unit="char") == ["2", "3", "+", "9", "=", "3", "2"]
  with pytest.raises(ValueError, match="unit"):
    diversity.tokenize("a", unit="bpe")


@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_distinct_n_of_identical_responses_is_one_over_k(k, n):
  # "a b c d e" has 6 - n distinct n-grams; K copies repeat each of them K times.
  assert diversity.distinct_n_single(["a b c d e"] * k, n) == pytest.approx(1 / k)


def test_distinct_n_hand_example():
  responses = ["a a b", "a b c"]
  # unigrams a a b a b c -> {a, b, c}; bigrams aa ab ab bc -> 3 distinct; trigrams aab abc.
  assert diversity.distinct_n_single(responses, 1) == pytest.approx(3 / 6)
  assert diversity.distinct_n_single(responses, 2) == pytest.approx(3 / 4)
  assert diversity.distinct_n_single(responses, 3) == pytest.approx(1.0)
  assert math.isnan(diversity.distinct_n_single(responses, 4))
  with pytest.raises(ValueError):
    diversity.distinct_n_single(responses, 0)


def test_distinct_n_chars_and_prompt_average():
  # Characters 1 2 + 3 1 2 + 4: five distinct of eight.
  assert diversity.distinct_n_single(["12+3", "12+4"], 1, unit="char") == pytest.approx(5 / 8)
  assert diversity.distinct_n_single(["12+3", "12+4"], 1) == pytest.approx(1.0)
  responses_PK = [["a a b", "a b c"], ["x y", "z w"], ["q", "q"]]
  # Bigram diversity 3/4 and 1; the third prompt has no bigram and is skipped.
  assert diversity.distinct_n(responses_PK, 2) == pytest.approx((0.75 + 1.0) / 2)
  assert math.isnan(diversity.distinct_n([["a"], ["b"]], 2))


def test_self_bleu_identical_is_one_and_disjoint_is_zero():
  assert diversity.self_bleu_single(["the cat sat on the mat"] * 4) == pytest.approx(1.0)
  assert diversity.self_bleu_single(["a b c d", "e f g h", "i j k l"]) == 0.0
  assert diversity.self_bleu_single(["23+9=32>32"] * 3, unit="char") == pytest.approx(1.0)


def test_self_bleu_hand_example_with_exp_smoothing():
  # Either way round: precisions 3/4, 2/3, 1/2 and 0/1 for 4-grams, which "exp" smoothing turns
  # into 1 / (2 · 1); equal lengths so no brevity penalty.
  expected = (3 / 4 * 2 / 3 * 1 / 2 * 1 / 2) ** 0.25
  responses = ["a b c d", "a b c e"]
  assert diversity.self_bleu_single(responses) == pytest.approx(expected, rel=1e-9)
  assert diversity.self_bleu_single(responses, smooth_method="none") == pytest.approx(0.0)


def test_self_bleu_uses_the_other_responses_as_references():
  # "a b c d" matches its copy exactly (1.0); each copy also has it as a reference (1.0);
  # "w x y z" matches nothing (0.0).
  assert diversity.self_bleu_single(["a b c d", "a b c d", "w x y z"]) == pytest.approx(2 / 3)


def test_self_bleu_prompt_average_skips_single_samples():
  assert math.isnan(diversity.self_bleu_single(["a b c"]))
  responses_PK = [["a b c d"] * 2, ["a b c d", "e f g h"], ["lonely"]]
  assert diversity.self_bleu(responses_PK) == pytest.approx(0.5)


def test_unique_answer_rate():
  answers_PK = [["1", "1", "2", "3"], ["5", None, None, "5"], [None, None]]
  assert diversity.unique_answer_rate(answers_PK) == pytest.approx((3 / 4 + 1 / 4 + 0) / 3)
  assert diversity.unique_answer_rate([["7"] * 8]) == pytest.approx(1 / 8)
  with pytest.raises(ValueError):
    diversity.unique_answer_rate([[]])


def test_diversity_metrics_bundles_all():
  out = diversity.diversity_metrics([["a b", "a b"]], [["3", "4"]], max_n=2)
  assert out == pytest.approx(
    {"distinct_1": 0.5, "distinct_2": 0.5, "self_bleu": 1.0, "unique_answer_rate": 1.0}
  )
  assert "unique_answer_rate" not in diversity.diversity_metrics([["a b", "a b"]])
