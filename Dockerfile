# syntax=docker/dockerfile:1.7
# rollback-receiver image: docker build -t rollback-receiver:0.1.0 .
# The runtime user (65532) and port (8080) match the Helm chart's defaults.
# Another base works when it has CPython 3.11 at PYTHON (Debian's own: PYTHON=/usr/bin/python3.11), and
# any image with the uv binary at /uv can stand in for UV_IMAGE (scripts/build-image.sh makes both from
# Debian's and PyPI's packages).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG PYTHON=/usr/local/bin/python3.11
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.8

FROM ${UV_IMAGE} AS uv

# Build stage: resolve nothing, install exactly what uv.lock pins into /opt/venv.
FROM ${PYTHON_IMAGE} AS build
ARG PYTHON
COPY --from=uv /uv /usr/local/bin/uv
# Bytecode is compiled here because the runtime root filesystem is read-only; the venv is a copy (not
# links into uv's cache) so it can be moved to the final stage; the base image's Python is the venv's.
ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON=${PYTHON} \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
# Dependencies first, in their own layer: it is reused until uv.lock changes.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
COPY receiver ./receiver
# The project itself, as a regular (non-editable) install: /src is not part of the final image.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# Final stage: the same Python base, the venv, and nothing that builds or installs.
FROM ${PYTHON_IMAGE}
# The source commit, shown in rollback_receiver_build_info (docker build --build-arg REVISION=$(git rev-parse HEAD)).
ARG REVISION=unknown
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ROLLBACK_RECEIVER_REVISION=$REVISION
# Numeric, so the kubelet can enforce runAsNonRoot without a passwd entry.
USER 65532:65532
EXPOSE 8080
# Exec form: the receiver is PID 1 and gets SIGTERM itself, then drains accepted alerts.
ENTRYPOINT ["rollback-receiver"]
CMD ["serve", "--config", "/etc/rollback-receiver/config.yaml"]
