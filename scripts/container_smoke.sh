#!/usr/bin/env bash
# The container image, built and run for real (make image-test; make test runs it last).
#
# With Debian's podman (no Docker engine here), configured by infra/podman/ only:
#   1. builds the base from the Debian mirror apt uses (cached a week) and infra/Dockerfile on it;
#   2. checks that the image refuses to start without its secrets, with one line;
#   3. runs moto, setup (migrate + queues), the web role, the worker `academy-video-worker`,
#      reconcile and the webhook dispatcher as containers on the host network, against this
#      machine's PostgreSQL (a database of its own) and Redis (a db of its own);
#   4. uploads one clip through the API and waits for READY; the worker's `podman logs` show
#      SQS_MESSAGE_RECEIVED … SQS_JOB_COMPLETED for it; every role's HEALTHCHECK passes;
#   5. stops the idle worker: exit 0 within the image's documented stop timeout;
#   6. runs infra/docker-compose.yml under podman-compose (scripts/compose_smoke.sh), with
#      stand-ins for its postgres and redis built in the background meanwhile.
# Everything it started is removed on every exit path. A failure names its step and prints the
# last log lines of the container involved. SKIP_COMPOSE=1 leaves out step 6.
set -euo pipefail
# shellcheck source=scripts/container_lib.sh
source "$(dirname "$0")/container_lib.sh"

