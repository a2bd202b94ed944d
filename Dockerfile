# syntax=docker/dockerfile:1
# regsosek-gateway: `regsosek serve` as a non-root user. Settings come from the environment
# (see docs/deploy.md); no secret is baked into the image.

#
# Reproducible: the base image is pinned by digest, and every Python package comes from
# requirements/serve.txt (pip-compile, with hashes; scripts/lock.sh rewrites it): the gateway
# alone, without the demo's embedded PostgreSQL (pgserver) or Parquet
# import (pyarrow). The digest below is the one a public project's architecture record gives
# for python:3.11-slim-bookworm, checked there against Docker Hub's manifest; this machine
# cannot reach Docker Hub, so it was not re-verified here. Refresh it where a registry is
# reachable: `docker buildx imagetools inspect python:3.11-slim-bookworm` (the "Digest:" line)
# and put it in PYTHON_DIGEST.

ARG PYTHON_VERSION=3.11
ARG PYTHON_DIGEST=sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

FROM python:${PYTHON_VERSION}-slim-bookworm@${PYTHON_DIGEST} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/regsosek
COPY requirements/serve.txt ./requirements/serve.txt
RUN /opt/regsosek/bin/pip install --no-compile --require-hashes -r requirements/serve.txt
COPY pyproject.toml README.md ./
COPY errors.py ./
COPY api ./api
COPY audit ./audit
COPY schema ./schema
COPY policies ./policies
COPY db ./db
COPY migrations ./migrations
COPY regsosek ./regsosek
RUN /opt/regsosek/bin/pip install --no-compile --no-deps --no-build-isolation . \
    && /opt/regsosek/bin/python -m compileall -q /opt/regsosek/lib

FROM python:${PYTHON_VERSION}-slim-bookworm@${PYTHON_DIGEST} AS runtime
RUN groupadd --system --gid 10001 regsosek \
    && useradd --system --uid 10001 --gid regsosek --no-create-home \
       --home-dir /var/lib/regsosek --shell /usr/sbin/nologin regsosek \
    && install -d -o regsosek -g regsosek -m 0750 /var/lib/regsosek
COPY --from=build /opt/regsosek /opt/regsosek
COPY policies /etc/regsosek/policies
ENV PATH=/opt/regsosek/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    REGSOSEK_ENVIRONMENT=production \
    REGSOSEK_DATA_DIR=/var/lib/regsosek \
    REGSOSEK_POLICY_DIR=/etc/regsosek/policies \
    REGSOSEK_HOST=0.0.0.0 \
    REGSOSEK_PORT=8000 \
    REGSOSEK_WORKERS=2
USER regsosek
WORKDIR /var/lib/regsosek
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('REGSOSEK_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/readyz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["regsosek"]
CMD ["serve"]
