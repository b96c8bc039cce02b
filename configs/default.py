"""The embedded default: plain GRPO on a synthetic arithmetic task with a ~0.4M-parameter policy.

What it shows: a tiny character-level policy is first warmed up by supervised training on noisy
demonstrations (moderate accuracy, high entropy), then trained with GRPO, the paper's baseline
(token-mean loss, ε_low = ε_high = 0.2, no KL, no entropy bonus). Token entropy falls while
accuracy rises: the entropy collapse the paper studies, in minutes on a laptop CPU.

Command:   python scripts/train.py --workdir workdirs/default
           (scripts/train.py uses this file when --config is not given)
Switch to entropy-guided Positive-Advantage Reweighting (δ = 0.2, Δ = 0.05, λ_0 = 0):
           python scripts/train.py --workdir workdirs/pos_adv \
             --config.rl.pos_weight_schedule=entropy_guided
Smoke:     python scripts/train.py --config configs/default.py:smoke --workdir /tmp/smoke
Hardware:  2 CPU cores. Expected wall time and result: see README ("What the default run shows").
"""

from configs import common


def get_config(arg=None):
  args = common.parse_arg(arg)
  config = common.base_config()
  if args.get("smoke"):
    common.apply_smoke(config)
  return config
