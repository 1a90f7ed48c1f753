FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY davserver ./davserver
RUN pip install --no-cache-dir . \
    && useradd --system --uid 1000 --home-dir /data davserver \
    && mkdir -p /data && chown davserver /data

USER davserver
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD python -c "import http.client,sys; c=http.client.HTTPConnection('127.0.0.1',8080,timeout=4); c.request('OPTIONS','/'); sys.exit(0 if c.getresponse().status==200 else 1)"
CMD ["davserver", "serve", "/data", "--host", "0.0.0.0"]
