# Helpers for scenarios, sourced inside the guest. Results go to /opt/capture/results.
R=/opt/capture/results
BIN=/opt/capture/bin
FAILURES=0
: > "$R/summary.txt"

log() { echo "[$(date +%T)] $*"; }
summary() { echo "$*" | tee -a "$R/summary.txt"; }
check() {   # check "what" CONDITION...
  local what=$1; shift
  if "$@"; then summary "PASS  $what"; else summary "FAIL  $what"; FAILURES=$((FAILURES + 1)); fi
}
wait_for() {   # wait_for SECONDS COMMAND...
  local n=$1; shift
  for _ in $(seq 1 "$((n * 5))"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}
vmstat_value() { awk -v k="$1" '$1 == k {print $2}' /proc/vmstat; }
json_field() {   # json_field FILE KEY: the first numeric value of "KEY" in a JSON document
  grep -o "\"$2\" *: *[0-9]*" "$1" | head -1 | grep -o '[0-9]*$'
}
# Pins are counted system-wide; other users (direct I/O) hold some for an instant.
pins_balanced() { [ "$(vmstat_value nr_foll_pin_acquired)" = "$(vmstat_value nr_foll_pin_released)" ]; }
dmesg_has() { dmesg > /tmp/dmesg.now; grep -q "$1" /tmp/dmesg.now; }
dmesg_clean() {
  ! dmesg | grep -E "BUG:|Bad page state|WARNING:|Oops|general protection|Call Trace|page dumped" >/dev/null
}
finish() {
  summary "RESULT $([ "$FAILURES" -eq 0 ] && echo PASS || echo "FAIL ($FAILURES)")"
  exit "$FAILURES"
}
