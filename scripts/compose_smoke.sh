#!/usr/bin/env bash
# infra/docker-compose.yml under podman-compose, as it is (scripts/container_smoke.sh runs
# this last, after building the images it needs): the stack comes up by itself, one upload
# through the API becomes READY, `podman logs academy-video-worker` shows its job, and
# `down -v` leaves no container, volume or network behind. The compose file's pulls are
# served by stand-ins built from Debian's packages and PyPI (infra/podman/standins/).
set -euo pipefail
# shellcheck source=scripts/container_lib.sh
source "$(dirname "$0")/container_lib.sh"

PROJECT=academy-video-smoke-$$
COMPOSE=(podman-compose -f "$REPO/infra/docker-compose.yml" -p "$PROJECT")
WORK=$(mktemp -d /tmp/academy-compose-smoke.XXXXXX)
INVOLVED=""
# Host ports of its own (the compose file's defaults, 8000 and 5000, may be taken here).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export WEB_PORT SQS_PORT
WEB_PORT=$(free_port)
SQS_PORT=$(free_port)

down() {
    "${COMPOSE[@]}" down -v -t 5 >"$WORK/down.log" 2>&1
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ "$status" -ne 0 ]; then
        say "FAILED at compose step: $STEP (exit $status)"
        for name in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" \
            --format '{{.Names}}'); do
            if [ -z "$INVOLVED" ] || [ "$name" = "$INVOLVED" ]; then
                say "last log lines of $name:"
                podman logs --tail 25 "$name" 2>&1 | sed 's/^/    /' >&2 || true
            fi
        done
        down || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT INT TERM

step "compose: the images under the compose file's names"
for image in "$APP_IMAGE" "$MOTO_IMAGE" "$POSTGRES_IMAGE" "$REDIS_IMAGE"; do
    podman image exists "$image" || { say "missing $image: run scripts/container_smoke.sh"; exit 1; }
done
# Anything a killed run left under the fixed container name.
podman rm -f -t 0 academy-video-worker >/dev/null 2>&1 || true

step "compose: up -d (every service at once, no ordering help)"
"${COMPOSE[@]}" up -d >"$WORK/up.log" 2>&1 || { tail -20 "$WORK/up.log" >&2; exit 1; }
web="${PROJECT}_web_1"
API="http://127.0.0.1:$WEB_PORT/api/v1"

step "compose: setup migrates once the database answers, and exits 0"
INVOLVED="${PROJECT}_setup_1"
deadline=$(($(date +%s) + 180))
while [ "$(podman inspect -f '{{.State.Status}}' "$INVOLVED")" != exited ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { say "setup still running after 180 s"; exit 1; }
    sleep 1
done
code=$(podman inspect -f '{{.State.ExitCode}}' "$INVOLVED")
[ "$code" = 0 ] || { say "setup exited $code"; exit 1; }

step "compose: the API answers"
INVOLVED=$web
deadline=$(($(date +%s) + 120))
until python3 -c "import urllib.request; urllib.request.urlopen('$API/health')" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || { say "no answer from $API/health"; exit 1; }
    sleep 1
done

step "compose: one upload through the API becomes READY"
key=$(podman exec "$web" python manage.py create_api_key --tenant compose --create-tenant | tail -n 1)
ffmpeg -v error -f lavfi -i testsrc2=duration=3:size=320x240 -f lavfi -i sine=duration=3 \
    -shortest -pix_fmt yuv420p "$WORK/clip.mp4"
INVOLVED=academy-video-worker
video_id=$(python3 "$(dirname "$0")/smoke_upload.py" "$API" "$key" "$WORK/clip.mp4" --timeout 240)
podman logs academy-video-worker 2>&1 | grep SQS_JOB_COMPLETED | grep -q "\"video_id\": $video_id" \
    || { say "no SQS_JOB_COMPLETED for video $video_id in podman logs academy-video-worker"; exit 1; }
say "compose: video $video_id is READY"

step "compose: down -v leaves nothing behind"
INVOLVED=""
down || { tail -20 "$WORK/down.log" >&2; exit 1; }
left=$(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}')
volumes=$(podman volume ls --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Name}}')
[ -z "$left$volumes" ] || { say "left after down: $left $volumes"; exit 1; }
say "compose: up, one upload READY, down"
