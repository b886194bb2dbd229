# syntax=docker/dockerfile:1
# The video-bot image: `docker build -t video-bot .` then `docker run --env-file .env video-bot`
# (or `docker compose up -d`, see compose.yaml). Any subcommand works: `... video-bot doctor`,
# `... video-bot worker` (jobs only, no Discord gateway: needs a PostgreSQL DATABASE_URL; see
# compose.scale.yaml). Both SQLite and PostgreSQL (asyncpg) stores are built in.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VIDEO_BOT_DATA_DIR=/data

# Debian's ffmpeg fits videos over a server's upload limit (VIDEO_BOT_FFMPEG can point
# elsewhere).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

# An unprivileged user; /data is created here so a fresh named volume inherits its owner.
RUN groupadd --system --gid 10001 bot \
    && useradd --system --uid 10001 --gid bot --no-log-init \
        --home-dir /home/bot --create-home --shell /usr/sbin/nologin bot \
    && mkdir /data \
    && chown bot:bot /data

# Pinned dependencies first: this layer is rebuilt only when requirements.lock changes.
WORKDIR /src
COPY requirements.lock ./
RUN pip install -r requirements.lock

# Then the project itself, without touching the pinned dependencies; `pip check` fails the
# build if requirements.lock no longer satisfies pyproject.toml. `--no-deps` installs no extra,
# and `pip check` does not know which extras are wanted: the import fails the build if the lock
# lost asyncpg (the `postgres` extra). The sources are removed afterwards, so only the
# installed package is ever imported.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install --no-deps . \
    && pip check \
    && python -c "import asyncpg" \
    && rm -rf /src

WORKDIR /home/bot
USER 10001:10001
VOLUME ["/data"]

# The bot's own web server: /healthz (the loop, the store, the gateway) and /metrics.
ENV VIDEO_BOT_WEB_PORT=8080 \
    VIDEO_BOT_WEB_HOST=0.0.0.0
EXPOSE 8080

# Asks the running process itself: 200 when its event loop, its store and (in `run`) its
# Discord gateway answer, 503 naming the part that does not (no call to Discord or the Videos
# API from here). A `worker` answers it too as long as VIDEO_BOT_WEB_PORT stays set.
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('VIDEO_BOT_WEB_PORT', '8080') + '/healthz', timeout=8)"]

ENTRYPOINT ["video-bot"]
CMD ["run"]
