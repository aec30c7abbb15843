# syntax=docker/dockerfile:1
# One image for every smartdeploy process: `smartdeploy worker|executor|history|api|up`.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# gcc builds the native remote-write decoder (api/ingest/_fastdecode.c) and the
# windows kernels (models/_windows.c)
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY schemas ./schemas
COPY models ./models
COPY streams ./streams
COPY api ./api
COPY executor ./executor
COPY smartdeploy ./smartdeploy
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip install .

FROM python:3.11-slim
RUN groupadd --system --gid 10001 smartdeploy \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/smartdeploy smartdeploy \
 && mkdir -p /var/lib/smartdeploy /tmp/smartdeploy \
 && chown -R 10001:10001 /var/lib/smartdeploy /tmp/smartdeploy
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SMARTDEPLOY_DATA_DIR=/var/lib/smartdeploy \
    SMARTDEPLOY_API_HOST=0.0.0.0
WORKDIR /var/lib/smartdeploy
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["smartdeploy"]
CMD ["up"]
