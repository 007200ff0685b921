# Shared by scripts/container_smoke.sh and scripts/compose_smoke.sh (sourced, not run):
# Debian's podman set up for this kind of machine through the project's own config files, and
# the image base built from the Debian mirror apt already uses, cached between runs.
# shellcheck shell=bash

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CONTAINERS_CONF="$REPO/infra/podman/containers.conf"
export CONTAINERS_STORAGE_CONF="$REPO/infra/podman/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$REPO/infra/podman/registries.conf"
# The base's debootstrap tree, kept between runs (the storage's folder is in storage.conf).
CACHE_DIR=${ACADEMY_CONTAINER_CACHE:-/var/tmp/academy-video-containers}
BASE_IMAGE=localhost/academy-debian-python:bookworm
# The project image under the name infra/docker-compose.yml gives it.
APP_IMAGE=localhost/academy-video:dev
# Stand-ins for the images compose pulls, built from Debian's packages and PyPI and tagged
# under the compose file's names (infra/podman/standins/).
MOTO_IMAGE=docker.io/motoserver/moto:5.2.3
POSTGRES_IMAGE=docker.io/library/postgres:16-alpine
REDIS_IMAGE=docker.io/library/redis:7-alpine
SUITE=bookworm

# Without systemd, podman reports on every container with a HEALTHCHECK that it cannot set or
# remove the check's timer (the tests run the checks themselves): that line is dropped.
podman() {
    command podman "$@" 2> >(grep -v 'unable to get systemd connection' >&2)
}

say() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

# Which step runs now, so that a failure names it.
STEP="start"
step() { STEP=$1; say "== $1"; }

ensure_container_tools() {
    local missing=0
    for tool in podman buildah runc debootstrap podman-compose iptables; do
        command -v "$tool" >/dev/null 2>&1 || missing=1
    done
    # Compose's service names resolve through CNI's dnsname plugin (dnsmasq).
    [ -x /usr/lib/cni/dnsname ] || missing=1
    [ "$missing" = 0 ] && return 0
    say "installing with apt-get: podman buildah runc debootstrap podman-compose dnsname"
    if [ ! -f /tmp/.academy-apt-updated ]; then
        apt-get update -qq >/dev/null && touch /tmp/.academy-apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        podman buildah runc debootstrap podman-compose uidmap iptables containernetworking-plugins \
        golang-github-containernetworking-plugin-dnsname >/dev/null
}

# The Debian mirror apt uses on this machine (the first `main` archive of the release).
debian_mirror() {
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Created-By: Packages' \
        | awk -v s="$SUITE" '$2 == s && $3 == "main" { print $1; exit }'
}

# localhost/academy-debian-python:bookworm: Debian's minimal system with python3 and a venv in
# /usr/local (so `python` and `pip` are where python:3.11-slim has them), the machine's CA
# certificates (pip inside a build verifies the index through them) and apt sources on the
# same mirror. Rebuilt only when missing or older than a week (security updates).
ensure_base_image() {
    local created now
    if created=$(podman image inspect --format '{{.Created.Unix}}' "$BASE_IMAGE" 2>/dev/null); then
        now=$(date +%s)
        if [ $((now - created)) -lt $((7 * 24 * 3600)) ]; then return 0; fi
        say "base image older than a week: rebuilding it"
    fi
    local mirror root
    mirror=$(debian_mirror)
    [ -n "$mirror" ] || { say "no Debian $SUITE mirror in apt's sources"; return 1; }
    root="$CACHE_DIR/debootstrap-$SUITE"
    rm -rf "$root" && mkdir -p "$CACHE_DIR"
    say "debootstrap --variant=minbase $SUITE from $mirror"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        "$SUITE" "$root" "$mirror" >"$CACHE_DIR/debootstrap.log" 2>&1 \
        || { tail -20 "$CACHE_DIR/debootstrap.log" >&2; return 1; }
    local security=${mirror%/}-security
    cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb $security $SUITE-security main
SOURCES
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    chroot "$root" python3 -m venv /usr/local
    chroot "$root" sh -c 'apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old'
    tar -C "$root" -c . | podman import -q \
        --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$root"
}

# build IMAGE DOCKERFILE [options...]: Docker format (OCI drops HEALTHCHECK and STOPSIGNAL),
# the host's network for pip and apt, layers cached in the storage between runs.
build() {
    local image=$1 file=$2; shift 2
    local log
    log=$(mktemp)
    if ! podman build --format docker --network host --layers --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        -f "$file" -t "$image" "$@" >"$log" 2>&1; then
        tail -30 "$log" >&2; rm -f "$log"; return 1
    fi
    rm -f "$log"
}

build_app_image() {
    build "$APP_IMAGE" "$REPO/infra/Dockerfile" --ignorefile "$REPO/infra/Dockerfile.dockerignore" \
        "$REPO"
    # Untagged images older builds left (the recent ones are the layer cache of the next).
    podman image prune -f --filter until=168h >/dev/null
}

build_moto_image() {
    build "$MOTO_IMAGE" "$REPO/infra/podman/standins/moto.Dockerfile" "$REPO/infra/podman/standins"
}

# PostgreSQL and Redis (only compose needs them): the smoke test builds them in the
# background while its first part runs.
build_database_images() {
    local dir="$REPO/infra/podman/standins"
    build "$POSTGRES_IMAGE" "$dir/postgres.Dockerfile" "$dir"
    build "$REDIS_IMAGE" "$dir/redis.Dockerfile" "$dir"
}
