"""Prompt templates: raw problem text -> the string the policy is conditioned on.

Chosen by name in the config (`data.template`); `none` passes the prompt through (synthetic tasks
whose prompts are already in the policy's format).
"""

from __future__ import annotations

TEMPLATES: dict[str, str] = {
  "none": "{prompt}",
}


def apply_template(name: str, prompt: str) -> str:
  if name not in TEMPLATES:
    raise ValueError(f"Unknown prompt template {name!r}; choose one of {sorted(TEMPLATES)}.")
  return TEMPLATES[name].format(prompt=prompt)
