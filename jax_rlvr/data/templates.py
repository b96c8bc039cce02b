"""Prompt templates: raw problem text -> the string the policy is conditioned on.

Chosen by name in the config (`data.template`):
  none         the prompt as is (synthetic tasks whose prompts are already in the policy's format);
  qwen_boxed   the chat template of Qwen2.5-Math's evaluation ("qwen25-math-cot"): a system
               turn asking for step-by-step reasoning and a \\boxed{} answer, the problem as
               the user turn, and an open assistant turn. For Qwen2.5(-Math) base and instruct
               models;
  plain_boxed  the same instruction without chat tokens, for base models of other families;
  chatml_number  ChatML turns (SmolLM2-Instruct's chat format, `<|im_start|>` / `<|im_end|>`) with a
               short system prompt, the problem and "Give only the final number." as the user
               turn, and an open assistant turn: short numeric answers from small instruct models
               (configs/smollm2.py; with data.answer_format = "last_number");
  chatml_answer  chatml_number with the assistant turn opened by "The answer is": the response is
               the answer and little else, so right and wrong responses have the same few tokens
               (configs/paper/screen.py).

The templates hold the special tokens as text; a Hugging Face tokenizer maps "<|im_start|>" etc.
to their ids. Do not combine qwen_boxed with the character tokenizer (its alphabet lacks "|").
"""

from __future__ import annotations

BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."

TEMPLATES: dict[str, str] = {
  "none": "{prompt}",
  "qwen_boxed": (
    f"<|im_start|>system\n{BOXED_INSTRUCTION}<|im_end|>\n"
    "<|im_start|>user\n{prompt}<|im_end|>\n"
    "<|im_start|>assistant\n"
  ),
  "plain_boxed": f"Question: {{prompt}}\n{BOXED_INSTRUCTION}\nAnswer:",
  "chatml_number": (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\n{prompt} Give only the final number.<|im_end|>\n"
    "<|im_start|>assistant\n"
  ),
  "chatml_answer": (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\n{prompt} Give only the final number.<|im_end|>\n"
    "<|im_start|>assistant\nThe answer is"
  ),
}


def apply_template(name: str, prompt: str) -> str:
  """`prompt` placed in template `name`; braces inside the prompt are kept verbatim."""
  if name not in TEMPLATES:
    raise ValueError(f"Unknown prompt template {name!r}; choose one of {sorted(TEMPLATES)}.")
  # str.replace, not str.format: LaTeX prompts are full of braces.
  return TEMPLATES[name].replace("{prompt}", prompt)
