# The field conditions that break user-buffer pinning, applied to a ring pinned by
# capture_dma, with lease and latest clients verifying every frame throughout.
set -u
cd /opt/capture
. ./guest-lib.sh
SOCK=/run/capture/capture.sock
CTL="$BIN/capturectl"

log "kernel $(uname -r), $(awk '/MemTotal/ {print $2/1024 " MiB"}' /proc/meminfo) RAM"
pins0_acq=$(vmstat_value nr_foll_pin_acquired); pins0_rel=$(vmstat_value nr_foll_pin_released)

# Swap, so the memory hog really forces reclaim and swap-out around the pinned ring.
fallocate -l 768M /swapfile && chmod 600 /swapfile && mkswap -q /swapfile && swapon /swapfile
log "swap: $(swapon --show --noheadings)"

# Hugepages for the hugetlb phase, reserved before the stress fragments memory.
echo 32 > /proc/sys/vm/nr_hugepages
insmod /opt/capture/capture_dma.ko && insmod /opt/capture/capture_loopback.ko devices=1
check "udev created /dev/capture0" wait_for 20 test -c /dev/capture0
"$BIN/capture-testclient" driver-errors /dev/capture0 > "$R/driver-errors.log" 2>&1
driver_rc=$?
cat "$R/driver-errors.log"
check "the driver refuses bad requests with precise errnos and no state change" test "$driver_rc" -eq 0
check "each refusal left a one-line reason in dmesg" test "$(dmesg | grep -c 'capture0: REGISTER_RING\|capture0: QUEUE')" -ge 8

cat > capture.toml <<TOML
[daemon]
lease_timeout_ms = 20000
[stream.cam0]
device = "/dev/capture0"
frame_bytes = 1000000
frame_rate = 20
payload = "pattern"
queue_depth = 8
max_leases = 16
ring.slots = 96
ring.lock = "required"
TOML

start_daemon() {
  "$BIN/captured" --config capture.toml --socket "$SOCK" >> "$R/captured.log" 2>&1 &
  DAEMON=$!
  wait_for 60 "$CTL" status --socket "$SOCK"
}
check "captured starts on /dev/capture0" start_daemon
"$CTL" status --json --socket "$SOCK" > "$R/status-start.json"
"$CTL" status --socket "$SOCK" | tee -a "$R/summary.txt"
pinned=$(json_field "$R/status-start.json" pinnedPages)
ring_bytes=$(json_field "$R/status-start.json" ringBytes)
check "driver pinned every ring page once ($pinned pages)" test "$pinned" -eq $((ring_bytes / 4096))

# Long-running verifying clients.
"$CTL" tail cam0 --frames 1200 --verify --timeout 120 --socket "$SOCK" > "$R/tail-lease.log" 2>&1 &
LEASE=$!
"$CTL" tail cam0 --frames 400 --mode latest --verify --timeout 120 --socket "$SOCK" > "$R/tail-latest.log" 2>&1 &
LATEST=$!
sleep 2
"$CTL" status --json --socket "$SOCK" > "$R/status-clients.json"
check "the latest client is woken by the driver's doorbell (CAPTURE_IOC_DOORBELL)" grep -Eq '"doorbell" *: *true' "$R/status-clients.json"

# The hog asks for more than is available, so reclaim and swap-out must happen around the ring.
hog_mb=$(( $(awk '/MemAvailable/ {print int($2/1024)}' /proc/meminfo) + 256 ))
swapout0=$(vmstat_value pswpout)
log "stress: ${hog_mb} MiB memory hog, crawler, drop_caches, compaction, fork storms, client SIGKILLs"
stress-ng --vm 1 --vm-bytes "${hog_mb}M" --vm-keep --vm-method all --timeout 60s --quiet > "$R/stress-ng.log" 2>&1 &
HOG=$!
( peak=0; while kill -0 "$HOG" 2>/dev/null; do
    used=$(awk '/SwapTotal/ {t=$2} /SwapFree/ {f=$2} END {print int((t-f)/1024)}' /proc/meminfo)
    [ "$used" -gt "$peak" ] && peak=$used && echo "$peak" > "$R/swap-peak"
    sleep 1
  done ) &
( while kill -0 "$HOG" 2>/dev/null; do updatedb 2>/dev/null; find / -xdev -type f -size -256k -print0 2>/dev/null | xargs -0 cat > /dev/null 2>&1; done ) &
CRAWL=$!
( while kill -0 "$HOG" 2>/dev/null; do echo 3 > /proc/sys/vm/drop_caches; echo 1 > /proc/sys/vm/compact_memory; sleep 3; done ) &
CACHE=$!
( for i in $(seq 1 4); do "$BIN/capture-testclient" forkstorm "$SOCK" cam0 40 || echo "forkstorm $i failed"; done ) > "$R/forkstorm.log" 2>&1 &
FORKS=$!
( for i in $(seq 1 6); do
    "$CTL" tail cam0 --verify --socket "$SOCK" > /dev/null 2>&1 & victim=$!
    sleep 4; kill -9 "$victim"; wait "$victim" 2>/dev/null
  done ) &
