# syntax=docker/dockerfile:1
# Build: CPU-only torch first so the image never carries the CUDA build.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot bot
COPY agents agents
COPY memory memory
COPY connectors connectors
COPY policies policies
RUN pip install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 soloos
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    SOLOOS_HOME=/home/soloos/data \
    HF_HUB_OFFLINE=1 \
    MEM0_TELEMETRY=False
USER soloos
WORKDIR /home/soloos
# The app's health is its database: cheap to check, unlike loading the embedding model each time.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s \
    CMD python -c "import os, psycopg; psycopg.connect(os.environ['DATABASE_URL'], connect_timeout=5).close()" || exit 1
ENTRYPOINT ["soloos"]
CMD ["chat"]
