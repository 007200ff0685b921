# Stand-in for postgres:16-alpine (infra/docker-compose.yml) from Debian's PostgreSQL on the
# smoke test's base: this machine reaches no container registry. It honours what the compose
# file uses of the official image: POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, port 5432,
# pg_isready. Tagged under the compose file's name by scripts/container_lib.sh.
# checkov:skip=CKV_DOCKER_7: the base is a build argument; the smoke test gives its dated local base
ARG BASE_IMAGE=localhost/academy-debian-python:bookworm
FROM ${BASE_IMAGE}
# The user is made first with a fixed system uid, so USER can name it by number; the
# entrypoint makes the one cluster (not the package's).
# hadolint ignore=DL3008
RUN groupadd --system --gid 999 postgres \
    && useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --no-create-home \
        --shell /bin/sh postgres \
    && mkdir -p /etc/postgresql-common \
    && echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf \
    && apt-get update \
    && apt-get install -y --no-install-recommends postgresql \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o postgres -g postgres /var/lib/postgresql/data /var/run/postgresql
COPY --chmod=755 postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
USER 999:999
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
EXPOSE 5432
HEALTHCHECK --interval=2s --timeout=3s CMD ["pg_isready", "-h", "127.0.0.1"]
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]
