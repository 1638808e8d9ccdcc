# The bridge (and the Gameball emulator, for local runs) in one slim image.
FROM python:3.12-slim

# BRIDGE_HTTP_PORT: /healthz, /readyz and /metrics; config/bridge.yaml reads the port from it.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 BRIDGE_HTTP_PORT=9464
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bridge ./bridge
RUN pip install . && useradd --system --uid 10001 --no-create-home bridge
COPY config ./config

USER bridge
EXPOSE 9464
# /healthz answers 503 when the engine's loop stops turning, and nothing when the process is
# gone: either way the container turns unhealthy. Python's urllib, because the slim image has
# no curl. (The emulator and the sample producer reuse this image; compose overrides it.)
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['BRIDGE_HTTP_PORT'] + '/healthz', timeout=4)" || exit 1
ENTRYPOINT ["bridge"]
CMD ["run", "--config", "/app/config/bridge.yaml"]
