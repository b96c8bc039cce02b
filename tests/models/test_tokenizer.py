"""Both tokenizers implement the Tokenizer Protocol, and the sampler's stop ids come from it."""

import json

import pytest
import tokenizers
from tokenizers import models, pre_tokenizers

from configs import default as default_config
from jax_rlvr import components
from jax_rlvr.models import Tokenizer, load_tokenizer
from jax_rlvr.models.char_tokenizer import arithmetic_tokenizer


def _hf_dir(tmp_path, generation_eos):
  vocab = {"<pad>": 0, "<eos>": 1, "<end>": 2, "a": 3, "b": 4}
  tok = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
  tok.pre_tokenizer = pre_tokenizers.Whitespace()
  tok.save(str(tmp_path / "tokenizer.json"))
  (tmp_path / "tokenizer_config.json").write_text(
    json.dumps({"eos_token": "<eos>", "pad_token": "<pad>"})
  )
  (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": generation_eos}))
  return load_tokenizer(str(tmp_path))


def test_both_tokenizers_are_tokenizers_with_eos_first_in_eos_ids(tmp_path):
  char = arithmetic_tokenizer()
  hf = _hf_dir(tmp_path, [1, 2])
  assert isinstance(char, Tokenizer) and isinstance(hf, Tokenizer)
  assert char.eos_ids == (char.eos_id,) == (2,)
  assert hf.eos_ids == (1, 2) and hf.bos_id is None


@pytest.mark.parametrize("evaluation", [False, True])
def test_sampling_config_takes_the_rollout_or_eval_fields_and_every_eos(tmp_path, evaluation):
  config = default_config.get_config()
  config.rollout.temperature, config.rollout.top_p, config.rollout.top_k = 0.9, 0.95, 7
  config.eval.temperature, config.eval.top_p, config.eval.k = 0.6, 0.8, 5
  tokenizer = _hf_dir(tmp_path, [2])
  s = components.sampling_config(
    config, eos_ids=tokenizer.eos_ids, pad_id=tokenizer.pad_id, evaluation=evaluation
  )
  assert s.max_new_tokens == config.rollout.max_new_tokens
  assert s.eos_ids == (1, 2) and s.pad_id == 0
  if evaluation:
    assert (s.temperature, s.top_p, s.top_k, s.num_samples) == (0.6, 0.8, 0, 5)
  else:
    want = (0.9, 0.95, 7, config.rollout.group_size)
    assert (s.temperature, s.top_p, s.top_k, s.num_samples) == want
