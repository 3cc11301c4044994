FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    OMEGA_DB_PATH=/data/omega.db

RUN useradd --create-home --uid 10001 omega && mkdir /data && chown omega:omega /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY director ./director
COPY bot ./bot
COPY omega ./omega
RUN pip install --no-cache-dir .

USER omega
VOLUME ["/data"]
CMD ["omega-director", "run"]
