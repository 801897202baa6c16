/*
 * fuzz_base64: libFuzzer target for base64_decode().
 *
 * The input is base64 text as found in a delivery file's body. The target
 * aborts if decoding writes more than three bytes per four characters,
 * or if decoded data does not survive a round trip through
 * base64_encode_lines() and base64_decode() unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "fuzz_support.h"
#include "strbuf.h"

static _Noreturn void broken(const char *problem)
{
	fprintf(stderr, "fuzz_base64: %s\n", problem);
	abort();
}

static void check_round_trip(const unsigned char *decoded, size_t len)
{
	struct strbuf text;
	unsigned char *again;
	size_t again_len;

	strbuf_init(&text);
	base64_encode_lines(decoded, len, 76, "\n", &text);
	if (base64_decode(text.data, text.len, &again, &again_len) != 0)
		broken("base64_decode() rejects base64_encode_lines() output");
	if (again_len != len || memcmp(again, decoded, len) != 0)
		broken("round trip changes the data");
	free(again);
	strbuf_free(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *decoded;
	size_t len;

	if (base64_decode((const char *)data, size, &decoded, &len) != 0)
		return 0;
	if (len > size / 4 * 3)
		broken("more than three bytes decoded per four characters");
	check_round_trip(decoded, len);
	free(decoded);
	return 0;
}
