# Stand-in for motoserver/moto (infra/docker-compose.yml's SQS) built from PyPI on the smoke
# test's Debian base: this machine reaches no container registry. Tagged under the compose
# file's name by scripts/container_lib.sh.
# checkov:skip=CKV_DOCKER_7: the base is a build argument; the smoke test gives its dated local base
ARG BASE_IMAGE=localhost/academy-debian-python:bookworm
FROM ${BASE_IMAGE}
ARG MOTO_VERSION=5.2.3
RUN pip install --no-cache-dir "moto[server]==${MOTO_VERSION}" \
    && useradd --uid 10002 --no-create-home --shell /usr/sbin/nologin moto
USER 10002
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=5s CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:5000/moto-api/')"]
ENTRYPOINT ["moto_server"]
CMD ["-H", "0.0.0.0", "-p", "5000"]
