FROM python:3.11-slim

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="davserver" \
      org.opencontainers.image.description="A standalone WebDAV file server (RFC 4918 classes 1 and 2) with a correct lock manager" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"

# No .pyc files: with docker run --read-only nothing but /data is writable.
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md /tmp/src/
COPY davserver /tmp/src/davserver
# The redis extra: a container is often one of several servers sharing a Redis.
# Built from /tmp/src and removed, so no build/ or *.egg-info stays in the image.
# uid/gid 1000 (the first user of most hosts): a regular user, not --system,
# which would warn that 1000 lies outside the system range.
RUN pip install --no-cache-dir "/tmp/src[redis]" \
    && rm -rf /tmp/src \
    && groupadd --gid 1000 davserver \
    && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /data \
       --shell /usr/sbin/nologin davserver \
    && mkdir -p /data && chown davserver:davserver /data

USER davserver
WORKDIR /data
VOLUME /data
EXPOSE 8080
# /healthz at the address, port and scheme the configuration gives (the config
# file in $DAVSERVER_CONFIG when set; TLS is checked against its certificate).
# SIGTERM (docker stop) drains requests in flight.
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ["davserver", "health"]
STOPSIGNAL SIGTERM
# Anonymous and writable on every interface: fine on a private network only
# (the server warns at start). Pass a config with htpasswd (and TLS) otherwise.
CMD ["davserver", "serve", "/data", "--host", "0.0.0.0", "--log-format", "json"]