KILLS=$!
wait "$HOG" "$CRAWL" "$CACHE" "$FORKS" "$KILLS"
swapped=$(( $(vmstat_value pswpout) - swapout0 ))
summary "stress: peak swap in use $(cat "$R/swap-peak" 2>/dev/null || echo 0) MiB, $swapped pages swapped out, $(grep -c . "$R/forkstorm.log") fork-storm reports"
check "the memory hog forced swap-out" test "$swapped" -gt 0

wait "$LEASE"; lease_rc=$?
wait "$LATEST"; latest_rc=$?
summary "lease client:  $(tail -1 "$R/tail-lease.log")"
summary "latest client: $(tail -1 "$R/tail-latest.log")"
check "lease client verified every frame" test "$lease_rc" -eq 0
check "latest client verified every frame" test "$latest_rc" -eq 0
check "fork storms saw no corrupt frame" grep -q "corrupt in children 0" "$R/forkstorm.log"
check "every fork storm ran" test "$(grep -c "corrupt in children 0" "$R/forkstorm.log")" -eq 4

"$CTL" status --json --socket "$SOCK" > "$R/status-stress.json"
"$CTL" status --socket "$SOCK" | tee -a "$R/summary.txt"
check "residency guard counted zero faults" test "$(json_field "$R/status-stress.json" faults)" -eq 0
check "no client still holds a lease after the SIGKILLs" test "$(json_field "$R/status-stress.json" slotsLeased)" -eq 0

log "SIGKILL the daemon: closing its fd must unpin everything"
kill -9 "$DAEMON"; wait "$DAEMON" 2>/dev/null
check "a killed daemon leaves no page pinned" wait_for 20 pins_balanced
acq=$(vmstat_value nr_foll_pin_acquired); rel=$(vmstat_value nr_foll_pin_released)
summary "after daemon SIGKILL: nr_foll_pin_acquired $((acq - pins0_acq)), nr_foll_pin_released $((rel - pins0_rel))"
check "the daemon's pins were taken at all" test "$((acq - pins0_acq))" -ge "$pinned"

log "restart the daemon"
check "captured restarts on /dev/capture0" start_daemon
"$CTL" tail cam0 --frames 200 --verify --socket "$SOCK" > "$R/tail-restart.log" 2>&1
restart_rc=$?
summary "after restart: $(tail -1 "$R/tail-restart.log")"
check "frames verify after the restart" test "$restart_rc" -eq 0
kill -TERM "$DAEMON"; wait "$DAEMON"
check "captured stops cleanly on SIGTERM" test $? -eq 0

log "the same device with a 2 MiB-hugepage ring"
sed -i 's/^ring.lock = "required"/ring.lock = "required"\nring.hugepages = "2M"/; s/^ring.slots = 96/ring.slots = 24/' capture.toml
check "captured starts with a hugetlb ring" start_daemon
"$CTL" status --json --socket "$SOCK" > "$R/status-hugetlb.json"
sg_small=$(json_field "$R/status-start.json" scatterGatherEntries)
sg_huge=$(json_field "$R/status-hugetlb.json" scatterGatherEntries)
summary "S/G entries per 1,000,000-byte slot: $((sg_small * 100 / 96 / 100)).$((sg_small * 100 / 96 % 100)) with 4 KiB pages ($sg_small for 96 slots), $((sg_huge / 24)) with 2 MiB hugepages ($sg_huge for 24 slots)"
check "a hugetlb ring needs one S/G entry per slot" test "$sg_huge" -eq 24
"$CTL" tail cam0 --frames 100 --verify --socket "$SOCK" > "$R/tail-hugetlb.log" 2>&1
hugetlb_rc=$?
summary "hugetlb ring: $(tail -1 "$R/tail-hugetlb.log")"
check "frames verify on the hugetlb ring" test "$hugetlb_rc" -eq 0
kill -TERM "$DAEMON"; wait "$DAEMON"
echo 0 > /proc/sys/vm/nr_hugepages
rmmod capture_loopback && rmmod capture_dma
check "capture_loopback and capture_dma unload" test ! -e /dev/capture0

check "nr_foll_pin_acquired == nr_foll_pin_released" wait_for 20 pins_balanced
summary "end: nr_foll_pin_acquired $(vmstat_value nr_foll_pin_acquired), nr_foll_pin_released $(vmstat_value nr_foll_pin_released)"
check "dmesg has no BUG, Bad page state, WARNING or oops" dmesg_clean
swapoff /swapfile
finish
