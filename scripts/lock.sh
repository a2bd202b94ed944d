#!/usr/bin/env bash
# Rewrite the lock files from pyproject.toml, against PyPI only (no local wheel folders or
# mirrors: the hashes must be PyPI's), for CPython 3.11 on Linux x86_64/aarch64:
#
#   requirements/dev.txt    every extra (demo, import, dev): what `make` and CI install
#   requirements/serve.txt  the gateway alone: what the Dockerfile installs (no pgserver
#                           or pyarrow), pinned to the same versions as dev.txt
#
# Both carry hashes (`pip install --require-hashes`) and the build requirements
# (setuptools, wheel), so the project itself installs with --no-build-isolation.
# To move one dependency: scripts/lock.sh --upgrade-package NAME; all of them: --upgrade.
set -euo pipefail
cd "$(dirname "$0")/.."
compile=(env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null
  .venv/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras
  --index-url https://pypi.org/simple --no-emit-index-url --no-emit-find-links
  --all-build-deps --resolver backtracking)
"${compile[@]}" "$@" --extra demo --extra import --extra dev \
  --output-file requirements/dev.txt pyproject.toml
"${compile[@]}" "$@" --constraint requirements/dev.txt \
  --output-file requirements/serve.txt pyproject.toml
