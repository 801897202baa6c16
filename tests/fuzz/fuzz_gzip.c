/*
 * fuzz_gzip: libFuzzer target for gzip_decompress().
 *
 * The input is a gzip stream. Decompression is bounded by
 * FUZZ_GZIP_MAX_OUTPUT, and the target aborts if the output passes that
 * bound or if an accepted stream's output does not survive a round trip
 * through gzip_compress() and gzip_decompress() unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "gzip.h"

#define FUZZ_GZIP_MAX_OUTPUT (1024 * 1024)

static _Noreturn void broken(const char *problem)
{
	fprintf(stderr, "fuzz_gzip: %s\n", problem);
	abort();
}

static void check_round_trip(const char *text, size_t len)
{
	unsigned char *packed;
	size_t packed_len;
	char *again;
	size_t again_len;

	if (gzip_compress(text, len, &packed, &packed_len) != 0)
		broken("gzip_compress() fails on decompressed output");
	if (gzip_decompress(packed, packed_len, len, &again, &again_len) != 0)
		broken("gzip_decompress() rejects gzip_compress() output");
	if (again_len != len || memcmp(again, text, len) != 0)
		broken("round trip changes the data");
	free(packed);
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	size_t len;

	if (gzip_decompress(data, size, FUZZ_GZIP_MAX_OUTPUT, &text, &len) != 0)
		return 0;
	if (len > FUZZ_GZIP_MAX_OUTPUT)
		broken("output larger than max_len");
	check_round_trip(text, len);
	free(text);
	return 0;
}
