# syntax=docker/dockerfile:1
# The project's images, one target each. Build from the repository root (the uv workspace and its lock live
# there; .dockerignore sends only what the images need):
#   docker build --target users-service -t users-service .            # non-root, read-only root filesystem
#   docker build --target kubemaint-operator -t kubemaint-operator .
#   docker build --target dev --build-arg PACKAGE=users-service .     # Tilt's dev image (Tiltfile)
# Each production image holds one package and the kubemaint library (the operator's: no FastAPI, no
# asyncpg); dependencies come from the committed uv.lock.

# Both bases can be replaced, e.g. by local images where no registry is reachable (the local node's
# build: kubemaint_devstack.app_images).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# The workspace metadata, what uv resolves any member's dependencies from: every pyproject and the lock.
FROM scratch AS workspace
COPY pyproject.toml uv.lock /
COPY kubemaint/pyproject.toml kubemaint/README.md /kubemaint/
COPY service/pyproject.toml /service/
COPY operator/pyproject.toml /operator/
COPY tools/devstack/pyproject.toml /tools/devstack/

# The Python base with the unprivileged user every image runs as.
FROM ${PYTHON_IMAGE} AS python
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /tmp --shell /usr/sbin/nologin app

# One build stage for both images. Each package's venv is made where it runs, /app/.venv (its scripts'
# shebangs name that path), then put aside as /venvs/<package>; each target copies its own back. A stage
# cannot take a different build argument per target, so this serves every target in one build instead.
FROM python AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
COPY --from=workspace / ./
# Dependencies first, from the workspace metadata only: this layer changes only with a pyproject or the lock.
RUN --mount=type=cache,target=/root/.cache/uv \
    mkdir /venvs && for package in users-service kubemaint-operator; do \
      uv sync --frozen --package "$package" --no-dev --no-install-workspace \
      && mv /app/.venv "/venvs/$package" || exit 1; \
    done
COPY kubemaint/src kubemaint/src
COPY service/src service/src
COPY operator/src operator/src
# --no-editable: each venv holds real copies of kubemaint and its package, so it stands alone.
RUN --mount=type=cache,target=/root/.cache/uv \
    for package in users-service kubemaint-operator; do \
      mv "/venvs/$package" /app/.venv \
      && uv sync --frozen --package "$package" --no-dev --no-editable \
      && mv /app/.venv "/venvs/$package" || exit 1; \
    done

# Read-only root filesystem: bytecode is compiled at build time and never written; HOME and TMPDIR are /tmp
# (mount an emptyDir there). Logs go to stderr as JSON.
FROM python AS runtime
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    LOG_FORMAT=json
USER 10001:10001
STOPSIGNAL SIGTERM

FROM runtime AS users-service
COPY --from=build --chown=root:root /venvs/users-service /app/.venv
ENV PORT=8081
EXPOSE 8081
ENTRYPOINT ["users-service"]

# The operator writes the Secret material for spec.etcd.secretRef below /tmp, mode 0600.
FROM runtime AS kubemaint-operator
COPY --from=build --chown=root:root /venvs/kubemaint-operator /app/.venv
ENV LIVENESS_ENDPOINT=http://0.0.0.0:8080/healthz
EXPOSE 8080
ENTRYPOINT ["kubemaint-operator"]

# Development image for `tilt up` only, one per workspace member (build argument PACKAGE), installed
# *editable* so that Tilt's live_update can sync sources into /app/<member>/src, and watchfiles (the
# Tiltfile's entrypoint) restarts the process when they change. Owned by the unprivileged user, so the sync
# needs no root.
FROM python AS dev
COPY --from=uv /uv /usr/local/bin/uv
ARG PACKAGE=users-service
ENV UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_CACHE_DIR=/tmp/uv-cache \
    PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
RUN install -d -o 10001 -g 10001 /app
WORKDIR /app
USER 10001:10001
COPY --from=workspace --chown=10001:10001 / ./
RUN uv sync --frozen --no-dev --package "${PACKAGE}" --no-install-workspace \
 && uv pip install watchfiles==1.3.0
COPY --chown=10001:10001 kubemaint/src kubemaint/src
COPY --chown=10001:10001 service/src service/src
COPY --chown=10001:10001 operator/src operator/src
RUN uv sync --frozen --no-dev --package "${PACKAGE}" --inexact
