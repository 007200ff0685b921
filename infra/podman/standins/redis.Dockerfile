# Stand-in for redis:7-alpine (infra/docker-compose.yml) from Debian's Redis on the smoke
# test's base: this machine reaches no container registry. Tagged under the compose file's
# name by scripts/container_lib.sh.
# checkov:skip=CKV_DOCKER_7: the base is a build argument; the smoke test gives its dated local base
ARG BASE_IMAGE=localhost/academy-debian-python:bookworm
FROM ${BASE_IMAGE}
# The user is made first with a fixed system uid, so USER can name it by number.
# hadolint ignore=DL3008
RUN groupadd --system --gid 998 redis \
    && useradd --system --uid 998 --gid 998 --home-dir /var/lib/redis --no-create-home \
        --shell /usr/sbin/nologin redis \
    && apt-get update \
    && apt-get install -y --no-install-recommends redis-server redis-tools \
    && rm -rf /var/lib/apt/lists/*
USER 998:998
EXPOSE 6379
HEALTHCHECK --interval=2s --timeout=3s CMD ["redis-cli", "ping"]
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
