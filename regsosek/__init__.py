"""``python -m regsosek``: the ``regsosek`` command line (``api.cli``) without the venv's script."""
