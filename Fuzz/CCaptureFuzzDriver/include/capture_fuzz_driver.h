/* The libFuzzer entry for capture-fuzz, present only in builds made with -sanitize=fuzzer. */
#ifndef CAPTURE_FUZZ_DRIVER_H
#define CAPTURE_FUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>

typedef int (*capture_fuzz_callback)(const uint8_t *data, size_t size);

/** 1 when libFuzzer is linked in (a `--sanitize=fuzzer` build), else 0. */
int capture_fuzz_available(void);
/** LLVMFuzzerRunDriver: parses libFuzzer's options from argv and fuzzes `callback`. */
int capture_fuzz_run(int *argc, char ***argv, capture_fuzz_callback callback);
#endif
