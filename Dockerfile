# The connector as a container: `docker build -t marketplace-order-sync .` then see compose.yaml.
# Slim base, the package installed from this checkout, a non-root user, the daemon as the default command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    CONNECTOR_CONFIG=/etc/connector/connector.yaml

WORKDIR /opt/connector
COPY pyproject.toml README.md ./
COPY connector ./connector
COPY adapters ./adapters
COPY mappings ./mappings
RUN pip install . && useradd --system --uid 10001 --home-dir /var/lib/connector --create-home connector

USER connector
WORKDIR /var/lib/connector
# /livez, /readyz, /healthz and /metrics (daemon.health_port; bind daemon.health_host to 0.0.0.0 inside a container)
EXPOSE 8464
# /livez, not /healthz: a marketplace that is down makes /healthz 503, and that is no reason to call the container
# unhealthy (or, under Swarm, to restart it). docs/operations.md: which probe is for what.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8464/livez', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["connector"]
CMD ["run"]
