# faas-action container image.
#
# Stage `build` installs the runtime dependencies from uv.lock (no dev group) into /app/.venv and
# compiles every module to bytecode; the final stage is the same Python base with that venv and
# our code copied in, the standard library compiled, and pip, setuptools and wheel removed (the
# action never calls them). No compiler, no test dependency, and no installer but what the
# action itself calls at run time (any such tool is a runtime dependency in uv.lock).
#
# The base is pinned by the digest of its multi-architecture index (linux/amd64 and linux/arm64);
# both stages name the same one (the venv's interpreter link must point at the same Python), written
# out in each FROM so that Dependabot updates both.
# Bytecode is written in unchecked-hash mode: it stays valid whatever timestamps the layers get
# (COPY --from, a registry round trip), and a read-only image never needs it re-validated.
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS build

# uv only builds the venv; it is installed from PyPI, pinned by the hashes of its wheels for
# both architectures, and stays in this stage.
RUN echo 'uv==0.13.9 --hash=sha256:d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19 --hash=sha256:5435c5ce14a56431208ca0996416d310f1598e8c2c8ba707688985a16bb82dbe' \
        > /tmp/uv-requirements.txt \
    && pip install --no-cache-dir --disable-pip-version-check --require-hashes -r /tmp/uv-requirements.txt

ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1

COPY pyproject.toml uv.lock /app/
RUN uv sync --project /app --frozen --no-dev --no-install-project

COPY entrypoint.py /app/
COPY faas_action /app/faas_action
RUN /app/.venv/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash /app/.venv /app/faas_action


FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

# The official image ships the standard library without bytecode: compile it once here rather
# than on every run. Then drop the installers the action never calls.
RUN python -m pip uninstall --yes --quiet --disable-pip-version-check pip setuptools wheel \
    && rm -rf /usr/local/bin/pip /usr/local/bin/pip3 /usr/local/lib/python3.11/ensurepip \
    && python -m compileall -q -j 0 --invalidation-mode unchecked-hash /usr/local/lib/python3.11

COPY --from=build /app /app

# PYTHONUNBUFFERED keeps workflow commands in order when stdout is a pipe. The runner mounts the
# workspace over the working directory, so no WORKDIR; it needs root on the workspace, so no USER.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# Absolute script path, not `python -m`: -m would put the working directory (the user's
# checked-out code) first on sys.path.
ENTRYPOINT ["/app/.venv/bin/python", "/app/entrypoint.py"]
