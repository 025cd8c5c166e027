# The kernel-stress mix for as long as `make vm-soak MINUTES=N` says (not part of vm-test):
# a memory hog forcing swap, updatedb and a crawler, page-cache drops, compaction, fork storms,
# verifying clients SIGKILLed and restarted, and captured SIGKILLed and restarted every round,
# with lease, latest and doorbell clients verifying every frame from /dev/capture0.
# The seed's failure ("Bad page state" under updatedb and swap) took hours; this runs as long
# as it is given.
set -u
cd /opt/capture
. ./guest-lib.sh
SOCK=/run/capture/capture.sock
CTL="$BIN/capturectl"
MINUTES=$(cat /opt/capture/soak-minutes 2>/dev/null || echo 10)
END=$(( $(date +%s) + MINUTES * 60 ))

log "soak for $MINUTES min: kernel $(uname -r), $(awk '/MemTotal/ {print $2/1024 " MiB"}' /proc/meminfo) RAM"
fallocate -l 768M /swapfile && chmod 600 /swapfile && mkswap -q /swapfile && swapon /swapfile
insmod /opt/capture/capture_dma.ko && insmod /opt/capture/capture_loopback.ko devices=1
check "udev created /dev/capture0" wait_for 20 test -c /dev/capture0

cat > capture.toml <<TOML
[daemon]
lease_timeout_ms = 20000
[stream.cam0]
device = "/dev/capture0"
frame_bytes = 1000000
frame_rate = 20
payload = "pattern"
max_leases = 16
ring.slots = 96
ring.lock = "required"
TOML

start_daemon() {
  "$BIN/captured" --config capture.toml --socket "$SOCK" >> "$R/captured.log" 2>&1 &
  DAEMON=$!
  wait_for 60 "$CTL" status --socket "$SOCK"
}
n=0
start_verifier() {   # start_verifier MODE: a verifying client writing $R/verify-N-MODE.json
  n=$((n + 1))
  "$BIN/capture-testclient" verify "$SOCK" cam0 "$1" "$R/verify-$n-$1.json" >> "$R/verify.log" 2>&1 &
  eval "V_$1=$!"
}
start_verifiers() { for m in lease latest doorbell; do start_verifier "$m"; done; }

check "captured starts on /dev/capture0" start_daemon
start_verifiers
rounds=0 kills_balanced=0 kills=0
swapout0=$(vmstat_value pswpout)
while [ "$(date +%s)" -lt "$END" ]; do
  rounds=$((rounds + 1))
  hog_mb=$(( $(awk '/MemAvailable/ {print int($2/1024)}' /proc/meminfo) + 256 ))
  log "round $rounds: ${hog_mb} MiB hog, crawler, drop_caches, compaction, fork storm, client SIGKILLs"
  stress-ng --vm 1 --vm-bytes "${hog_mb}M" --vm-keep --vm-method all --timeout 60s --quiet > /dev/null 2>&1 &
  HOG=$!
  ( while kill -0 "$HOG" 2>/dev/null; do updatedb 2>/dev/null; find / -xdev -type f -size -256k -print0 2>/dev/null | xargs -0 cat > /dev/null 2>&1; done ) &
  CRAWL=$!
  ( while kill -0 "$HOG" 2>/dev/null; do echo 3 > /proc/sys/vm/drop_caches; echo 1 > /proc/sys/vm/compact_memory; sleep 3; done ) &
  CACHE=$!
  "$BIN/capture-testclient" forkstorm "$SOCK" cam0 20 >> "$R/forkstorm.log" 2>&1 &
  FORKS=$!
  for m in lease latest doorbell; do   # SIGKILL each verifier once a round, and replace it
    sleep 5
    eval "kill -9 \$V_$m"; start_verifier "$m"
  done
  wait "$HOG" "$CRAWL" "$CACHE" "$FORKS"
  log "round $rounds: SIGKILL captured; its fd closing must unpin everything"
  kill -9 "$DAEMON"; wait "$DAEMON" 2>/dev/null
  kills=$((kills + 1))
  if wait_for 30 pins_balanced; then kills_balanced=$((kills_balanced + 1)); else
    summary "round $rounds: pins not balanced after the daemon SIGKILL: $(vmstat_value nr_foll_pin_acquired) acquired, $(vmstat_value nr_foll_pin_released) released"
  fi
  for m in lease latest doorbell; do eval "kill \$V_$m 2>/dev/null"; done
  start_daemon || { summary "round $rounds: captured did not restart"; break; }
  start_verifiers
done
for m in lease latest doorbell; do eval "kill \$V_$m 2>/dev/null"; done
sleep 2
"$CTL" status --json --socket "$SOCK" > "$R/status-end.json"
kill -TERM "$DAEMON"; wait "$DAEMON"

# Totals over every verifier run (each wrote its tally every half second; a SIGKILL loses at
# most its last half second, never a corrupt frame it had counted).
sum() { cat "$R"/verify-*.json 2>/dev/null | grep -o "\"$1\":[0-9]*" | awk -F: '{s += $2} END {print s + 0}'; }
frames=$(sum frames) corrupt=$(sum corrupt) gaps=$(sum unreportedGaps) torn=$(sum torn)
swapped=$(( $(vmstat_value pswpout) - swapout0 ))
summary "soak: $MINUTES min, $rounds rounds, kernel $(uname -r)"
by_mode() { cat "$R"/verify-*-"$1".json 2>/dev/null | grep -o '"frames":[0-9]*' | awk -F: '{s += $2} END {print s + 0}'; }
summary "frames verified: $frames by $(ls "$R"/verify-*.json | wc -l) verifier runs (lease $(by_mode lease), latest $(by_mode latest), doorbell $(by_mode doorbell))"
summary "corrupt: $corrupt; unreported gaps: $gaps; frames overwritten before read, detected (latest mode, or revoked leases): $torn"
summary "drops reported to clients: device overrun $(sum 'device overrun'), lease limit $(sum 'lease limit reached')"
summary "swap: $swapped pages swapped out; fork storms: $(grep -c 'corrupt in children 0' "$R/forkstorm.log") clean of $(grep -c 'forked' "$R/forkstorm.log")"
summary "daemon SIGKILLs: $kills, pins balanced after $kills_balanced"
check "no corrupt frame" test "$corrupt" -eq 0
check "no unreported gap" test "$gaps" -eq 0
check "frames were verified" test "$frames" -gt 0
check "every fork storm was clean" test "$(grep -c 'corrupt in children 0' "$R/forkstorm.log")" -eq "$(grep -c 'forked' "$R/forkstorm.log")"
check "pins acquired == released after every daemon SIGKILL" test "$kills_balanced" -eq "$kills"
check "residency guard counted zero faults" test "$(json_field "$R/status-end.json" faults)" -eq 0
rmmod capture_loopback && rmmod capture_dma
check "nr_foll_pin_acquired == nr_foll_pin_released at the end" wait_for 20 pins_balanced
summary "end: nr_foll_pin_acquired $(vmstat_value nr_foll_pin_acquired), nr_foll_pin_released $(vmstat_value nr_foll_pin_released)"
check "dmesg has no BUG, Bad page state, WARNING or oops" dmesg_clean
swapoff /swapfile
finish