# Stop timeout the image documents (infra/Dockerfile, infra/README.md): above the worker's
# shutdown grace (25 s) and an idle worker's open long poll (20 s).
STOP_TIMEOUT=40
RUN_ID=$$
DB=academy_container_smoke_$RUN_ID
# Redis database of its own (the tests use 0 to 3), emptied at the end.
REDIS_DB=13
WORK=$(mktemp -d /tmp/academy-container-smoke.XXXXXX)
STARTED_AT=$(date +%s)
# One run at a time on a machine (fixed container name, shared storage): a second one waits.
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/smoke.lock"
flock 9

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ "$status" -ne 0 ]; then
        say "FAILED at step: $STEP (exit $status)"
        if [ -n "${INVOLVED:-}" ]; then
            say "last log lines of $INVOLVED:"
            podman logs --tail 40 "$INVOLVED" 2>&1 | sed 's/^/    /' >&2 || true
        fi
    fi
    if [ -n "${STANDINS_PID:-}" ]; then  # the background build, and its podman build
        pkill -TERM -P "$STANDINS_PID" 2>/dev/null || true
        kill "$STANDINS_PID" 2>/dev/null || true
        wait "$STANDINS_PID" 2>/dev/null || true
    fi
    for name in "${CONTAINERS[@]}"; do podman rm -f -t 0 "$name" >/dev/null 2>&1 || true; done
    podman volume rm -f "academy-smoke-media-$RUN_ID" >/dev/null 2>&1 || true
    psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    redis-cli -h 127.0.0.1 -n "$REDIS_DB" flushdb >/dev/null 2>&1 || true
    rm -rf "$WORK"
    say "container smoke test $([ "$status" -eq 0 ] && echo passed || echo FAILED)" \
        "in $(($(date +%s) - STARTED_AT)) s"
    exit "$status"
}
CONTAINERS=()
INVOLVED=""
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# run NAME [podman run options...] IMAGE [command...]: a detached container this test removes.
run() {
    local name=$1; shift
    podman rm -f -t 0 "$name" >/dev/null 2>&1 || true  # left by a run that was killed
    CONTAINERS+=("$name")
    INVOLVED=$name
    # No systemd here to time healthchecks: the test runs them (podman healthcheck run).
    podman run -d --name "$name" --health-interval disable --stop-timeout "$STOP_TIMEOUT" "$@" \
        >/dev/null
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_until() {
    local seconds=$1 what=$2; shift 2
    local deadline=$(($(date +%s) + seconds))
    until "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then say "$what: not within $seconds s"; return 1; fi
        if [ -n "$INVOLVED" ] && [ "$(podman inspect -f '{{.State.Running}}' "$INVOLVED" 2>/dev/null)" = false ]; then
            say "$INVOLVED exited while waiting for: $what"; return 1
        fi
        sleep 0.5
    done
}

step "tools (podman, buildah, runc, debootstrap, podman-compose)"
ensure_container_tools

step "base image $BASE_IMAGE"
ensure_base_image

step "image $APP_IMAGE"
build_app_image
image_size=$(podman image inspect --format '{{.Size}}' "$APP_IMAGE")
say "image size: $((image_size / 1000000)) MB; largest layers:"
podman history --format '{{.Size}}	{{.CreatedBy}}' "$APP_IMAGE" | grep -v '^0 B' \
    | sort -rh | head -4 | cut -c1-110 | sed 's/^/    /' >&2

step "stand-in images: moto now, PostgreSQL and Redis in the background (for compose)"
build_moto_image
build_database_images >"$WORK/standins.log" 2>&1 &
STANDINS_PID=$!

step "the image refuses to start without its secrets"
INVOLVED=""
refused=0
refusal=$(podman run --rm --health-interval disable "$APP_IMAGE" 2>&1) || refused=$?
[ "$refused" = 1 ] \
    && [ "$(printf "%s\n" "$refusal" | wc -l)" = 1 ] \
    && [ "${refusal#configuration error: DJANGO_SECRET_KEY is required}" != "$refusal" ] \
    || { say "expected exit 1 and one configuration error line, got $refused: $refusal"; exit 1; }

step "moto (SQS)"
MOTO_PORT=$(free_port)
WEB_PORT=$(free_port)
run "academy-smoke-moto-$RUN_ID" "$MOTO_IMAGE" -H 127.0.0.1 -p "$MOTO_PORT"
wait_until 60 "moto answers on $MOTO_PORT" \
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$MOTO_PORT/moto-api/')"

# Production settings (DJANGO_DEBUG=0 is the image's default) with this test's values; no
# TLS-terminating proxy stands in front here, so the redirect to https and secure-only cookies
# are switched off by their documented variables.
psql -h 127.0.0.1 -U postgres -q -c "CREATE DATABASE $DB" >/dev/null
cat >"$WORK/app.env" <<ENV
DJANGO_SECRET_KEY=container-smoke-$(python3 -c 'import secrets; print(secrets.token_hex(16))')
API_KEY_PEPPER=container-smoke-$(python3 -c 'import secrets; print(secrets.token_hex(16))')
DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost
DJANGO_SECURE_SSL_REDIRECT=0
DJANGO_SECURE_COOKIES=0
DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
REDIS_URL=redis://127.0.0.1:6379/$REDIS_DB
AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT
AWS_DEFAULT_REGION=us-east-1
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
VIDEO_SQS_QUEUE_NAME=academy-smoke-$RUN_ID
VIDEO_STORAGE_URL=file:///app/var/media
VIDEO_LIVE_CHANNEL_PREFIX=academy-smoke-$RUN_ID
PORT=$WEB_PORT
ENV
APP=(--env-file "$WORK/app.env" -v "academy-smoke-media-$RUN_ID:/app/var/media")

step "the worker starts before its queue exists and waits for it"
run academy-video-worker "${APP[@]}" -e WORKER_ID=smoke-worker "$APP_IMAGE" \
    python -m apps.worker.video_worker.sqs_main
wait_until 60 "WORKER_QUEUE_MISSING in the worker's log" \
    sh -c "podman logs academy-video-worker 2>&1 | grep -q WORKER_QUEUE_MISSING"

step "setup: migrate and the queues"
INVOLVED="academy-smoke-setup-$RUN_ID"
CONTAINERS+=("$INVOLVED")
podman run --name "$INVOLVED" --health-interval disable "${APP[@]}" "$APP_IMAGE" \
    sh -c 'python manage.py migrate --noinput -v 0 && python infra/create_local_queues.py' \
    >/dev/null

step "the worker resumes once its queue exists"
INVOLVED=academy-video-worker
wait_until 60 "WORKER_RESUMED in the worker's log" \
    sh -c "podman logs academy-video-worker 2>&1 | grep -q WORKER_RESUMED"
missing=$(podman logs academy-video-worker 2>&1 | grep -c WORKER_QUEUE_MISSING || true)
[ "$missing" = 1 ] || { say "WORKER_QUEUE_MISSING logged $missing times, not once"; exit 1; }

step "web, reconcile and the webhook dispatcher"
run "academy-smoke-reconcile-$RUN_ID" "${APP[@]}" "$APP_IMAGE" \
    python manage.py reconcile_video_processing --loop 5
run "academy-smoke-webhooks-$RUN_ID" "${APP[@]}" -e WORKER_ID=smoke-webhooks "$APP_IMAGE" \
    python manage.py deliver_webhooks --loop 1
run "academy-smoke-web-$RUN_ID" "${APP[@]}" "$APP_IMAGE" \
    python -m academy.serve --host=127.0.0.1 "--port=$WEB_PORT"
API="http://127.0.0.1:$WEB_PORT/api/v1"
wait_until 90 "GET $API/health" \
    python3 -c "import urllib.request; urllib.request.urlopen('$API/health')"

step "upload one clip through the API and wait for READY"
key=$(podman exec "academy-smoke-web-$RUN_ID" python manage.py create_api_key --tenant smoke \
    --create-tenant | tail -n 1)
ffmpeg -v error -f lavfi -i testsrc2=duration=3:size=320x240 -f lavfi -i sine=duration=3 \
    -shortest -pix_fmt yuv420p "$WORK/clip.mp4"
INVOLVED=academy-video-worker
video_id=$(python3 "$(dirname "$0")/smoke_upload.py" "$API" "$key" "$WORK/clip.mp4" --timeout 240)
say "video $video_id is READY"

step "the worker's podman logs show the job, received to completed"
podman logs academy-video-worker >"$WORK/worker.log" 2>&1
python3 - "$WORK/worker.log" "$video_id" <<'PY'
import json, sys
path, video_id = sys.argv[1], int(sys.argv[2])
events = []
for line in open(path):
    try:
        record = json.loads(line)
    except ValueError:
        continue
    if record.get("video_id") == video_id:
        events.append(record["event"])
need = ["SQS_MESSAGE_RECEIVED", "VIDEO_CLAIMED", "SQS_JOB_COMPLETED"]
positions = [events.index(e) if e in events else -1 for e in need]
if -1 in positions or positions != sorted(positions):
    sys.exit(f"expected {need} in order for video {video_id}, got {events}")
PY

step "every role's HEALTHCHECK"
for name in "academy-smoke-web-$RUN_ID" academy-video-worker "academy-smoke-reconcile-$RUN_ID" \
    "academy-smoke-webhooks-$RUN_ID"; do
    INVOLVED=$name
    podman healthcheck run "$name" >/dev/null \
        || { say "$name: $(podman exec "$name" python -m academy.healthcheck)"; exit 1; }
done

step "podman stop of the idle worker: exit 0 within $STOP_TIMEOUT s"
INVOLVED=academy-video-worker
started=$(date +%s)
podman stop -t "$STOP_TIMEOUT" academy-video-worker >/dev/null
took=$(($(date +%s) - started))
code=$(podman inspect -f '{{.State.ExitCode}}' academy-video-worker)
[ "$code" = 0 ] || { say "the worker exited $code after $took s (137: killed at the timeout)"; exit 1; }
podman logs academy-video-worker 2>&1 | grep -q WORKER_SHUTDOWN \
    || { say "no WORKER_SHUTDOWN in the worker's log"; exit 1; }
say "the idle worker stopped in $took s, exit 0"

# The fixed name is the compose file's worker's now.
podman rm -f -t 0 academy-video-worker >/dev/null

if [ "${SKIP_COMPOSE:-0}" != 1 ]; then
    step "the PostgreSQL and Redis stand-ins (built in the background)"
    INVOLVED=""
    wait "$STANDINS_PID" || { cat "$WORK/standins.log" >&2; exit 1; }
    STANDINS_PID=""
    step "infra/docker-compose.yml under podman-compose"
    "$(dirname "$0")/compose_smoke.sh"
fi
