# kernel-args: swiotlb=force
# Frames that arrive by real DMA: QEMU's edu PCI device writes each frame into the pinned ring
# through dma_map_sgtable; the guest forces swiotlb, so every frame travels through bounce
# buffers — the path user-buffer DMA drivers stumble on. edu does one DMA (at most
# 4 KiB; 2 KiB here) per 100 ms, so the stream is small and slow.
set -u
cd /opt/capture
. ./guest-lib.sh
SOCK=/run/capture/capture.sock
CTL="$BIN/capturectl"

insmod /opt/capture/capture_dma.ko && insmod /opt/capture/capture_edu.ko
check "the edu engine found QEMU's edu device" dmesg_has 'edu DMA engine: 32-bit DMA mask'
check "swiotlb is on" dmesg_has 'software IO TLB' 
check "udev created /dev/capture0" wait_for 20 test -c /dev/capture0
cat > capture.toml <<TOML
[stream.edu0]
device = "/dev/capture0"
frame_bytes = 6000
frame_rate = 1
queue_depth = 2
max_leases = 2
ring.slots = 8
TOML
"$BIN/captured" --config capture.toml --socket "$SOCK" > "$R/captured.log" 2>&1 &
DAEMON=$!
check "captured starts on the edu-backed device" wait_for 60 "$CTL" status --socket "$SOCK"
"$CTL" tail edu0 --frames 10 --verify --timeout 60 --socket "$SOCK" > "$R/tail-edu.log" 2>&1
rc=$?
summary "edu client: $(tail -1 "$R/tail-edu.log")"
check "frames written by edu DMA verify (CRC-32 and pattern)" test "$rc" -eq 0
"$CTL" status --socket "$SOCK" | tee -a "$R/summary.txt"
kill -TERM "$DAEMON"; wait "$DAEMON"
rmmod capture_edu && rmmod capture_dma
dmesg | grep "edu:" | tail -1 | tee -a "$R/summary.txt"
check "edu moved the frames by DMA" dmesg_has 'edu: [1-9][0-9]* DMA transfers'
frames=$(dmesg | sed -n 's/.*edu: [0-9]* DMA transfers, \([0-9]*\) frames, \([0-9]*\) of them.*/\1 \2/p' | tail -1)
check "every frame went through swiotlb bounce buffers ($frames)" sh -c "set -- $frames; [ \"\$1\" -gt 0 ] && [ \"\$1\" = \"\$2\" ]"
check "nr_foll_pin_acquired == nr_foll_pin_released" wait_for 20 pins_balanced
check "dmesg has no BUG, Bad page state, WARNING or oops" dmesg_clean
finish
