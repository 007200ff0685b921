#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432, database `test`) and Redis (127.0.0.1:6379) are up:
# start them when installed, install them with apt-get when not, fail with a clear message otherwise.
# `ffmpeg`, `chromium` (the browser tests' headless browser) and `npm` (the player test's
# packages), Debian's packages, are installed when missing.
set -u

log() { echo "ensure_services: $*" >&2; }

apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get is not available to install $*"; return 1
    fi
    if [ "$(id -u)" != "0" ]; then
        log "need root to install $*"; return 1
    fi
    if [ ! -f /tmp/.academy-apt-updated ]; then
        apt-get update -qq >/dev/null 2>&1 && touch /tmp/.academy-apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

wait_for() {  # wait_for NAME CMD...
    local name=$1; shift
    for _ in $(seq 1 60); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    log "$name did not come up"; return 1
}

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q; }

ensure_postgres() {
    if command -v pg_isready >/dev/null 2>&1 && pg_up; then return 0; fi
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        log "PostgreSQL not installed; installing it with apt-get"
        apt_install postgresql || { log "cannot install PostgreSQL"; return 1; }
        local conf; conf=$(ls -d /etc/postgresql/*/main | head -1)
        # Local trust auth over TCP, as the test suite expects (loopback only).
        sed -i 's/^\(host.*127.0.0.1\/32\s*\)\S*$/\1trust/; s/^\(host.*::1\/128\s*\)\S*$/\1trust/; s/^\(local\s*all\s*all\s*\)\S*$/\1trust/; s/^\(local\s*all\s*postgres\s*\)\S*$/\1trust/' "$conf/pg_hba.conf"
    fi
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >/dev/null 2>&1 || true
    wait_for PostgreSQL pg_up || return 1
    if ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
        psql -h 127.0.0.1 -U postgres -c 'create database test' >/dev/null 2>&1 \
            || su postgres -c "createdb test" >/dev/null 2>&1 || true
    fi
    psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1 \
        || { log "PostgreSQL is up but database 'test' is not reachable as user postgres with trust auth"; return 1; }
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG; }

ensure_redis() {
    if command -v redis-cli >/dev/null 2>&1 && redis_up; then return 0; fi
    if ! command -v redis-server >/dev/null 2>&1; then
        log "Redis not installed; installing it with apt-get"
        apt_install redis-server redis-tools || { log "cannot install Redis"; return 1; }
    fi
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null 2>&1 || true
    wait_for Redis redis_up
}

ensure_ffmpeg() {
    if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then return 0; fi
    log "ffmpeg not installed; installing Debian's package"
    apt_install ffmpeg || { log "cannot install ffmpeg (apt-get install -y ffmpeg)"; return 1; }
}

# The demo and the caption tests speak a lecture script into a clip's audio.
ensure_espeak_ng() {
    if command -v espeak-ng >/dev/null 2>&1; then return 0; fi
    log "espeak-ng not installed; installing Debian's package (spoken test lectures)"
    apt_install espeak-ng || { log "cannot install espeak-ng (apt-get install -y espeak-ng)"; return 1; }
}

ensure_chromium() {
    if command -v chromium >/dev/null 2>&1; then return 0; fi
    log "chromium not installed; installing Debian's package (browser tests)"
    apt_install chromium || { log "cannot install chromium (apt-get install -y chromium)"; return 1; }
}

# The cross-origin player test installs Shaka Player and hls.js with `npm ci`
# (tests/e2e/players/package-lock.json): npm from Debian when missing.
ensure_npm() {
    if command -v npm >/dev/null 2>&1; then return 0; fi
    log "npm not installed; installing Debian's package (the player test's npm packages)"
    apt_install npm || { log "cannot install npm (apt-get install -y npm)"; return 1; }
}

status=0
for what in "$@"; do
    case "$what" in
        postgres) ensure_postgres || { log "FAILED: PostgreSQL at 127.0.0.1:5432 is required for the tests"; status=1; } ;;
        redis) ensure_redis || { log "FAILED: Redis at 127.0.0.1:6379 is required for the tests"; status=1; } ;;
        ffmpeg) ensure_ffmpeg || { log "FAILED: ffmpeg is required"; status=1; } ;;
        espeak-ng) ensure_espeak_ng || { log "FAILED: espeak-ng is required (spoken lectures)"; status=1; } ;;
        chromium) ensure_chromium || { log "FAILED: chromium is required for the browser tests"; status=1; } ;;
        npm) ensure_npm || { log "FAILED: npm is required for the player test"; status=1; } ;;
        *) log "unknown service $what"; status=1 ;;
    esac
done
exit $status
