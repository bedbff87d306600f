#!/usr/bin/env bash
# Disk faults (`make fault-test`): the mediator's data directory
# fills up, then becomes read-only, while it serves. Method: a 4 MiB tmpfs
# in a private mount namespace (`unshare --user --map-root-user --mount`:
# works as root or with unprivileged user namespaces; nothing outside the
# namespace sees the mount), remounted `ro` for the read-only case —
# permissions (chmod) would not stop root, a read-only mount stops anyone.
# Checks: a clear 503 naming the cause while full, reads keep working,
# writes work again once there is room; after a SIGKILL the start on the
# read-only directory is refused with a message naming it; once writable
# again every acknowledged voucher is there and SQLite's integrity_check
# says ok. Loopback only.
set -euo pipefail

BIN=${MEDIATOR_BIN:-$PWD/target/debug/mediator}
SITE=${MEDIATOR_SITE:-$PWD/target/site}
[ -x "$BIN" ] || { echo "no $BIN: run cargo leptos build (or set MEDIATOR_BIN)"; exit 1; }

if [ "${1:-}" != "--inside" ]; then
  exec unshare --user --map-root-user --mount "$0" --inside
fi

T=$(mktemp -d)
mount -t tmpfs -o size=4m tmpfs "$T"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(port); E=$(port); S=$(port)
BASE="http://127.0.0.1:$P"
LOG=$(mktemp)
PID=

start() {
  "$BIN" serve --listen "127.0.0.1:$P" --events-listen "127.0.0.1:$E" --sim-listen "127.0.0.1:$S" \
    --data-dir "$T/data" --site-root "$SITE" --auth none --poll-interval 0.5 >>"$LOG" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    curl -sf "$BASE/readyz" >/dev/null && return 0
    sleep 0.2
  done
  echo "the mediator did not start"; tail -20 "$LOG"; exit 1
}
stop() { kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
trap 'stop; umount "$T" 2>/dev/null || true' EXIT

# 40 KiB of payload per voucher: a few dozen fill the 4 MiB.
PAYLOAD=$(python3 -c 'print("x"*40000)')
post() { # id -> prints "STATUS BODY"
  local body
  body=$(printf '{"part":"voucher","loyalty_request_id":"%s","loyalty_reference":"r","merchant_reference":"m","loyalty_order_reference":"o","payload":{"blob":"%s"}}' "$1" "$PAYLOAD")
  curl -s -o /tmp/disk-faults-body -w '%{http_code}' -H 'content-type: application/json' -d "$body" "$BASE/api/v1/vouchers"
  echo " $(head -c 300 /tmp/disk-faults-body)"
}

ACKED=()
start

echo "== full: posting vouchers until the 4 MiB data directory is full"
full=
for i in $(seq 1 400); do
  out=$(post "full-$i")
  code=${out%% *}
  if [ "$code" = 202 ] || [ "$code" = 200 ]; then
    ACKED+=("full-$i")
  else
    full="$out"; break
  fi
done
[ -n "$full" ] || { echo "FAIL: never full"; exit 1; }
echo "after ${#ACKED[@]} vouchers: $full"
case "$full" in 503*full*) ;; *) echo "FAIL: expected a 503 saying the disk is full"; exit 1 ;; esac
curl -sf "$BASE/healthz" >/dev/null && echo "healthz still ok"
curl -sf "$BASE/api/v1/vouchers/${ACKED[0]}" >/dev/null && echo "reads still ok"

echo "== room again: remount with 64 MiB"
mount -o remount,size=64m "$T"
out=$(post "after-full")
echo "$out" | head -c 80; echo
case "$out" in 202*|200*) ACKED+=("after-full") ;; *) echo "FAIL: writes did not resume"; exit 1 ;; esac

echo "== read-only: SIGKILL, remount ro, start again"
# (Linux refuses to remount a filesystem read-only while files on it are
# open for writing, so the read-only case is the start after a crash.)
stop
mount -o remount,ro "$T"
rc=0
"$BIN" serve --listen "127.0.0.1:$P" --events-listen "127.0.0.1:$E" --sim-listen "127.0.0.1:$S" \
    --data-dir "$T/data" --site-root "$SITE" --auth none >"$LOG.ro" 2>&1 || rc=$?
[ "$rc" != 0 ] || { echo "FAIL: started on a read-only data directory"; exit 1; }
echo "refused, exit status $rc: $(grep -i 'data' "$LOG.ro" | head -1)"
grep -qi 'data' "$LOG.ro" || { echo "FAIL: the message does not name the data directory"; exit 1; }

echo "== writable again: restart and check"
mount -o remount,rw "$T"
start
missing=0
for id in "${ACKED[@]}"; do
  curl -sf "$BASE/api/v1/vouchers/$id" >/dev/null || { echo "missing: $id"; missing=$((missing+1)); }
done
stop
check=$(sqlite3 "$T/data/mediator.db" 'PRAGMA integrity_check;' 2>&1 || true)
echo "acknowledged: ${#ACKED[@]}, missing after restart: $missing, integrity_check: $check"
[ "$missing" = 0 ] && [ "$check" = ok ] || { echo FAIL; exit 1; }
echo "disk faults: ok"
