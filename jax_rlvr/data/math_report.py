"""What reading a local math dataset found, for `scripts/prepare_data.py`: files, rows, problems,
duplicates, conflicts, dropped rows by reason, warnings and the first problems of each split."""

from __future__ import annotations

import os

from jax_rlvr.data import math_builders
from jax_rlvr.data.math_splits import SplitRead


def prepare_report(
  name: str, manual_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None
) -> dict[str, SplitRead]:
  """Reads one dataset and, with a `data_dir`, prepares its ArrayRecord files as prepare_math does.

  Returns:
    {split: SplitRead}: the files and their rows, the kept problems, the rows dropped by reason,
    the conflicts, the un-stripped prompts and the warnings (format_report prints them).
  """
  if data_dir is None:
    return math_builders.builder_class(name).read(os.path.join(os.fspath(manual_dir), name))
  builder, directory = math_builders.builder_for_files(name, data_dir, manual_dir)
  math_builders.download_and_prepare(builder, directory)
  # An already prepared dataset is not generated again: read its files for the report.
  return getattr(builder, "reads", None) or builder.read(directory)


def format_report(name: str, reads: dict[str, SplitRead], directory: str, examples: int = 3) -> str:
  """A plain-text summary of prepare_report's result; paths relative to `directory`."""
  lines = []
  for split, read in reads.items():
    lines.append(f"{name} {split}:")
    lines.append(f"  files ({len(read.files)}):")
    lines += [f"    {os.path.relpath(p, directory)}: {n} rows" for p, n in read.files.items()]
    lines.append(
      f"  rows {read.rows}, problems {read.problems}, duplicates {read.duplicates}, "
      f"conflicts {read.conflicts}, prompts without the DAPO instruction {read.unstripped}"
    )
    lines.append("  dropped rows:" + ("" if read.dropped else " none"))
    lines += [f"    {reason}: {n}" for reason, n in sorted(read.dropped.items())]
    lines += [f"  warning: {warning}" for warning in read.warnings]
    lines.append(f"  first {min(examples, read.problems)} problems:")
    for record in read.records[:examples]:
      prompt = record["prompt"] if len(record["prompt"]) <= 200 else record["prompt"][:200] + "..."
      lines.append(f"    {record['id']}: {prompt!r} -> {record['answer']!r}")
  return "\n".join(lines)
