# One image for every process of the service; the command picks the role:
#   supervisor worker      the Faust rule-engine worker (metrics on SUPERVISOR_WORKER_WEB_PORT)
#   supervisor web         the wall, WebSocket, API and /metrics (SUPERVISOR_WEB_PORT)
#   supervisor notify      the notifier: webhooks and email (metrics on SUPERVISOR_NOTIFY_PORT)
#   supervisor simulate    simulated case events of Hechi's 69 centers (demo only)
# Configuration is the environment only; the variables are those of
# supervisor/settings.py (ENVIRONMENT). KAFKA_BOOTSTRAP_SERVERS must name a cluster: the
# project's own local broker (used when it is empty) is not in this image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The monthly report and the assessment's PDF: WeasyPrint draws with Pango, and with a
# Chinese font, which fontconfig finds (without one, supervisor/report refuses to make a
# PDF of blank boxes: 503).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 fontconfig fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/*

# The tree lives in /app and is installed in editable mode, so the package runs from
# /app/supervisor as it does in a checkout: it reads the wall and the default rules in
# place, at /app/dashboards/wall and /app/rules (supervisor/settings.py, `package_path`:
# an editable install leaves them at the top; a wheel would carry them inside the
# package), and settings.PROJECT_ROOT is /app. Compose mounts the host's rules/ on
# /app/rules, so a change of the rules needs no rebuild.
WORKDIR /app

# Dependencies first, read from pyproject.toml, in their own layer: editing the code
# does not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The project itself, plus what it reads at run time: the rules and the wall page.
COPY supervisor ./supervisor
COPY rules ./rules
COPY dashboards ./dashboards
RUN pip install --no-deps -e . \
 && python -m compileall -q /app/supervisor

# Non-root; the only writable place is the data directory (Faust's RocksDB tables),
# created here so that a named volume mounted on it starts owned by this user.
RUN groupadd --system --gid 10001 supervisor \
 && useradd --system --uid 10001 --gid supervisor --create-home --home-dir /home/supervisor \
      --shell /usr/sbin/nologin supervisor \
 && mkdir -p /data \
 && chown supervisor:supervisor /data

ENV SUPERVISOR_RULES_DIR=/app/rules \
    SUPERVISOR_DATA_DIR=/data \
    SUPERVISOR_WEB_HOST=0.0.0.0 \
    SUPERVISOR_WEB_PORT=8000 \
    SUPERVISOR_WORKER_WEB_PORT=6066

USER supervisor

# web, worker, notify
EXPOSE 8000 6066 6067

# No ENTRYPOINT: a compose `command:` is the whole command line (`supervisor worker`).
CMD ["supervisor", "web"]
