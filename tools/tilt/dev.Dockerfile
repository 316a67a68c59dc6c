# syntax=docker/dockerfile:1
# Development image for `tilt up` only; the production images are service/Dockerfile and
# operator/Dockerfile. One image per workspace member (build argument PACKAGE), installed *editable* so that
# Tilt's live_update can sync sources into /app/<member>/src, and watchfiles (the Tiltfile's entrypoint)
# restarts the process when they change. Owned by the unprivileged user, so the sync needs no root.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE}
COPY --from=uv /uv /usr/local/bin/uv
ARG PACKAGE=users-service
ENV UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_CACHE_DIR=/tmp/uv-cache \
    PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /tmp --shell /usr/sbin/nologin app \
 && install -d -o 10001 -g 10001 /app
WORKDIR /app
USER 10001:10001
COPY --chown=10001:10001 pyproject.toml uv.lock ./
COPY --chown=10001:10001 kubemaint/pyproject.toml kubemaint/README.md kubemaint/
COPY --chown=10001:10001 service/pyproject.toml service/
COPY --chown=10001:10001 operator/pyproject.toml operator/
COPY --chown=10001:10001 tools/devstack/pyproject.toml tools/devstack/
RUN uv sync --frozen --no-dev --package "${PACKAGE}" --no-install-workspace \
 && uv pip install watchfiles==1.3.0
COPY --chown=10001:10001 kubemaint/src kubemaint/src
COPY --chown=10001:10001 service/src service/src
COPY --chown=10001:10001 operator/src operator/src
RUN uv sync --frozen --no-dev --package "${PACKAGE}" --inexact
