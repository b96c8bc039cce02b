"""GRPO on reasoning-gym countdown with the tiny character-level policy: the wiring of a text task.

What it runs: reasoning-gym's countdown generator ("Calculate 10 using all of these numbers: 9, 1,
1. ..."), kept small (three numbers in 1..9, targets 10..30) so that prompts fit in 368 characters,
graded by reasoning-gym's verifier as a binary reward (the last <answer>...</answer>, \\boxed{} or
line of the response must be an expression using exactly the given numbers and equal the target).
The policy is the random ~0.4M-parameter "tiny" preset on the printable-ASCII character tokenizer,
with no warm-up (countdown has no demonstrations). It is an end-to-end check of a text task, not an
experiment: an untrained character model essentially never writes a valid expression, so reward,
accuracy and pass@k stay at ~0, advantages are 0 and the policy barely moves. Real countdown
experiments need a pretrained model: set model.hf_checkpoint, tokenizer.kind='hf',
tokenizer.path and data.template='qwen_boxed' (and raise data.max_prompt_len and
rollout.max_new_tokens).

Command:   python scripts/train.py --config configs/countdown.py --workdir workdirs/countdown
Smoke:     python scripts/train.py --config configs/countdown.py:smoke --workdir /tmp/cd
Hardware:  2 CPU cores.
Time:      smoke ~20-30 s (including compilation); full ~3 minutes.
Expected:  reward_mean and eval avg@k / pass@k ~0 throughout (see above); token entropy stays near
           its initial value (~4.5 nats, almost uniform over the 99-character vocabulary).
"""

import ml_collections

from configs import common


def get_config(arg=None):
  args = common.parse_arg(arg)
  config = common.base_config()
  config.data.task = "rg_countdown"
  config.data.train_size = 2000
  config.data.test_size = 128
  config.data.rg_config = ml_collections.ConfigDict(
    dict(min_numbers=3, max_numbers=3, min_value=1, max_value=9, min_target=10, max_target=30)
  )
  config.data.max_prompt_len = 368  # countdown prompts are 349-364 characters, plus BOS
  config.warmup.steps = 0
  config.num_steps = 60
  config.rollout.max_new_tokens = 24
  config.eval.every = 30
  config.eval.num_prompts = 64
  config.checkpoint.every = 30
  if args.get("smoke"):
    common.apply_smoke(config)
    config.rollout.max_new_tokens = 16
    # Eval batches of 4 prompts × k = 4 match the rollout's Q × G = 16 rows: one sampler compile.
    config.eval.batch_prompts = 4
  return config
