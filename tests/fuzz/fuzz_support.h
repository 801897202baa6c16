/*
 * fuzz_support: helpers shared by the libFuzzer targets in tests/fuzz.
 *
 * Parsers that take a path (queue files, main.cf) get each input through
 * a file in a private directory that fuzz_support creates once per
 * process, on tmpfs (/dev/shm) when it exists, so that a run costs one
 * small write per input and no disk I/O. The directory and its files are
 * removed when the process exits normally. Log lines from the code under
 * test go to /dev/null: a parser that warns on every bad input would
 * otherwise spend its time writing to the terminal.
 */
#ifndef TLSRPTD_FUZZ_SUPPORT_H
#define TLSRPTD_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

void fuzz_quiet_logs(void);
const char *fuzz_directory(void);
char *fuzz_write_file(const char *name, const uint8_t *data, size_t size);
char *fuzz_copy_text(const uint8_t *data, size_t size);

#endif
