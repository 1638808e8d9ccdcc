# The bridge (and the Gameball emulator, for local runs) in one slim image.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bridge ./bridge
RUN pip install . && useradd --system --uid 10001 --no-create-home bridge
COPY config ./config

USER bridge
ENTRYPOINT ["bridge"]
CMD ["run", "--config", "/app/config/bridge.yaml"]
