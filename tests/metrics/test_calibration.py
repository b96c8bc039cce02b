"""Log-prob confidence, answer-token mask, ECE / Brier and the reliability PNG."""

import math

import numpy as np
import pytest
from matplotlib import image as mpimg

from jax_rlvr.metrics import calibration
from jax_rlvr.models.char_tokenizer import arithmetic_tokenizer


def test_mean_logprob_confidence_ignores_padding():
  logprobs_BY = np.log(np.array([[0.5, 0.5, 1.0], [0.2, 0.8, 0.3], [0.9, 0.9, 0.9]]))
  logprobs_BY[0, 2] = -np.inf
  mask_BY = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0]])
  conf_B = calibration.mean_logprob_confidence(logprobs_BY, mask_BY)
  # Row 0: the masked -inf is ignored; row 1: geometric mean sqrt(0.2 · 0.8) = 0.4.
  np.testing.assert_allclose(conf_B[:2], [0.5, 0.4], rtol=1e-12)
  assert math.isnan(conf_B[2])
  with pytest.raises(ValueError):
    calibration.mean_logprob_confidence(logprobs_BY, mask_BY[:, :2])


def test_response_and_answer_confidence():
  logprobs_BY = np.log(np.array([[0.5, 0.8, 0.2, 0.9], [0.6, 0.6, 0.6, 0.6]]))
  response_mask_BY = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
  answer_mask_BY = np.array([[0, 0, 1, 1], [0, 0, 0, 0]])
  out = calibration.response_confidences(logprobs_BY, response_mask_BY, answer_mask_BY)
  np.testing.assert_allclose(out["response"], [0.08 ** (1 / 3), 0.6], rtol=1e-12)
  # Position 3 is outside the response, so only 0.2 counts for the answer of row 0.
  assert out["answer"][0] == pytest.approx(0.2)
  assert math.isnan(out["answer"][1])


def test_answer_token_mask_on_arithmetic_responses():
  tok = arithmetic_tokenizer()
  responses = ["23+9=32>32", "1+2=3>5>17", "1+2=3"]
  rows = [tok.encode(r, add_eos=True) for r in responses]
  width = max(map(len, rows)) + 2
  tokens_BY = np.array([r + [tok.pad_id] * (width - len(r)) for r in rows])
  response_mask_BY = tokens_BY != tok.pad_id
  marker = tok.encode(">")[0]
  mask_BY = calibration.answer_token_mask(
    tokens_BY, response_mask_BY, marker, exclude_ids=(tok.eos_id,)
  )
  got = [tok.decode(t[m]) for t, m in zip(tokens_BY, mask_BY, strict=True)]
  assert got == ["32", "17", ""]
  assert mask_BY.sum(axis=1).tolist() == [2, 2, 0]
  # Without excluding EOS, it is part of the span.
  with_eos = calibration.answer_token_mask(tokens_BY, response_mask_BY, marker)
  assert with_eos.sum(axis=1).tolist() == [3, 3, 0]


def test_perfectly_calibrated_bins_have_zero_ece():
  conf = [0.25] * 4 + [0.75] * 4 + [0.95] * 20
  correct = [1, 0, 0, 0] + [1, 1, 1, 0] + [1] * 19 + [0]
  assert calibration.expected_calibration_error(conf, correct) == pytest.approx(0.0, abs=1e-12)


def test_ece_hand_example_and_table():
  conf = [0.9, 0.9, 0.9, 0.9, 0.3, 0.3, float("nan")]
  correct = [1, 0, 1, 0, 1, 0, 1]
  # Bin 9: confidence 0.9, accuracy 0.5, weight 4/6; bin 3: 0.3 vs 0.5, weight 2/6.
  ece = calibration.expected_calibration_error(conf, correct, num_bins=10)
  assert ece == pytest.approx(4 / 6 * 0.4 + 2 / 6 * 0.2)
  # One bin: mean confidence 0.7 against accuracy 0.5.
  assert calibration.expected_calibration_error(conf, correct, num_bins=1) == pytest.approx(0.2)
  table = calibration.reliability_table(conf, correct, num_bins=10)
  assert table["count"].tolist() == [0, 0, 0, 2, 0, 0, 0, 0, 0, 4]
  np.testing.assert_allclose(table["lower"], np.arange(10) / 10)
  np.testing.assert_allclose(table["upper"], np.arange(1, 11) / 10)
  assert table["accuracy"][9] == pytest.approx(0.5) and table["confidence"][3] == pytest.approx(0.3)
  assert np.isnan(table["accuracy"][0]) and np.isnan(table["confidence"][5])


def test_bin_edges_and_invalid_input():
  table = calibration.reliability_table([0.0, 0.49, 0.5, 1.0], [0, 0, 1, 1], num_bins=2)
  assert table["count"].tolist() == [2, 2]
  assert math.isnan(calibration.expected_calibration_error([], []))
  with pytest.raises(ValueError):
    calibration.reliability_table([1.2], [1])
  with pytest.raises(ValueError):
    calibration.reliability_table([0.5, 0.5], [1])
  with pytest.raises(ValueError):
    calibration.reliability_table([0.5], [1], num_bins=0)


def test_brier_score():
  assert calibration.brier_score([1.0, 0.0, 0.5, 0.8], [1, 1, 0, 1]) == pytest.approx(
    (0 + 1 + 0.25 + 0.04) / 4
  )
  assert calibration.brier_score([1.0, 0.0], [True, False]) == 0.0


def test_plot_reliability_writes_a_png(tmp_path):
  rng = np.random.default_rng(0)
  conf = rng.uniform(size=200)
  correct = rng.uniform(size=200) < conf**2
  path = str(tmp_path / "reliability.png")
  assert calibration.plot_reliability(conf, correct, path, num_bins=8, title="GRPO") == path
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  pixels = mpimg.imread(path)
  assert pixels.shape[:2] == (550, 450)
  # Non-trivial: several colours (bars, diagonal, text), not a blank canvas.
  assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 20
  assert pixels[..., :3].std() > 0.05
