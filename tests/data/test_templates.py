"""Tests of the prompt templates and their use in prompt encoding."""

import pytest

from jax_rlvr.data import batching, templates
from jax_rlvr.models.char_tokenizer import printable_ascii_tokenizer

_LATEX = "Find $x$ if $\\frac{x}{2} = {3}$."


def test_qwen_boxed_is_the_qwen25_math_chat_prompt():
  assert templates.apply_template("qwen_boxed", _LATEX) == (
    "<|im_start|>system\nPlease reason step by step, and put your final answer within "
    "\\boxed{}.<|im_end|>\n<|im_start|>user\n" + _LATEX + "<|im_end|>\n<|im_start|>assistant\n"
  )


def test_plain_boxed_and_none():
  assert templates.apply_template("plain_boxed", _LATEX) == (
    "Question: " + _LATEX + "\nPlease reason step by step, and put your final answer within "
    "\\boxed{}.\nAnswer:"
  )
  assert templates.apply_template("none", _LATEX) == _LATEX


def test_a_prompt_with_placeholder_text_is_not_expanded_twice():
  assert templates.apply_template("plain_boxed", "{prompt}") == (
    "Question: {prompt}\nPlease reason step by step, and put your final answer within "
    "\\boxed{}.\nAnswer:"
  )


def test_unknown_template():
  with pytest.raises(ValueError, match="qwen_boxed"):
    templates.apply_template("qwen", "x")


def test_encode_prompts_applies_the_template():
  tokenizer = printable_ascii_tokenizer()
  text = templates.apply_template("plain_boxed", "1+1?")
  tokens, mask = batching.encode_prompts(tokenizer, ["1+1?"], len(text) + 3, "plain_boxed")
  assert mask[0].tolist() == [0, 0] + [1] * (len(text) + 1)
  assert tokenizer.decode(tokens[0]) == text
