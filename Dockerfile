FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY davserver ./davserver
# The redis extra: a container is often one of several servers sharing a Redis.
RUN pip install --no-cache-dir ".[redis]" \
    && useradd --system --uid 1000 --home-dir /data davserver \
    && mkdir -p /data && chown davserver /data

USER davserver
VOLUME /data
EXPOSE 8080
# /healthz answers without credentials (also with an htpasswd file); /readyz also
# checks the lock store. SIGTERM (docker stop) drains requests in flight.
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"
STOPSIGNAL SIGTERM
CMD ["davserver", "serve", "/data", "--host", "0.0.0.0", "--log-format", "json"]
