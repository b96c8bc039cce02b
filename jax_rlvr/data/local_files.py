"""Finding a dataset's files in a user's local download, and a fingerprint of them.

The files are JSONL or Parquet, anywhere under one directory (a Hugging Face snapshot folder works
as it is: sub-folders such as `data/`, `main/` or `part1/` are walked, hidden ones such as
`.cache/` skipped). A split is matched on any component of the path below that directory
("train.jsonl", "main/train-00000-of-00001.parquet", the auto-converted "main/train/0000.parquet").
Files come in the sorted order of their paths (AIME 2025's part I before part II).
"""

import hashlib
import os
import re
from collections.abc import Sequence

DATA_SUFFIXES = (".jsonl", ".parquet")


def _matches_split(relative_path: str, prefix: str) -> bool:
  """Whether a component of `relative_path` names the split (whole, or followed by - _ .)."""
  if not prefix:
    return True
  pattern = re.compile(re.escape(prefix) + r"(?:$|[-_.])")
  return any(pattern.match(part) for part in relative_path.split(os.sep))


def find_files(directory: str, prefix: str = "", exclude_dirs: Sequence[str] = ()) -> list[str]:
  """Data files anywhere under `directory` of the split `prefix` ("" = all), sorted by path.

  Hidden folders (a snapshot's .cache/) and folders named in `exclude_dirs` are not entered.
  """
  found = []
  for root, dirs, names in os.walk(directory):
    dirs[:] = [d for d in dirs if not d.startswith(".") and d not in exclude_dirs]
    for name in names:
      path = os.path.join(root, name)
      if name.endswith(DATA_SUFFIXES) and _matches_split(os.path.relpath(path, directory), prefix):
        found.append(path)
  return sorted(found)


def files_fingerprint(paths: Sequence[str], root: str = "") -> str:
  """A short hash of the files' paths (relative to `root`), sizes and modification times."""
  digest = hashlib.sha256()
  for path in sorted(paths):
    stat = os.stat(path)
    name = os.path.relpath(path, root) if root else os.path.basename(path)
    digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
  return digest.hexdigest()[:16]
