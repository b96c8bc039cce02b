"""Root pytest configuration: 8 fake CPU devices, set before jax is imported anywhere.

pytest puts this file's directory (the checkout) on sys.path, so tests may import the checkout's
`configs` package, which is not installed; the library itself loads config files by path.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
  os.environ["XLA_FLAGS"] = (_flags + " --xla_force_host_platform_device_count=8").strip()


def pytest_configure(config):
  config.addinivalue_line(
    "markers", "slow: takes more than ~20 s on a 2-core CPU (still run in CI)"
  )
  config.addinivalue_line("markers", "hf: needs torch and transformers (extra 'hf')")
