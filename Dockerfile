# faas-action container image: runtime dependencies from uv.lock, bytecode precompiled.
FROM python:3.11.14-slim-bookworm

COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv

# PYTHONUNBUFFERED keeps workflow commands in order when stdout is a pipe. The runner mounts the
# workspace over the working directory, so no WORKDIR; it needs root on the workspace, so no USER.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

COPY pyproject.toml uv.lock /app/
RUN uv sync --project /app --frozen --no-dev --no-install-project --no-cache

COPY entrypoint.py /app/
COPY faas_action /app/faas_action
RUN /app/.venv/bin/python -m compileall -q /app/faas_action /app/entrypoint.py

# Absolute script path, not `python -m`: -m would put the working directory (the user's
# checked-out code) first on sys.path.
ENTRYPOINT ["/app/.venv/bin/python", "/app/entrypoint.py"]
