# The Trygg hub (and, with the same image, the `sim` profile's simulated fleet).
# Built by docker-compose.yml; runs as an unprivileged user with its state in a volume.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY trygg ./trygg
COPY edge ./edge
COPY hub ./hub
COPY dashboards ./dashboards
COPY sim ./sim
COPY scenarios ./scenarios
# hub: the server; edge: the agent and simulated drivers the `sim` profile runs.
# Editable, so the simulator finds scenarios/ next to its package as in a checkout.
ARG EXTRAS=hub,edge
# pg_dump must be as new as the server (postgres:16): PostgreSQL's own Debian repository.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-common \
    && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
    && apt-get install -y --no-install-recommends postgresql-client-16 \
    && rm -rf /var/lib/apt/lists/*
RUN pip install -e ".[${EXTRAS}]" \
    && useradd --system --uid 10001 --home-dir /var/lib/trygg --shell /usr/sbin/nologin trygg \
    && install -d -o trygg -g trygg /var/lib/trygg
COPY deploy/check-secrets.sh /usr/local/bin/trygg-check-secrets

USER trygg
WORKDIR /var/lib/trygg
EXPOSE 8080
CMD ["trygg", "hub"]
