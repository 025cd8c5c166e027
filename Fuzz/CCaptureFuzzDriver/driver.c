#include "capture_fuzz_driver.h"

/* Weak: in an ordinary build libFuzzer is absent and this is NULL, so the same program can
 * replay inputs without it. The fuzz build forces it in (-u LLVMFuzzerRunDriver). */
extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*cb)(const uint8_t *, size_t)) __attribute__((weak));

int capture_fuzz_available(void) { return LLVMFuzzerRunDriver != 0; }

int capture_fuzz_run(int *argc, char ***argv, capture_fuzz_callback callback) {
    return LLVMFuzzerRunDriver(argc, argv, callback);
}
