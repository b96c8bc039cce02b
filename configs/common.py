"""Shared pieces of every experiment config.

Paper symbols: G = rollout.group_size, ε_low / ε_high = rl.eps_low / rl.eps_high,
N = rl.mini_batches × rl.epochs (off-policy updates per rollout batch), λ = rl.pos_weight (the
weight of tokens with positive advantage; its schedule rl.pos_weight_schedule), δ / Δ =
rl.entropy_target / rl.pos_weight_step.
"""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
  """The embedded default task and model; experiment files override what they change."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.num_steps = 120  # GRPO iterations (one rollout batch each), after the warm-up

  c.model = ml_collections.ConfigDict()
  c.model.preset = "tiny"  # jax_rlvr.models.PRESETS; vocab_size follows the tokenizer
  c.model.hf_checkpoint = ""  # a local Hugging Face directory: overrides preset when set
  c.model.dtype = "float32"
  c.model.param_dtype = "float32"
  c.model.remat = False  # rematerialise each block in the backward pass (large models)
  # > 0: project hidden states to the vocabulary this many positions at a time, so the
  # [B, T, V] logits never exist whole (large vocabularies); 0 = all at once.
  c.model.logprob_chunk_size = 0
  # Attention kernel (ModelConfig.attention): 'xla' (jax.nn.dot_product_attention), 'cudnn' (GPU)
  # or 'chunked' (attention_chunk_size queries at a time: [B, H, T, T] scores never whole).
  c.model.attention = "xla"
  c.model.attention_chunk_size = 512

  c.tokenizer = ml_collections.ConfigDict()
  c.tokenizer.kind = "char"  # 'char' (synthetic tasks) or 'hf' (tokenizer.json in tokenizer.path)
  c.tokenizer.path = ""

  c.data = ml_collections.ConfigDict()
  c.data.task = "arithmetic"
  c.data.data_dir = ""  # default: <workdir>/data
  c.data.train_size = 20000
  c.data.test_size = 512
  # Problem difficulty: a sum of min_terms..max_terms integers in [min_value, max_value].
  c.data.min_terms = 3
  c.data.max_terms = 4
  c.data.min_value = 1
  c.data.max_value = 9
  c.data.max_prompt_len = 16  # prompts are left-padded to this many tokens
  c.data.template = "none"  # prompt template (jax_rlvr.data.templates.TEMPLATES)
  # How a response's answer is found and graded: "task" = the task's own way; "last_number" = the
  # last number in the response equals the numeric answer (reasoning-gym arithmetic tasks, for
  # small models that answer in prose); "first_number" = the first (after a template that opens
  # the answer, chatml_answer).
  c.data.answer_format = "task"
  # Task "math" (jax_rlvr/data/math_builders.py): local files only, in <manual_dir>/<dataset>/.
  # "name" or "name:split"; the default split is train for dataset and test for eval_dataset.
  c.data.dataset = "dapo_math_17k"
  c.data.eval_dataset = "math_500"
  c.data.manual_dir = ""  # root of the user's downloads (required by task "math")
  # Tasks "rg_<name>" (reasoning-gym): fields of the generator's config, e.g. countdown's
  # min_numbers / max_numbers / min_value / max_value / min_target / max_target. Split sizes are
  # train_size / test_size.
  c.data.rg_config = ml_collections.ConfigDict()
  # Data-diversity subsets (scripts/diversity_subsets.py): "" = the whole train split, else the name
  # of an index file, e.g. "clustered_616" (low diversity) or "random_616" (high diversity).
  c.data.train_subset = ""
  c.data.subset_dir = ""  # default: <data_dir>/subsets/<task>

  # Supervised warm-up on noisy demonstrations: moderate accuracy, high entropy before RL.
  c.warmup = ml_collections.ConfigDict()
  c.warmup.steps = 500
  c.warmup.batch_size = 64
  c.warmup.learning_rate = 3e-3
  c.warmup.noise = 0.2  # probability of an arithmetic slip per demonstration step
  # Probability that a demonstration step with a carry drops it (a misconception the SFT policy
  # learns as a likely token: confident errors, arithmetic.demonstration).
  c.warmup.carry_bug = 0.0

  c.rollout = ml_collections.ConfigDict()
  c.rollout.prompts_per_step = 32  # Q
  c.rollout.group_size = 8  # G
  c.rollout.max_new_tokens = 40
  c.rollout.temperature = 1.0
  c.rollout.top_p = 1.0
  c.rollout.top_k = 0
  # The rollout engine (jax_rlvr/rollout/engines.py), for training, eval and the probe: "static"
  # decodes the whole batch at once until its longest row ends (simple; small batches);
  # "continuous" decodes rollout.slots sequences at once over a paged KV cache of
  # rollout.num_pages pages of rollout.page_size tokens, refilling a slot as soon as its request
  # ends (large batches of ragged lengths). Both give the same tokens.
  c.rollout.engine = "static"
  c.rollout.slots = 0  # S (continuous); 0 = every row of a rollout batch (Q·G)
  c.rollout.page_size = 16  # tokens per KV page (continuous)
  c.rollout.num_pages = 0  # KV pages (continuous); 0 = enough that no request waits for pages
  # The weights' layout while decoding (jax_rlvr/sharding.py DECODE_RULES): "tensor" reshards them
  # once per rollout to a compute-dtype copy not split over fsdp, so no decode step gathers them
  # (costs N·bytes(model.dtype)/tensor of HBM per chip); "training" decodes in the FSDP layout.
  c.rollout.decode_layout = "tensor"

  c.rl = ml_collections.ConfigDict()
  c.rl.advantage = "grpo"  # grpo | dr_grpo | rloo
  c.rl.std_ddof = 1  # unbiased group std, as in veRL
  c.rl.loss_agg = "token-mean"  # token-mean | seq-mean-token-mean | seq-mean-token-sum-norm
  c.rl.eps_low = 0.2
  c.rl.eps_high = 0.2
  c.rl.clip = True  # False = Clip-Free
  c.rl.dual_clip_c = 0.0  # 0 = off; else the dual-clip bound c (> 1) for negative advantages
  c.rl.mini_batches = 1  # gradient steps per epoch over one rollout batch
  c.rl.epochs = 1  # N = mini_batches * epochs
  # Gradient accumulation: each mini-batch's gradient is summed over this many micro-batches inside
  # one optimiser step (N and the loss are unchanged). Here for speed, not memory: on the 2-core CPU
  # the toy's update of 256 rows takes 0.83 s at 1 and 0.48 s at 4 with old_logp = "sampler"
  # (`scripts/benchmark.py update`, README "Benchmarks").
  c.rl.micro_batches = 4
  # Old log-probs (and the rollout entropy the controllers see): "recompute" = a forward pass of the
  # policy that sampled (as veRL); "sampler" = the values the sampler computed while decoding, the
  # same distribution at temperature 1 without truncation in float32 (validated), one pass fewer.
  c.rl.old_logp = "sampler"
  # The update computes over the rollout's longest real prompt and response (rounded up to a
  # multiple of this), not over data.max_prompt_len + rollout.max_new_tokens: the dropped columns
  # are padding in every row, so only rounding changes. 0 = off.
  c.rl.pad_bucket = 8
  # Compute each prompt once for its G responses in the update (their keys / values repeated),
  # instead of once per row: the same loss, ~1 / G of the prompt's cost; mini- and micro-batches
  # then hold whole groups. Pays off when prompts are long next to responses (real LMs).
  c.rl.share_prompts = False
  # λ, the weight of positive-advantage tokens: constant | stage | epoch | entropy_guided | pi
  c.rl.pos_weight_schedule = "constant"
  c.rl.pos_weight = 1.0  # λ of the constant schedule (1.0 = GRPO, 0.0 = "Adv ≤ 0 only")
  c.rl.neg_weight = 1.0  # weight of negative-advantage tokens (0.0 = "Adv ≥ 0 only")
  c.rl.pos_weight_init = 0.0  # λ_0 of the entropy_guided schedule
  c.rl.pos_weight_epochs = 2  # E: λ = (e-1)/(E-1) over E equal parts of the run
  c.rl.entropy_target = 0.2  # δ (entropy_guided, adaptive entropy, PI controller)
  c.rl.pos_weight_step = 0.05  # Δ
  c.rl.pi_kp = 1.0  # EntroPIC-style controller gains
  c.rl.pi_ki = 0.1
  # Which rollout's entropy sets the controllers' output (λ, α, the PI weights) for update k:
  # "previous" is the paper's Eq. 5 as written (rollout k - 1's, known after update k - 1);
  # "current" reads rollout k's own entropy, measured before update k (what a veRL trainer holds
  # after computing old log-probs): one step less lag.
  c.rl.controller_reads = "previous"
  # Entropy control: none | entropy_bonus | adaptive_entropy | clip_cov | kl_cov | entropy_adv |
  # rand_pos_clip | top_entropy (the 80/20 rule). λ schedule "pi" is the EntroPIC-style controller.
  c.rl.method = "none"
  c.rl.entropy_coef = 0.0  # α for entropy_bonus; initial coefficient for adaptive_entropy
  c.rl.entropy_coef_step = 0.0005  # adaptive_entropy step
  c.rl.cov_fraction = 2e-4  # Clip-Cov r / KL-Cov k
  c.rl.cov_bounds = (1.0, 5.0)  # Clip-Cov covariance window
  c.rl.kl_cov_beta = 1.0
  c.rl.entropy_adv_alpha = 0.4
  c.rl.entropy_adv_kappa = 2.0
  c.rl.rand_pos_clip_fraction = 0.02
  c.rl.top_entropy_fraction = 0.2
  c.rl.kl_coef = 0.0  # > 0 adds KL to a frozen reference policy (the policy at RL start)
  c.rl.kl_estimator = "k3"  # k1 | k2 | k3 | k1+ | k3+ (straight-through: value kX, gradient k2)
  # K > 0: every K GRPO steps, before the update, the entropy probe (jax_rlvr/probe.py) applies
  # the update from the same state on all / positive-Â / negative-Â tokens and logs the entropy
  # change of each (probe_dH_all, probe_dH_pos, probe_dH_neg, and probe_dH_pred_* first-order
  # predictions). Cost on a probed step: three more updates and four forward passes over the
  # rollout batch (one compilation for the three). 0 = off.
  c.rl.probe_every = 0

  c.optim = ml_collections.ConfigDict()
  c.optim.learning_rate = 1e-3  # the peak of a cosine schedule
  # Per optimiser update (jax_rlvr/lr_schedules.py); a GRPO step takes N = mini_batches × epochs
  # updates. "constant": linear warm-up over warmup_steps updates, then learning_rate;
  # "cosine": the same warm-up, then a cosine decay to final_lr_fraction × learning_rate on the
  # run's last update (update num_steps × N).
  c.optim.schedule = "constant"
  c.optim.final_lr_fraction = 0.0  # cosine only
  c.optim.warmup_steps = 10
  c.optim.weight_decay = 0.0
  c.optim.b1 = 0.9
  c.optim.b2 = 0.99
  c.optim.grad_clip = 1.0

  c.eval = ml_collections.ConfigDict()
  c.eval.every = 40  # GRPO steps between evals (0 = only at start and end)
  c.eval.num_prompts = 128
  c.eval.k = 8
  c.eval.temperature = 1.0
  c.eval.top_p = 1.0
  c.eval.pass_ks = (1, 2, 4, 8)
  c.eval.batch_prompts = 64
  # Research metrics of every eval (jax_rlvr/evaluate.py): diversity over the k responses of a
  # prompt in characters ("char", synthetic tasks) or whitespace words ("word").
  c.eval.diversity_unit = "char"
  c.eval.calibration_bins = 10  # M, equal-width bins of ECE and the reliability diagram
  # Confidence of the final-answer tokens: those after the last occurrence of this marker (it must
  # be one token; "" = off; used with tokenizer.kind = "char" only). ">" is the arithmetic task's.
  c.eval.answer_marker = ">"
  c.eval.reliability_dir = ""  # "" = no PNG; else a reliability diagram per eval is written here
  c.eval.prompt_entropy = True  # in-domain: the eval prompts; out-of-domain: below
  # Out-of-domain prompts of the arithmetic task: sums of ood_terms (min, max) numbers drawn from
  # ood_values (min, max), i.e. a harder difficulty than training (0 prompts = off).
  c.eval.ood_num_prompts = 128
  c.eval.ood_terms = (2, 3)
  c.eval.ood_values = (10, 99)

  c.checkpoint = ml_collections.ConfigDict()
  c.checkpoint.every = 40  # steps (warm-up steps count)
  c.checkpoint.max_to_keep = 2

  c.mesh = ml_collections.ConfigDict()
  c.mesh.shape = (-1, 1, 1)  # sizes of the axes (data, fsdp, tensor); one -1 takes the rest
  return c


def apply_smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks any config so that it runs in well under a minute on a 2-core CPU."""
  c.num_steps = 3
  c.data.train_size = 256
  c.data.test_size = 16
  c.warmup.steps = min(c.warmup.steps, 4)
  c.warmup.batch_size = 16
  c.rollout.prompts_per_step = 4
  c.rollout.group_size = 4
  c.rl.micro_batches = 1  # 16 rows per step: any mini-batch split leaves too few to divide
  c.eval.every = 0
  c.eval.num_prompts = 8
  c.eval.k = 4
  c.eval.pass_ks = (1, 4)
  c.eval.batch_prompts = 8
  c.eval.ood_num_prompts = 8
  c.checkpoint.every = 2
  return c


def parse_arg(arg):
  """'smoke' or 'smoke,foo' -> {'smoke': True, 'foo': True}; used by get_config(arg)."""
  return {part: True for part in (arg or "").split(",") if part}
