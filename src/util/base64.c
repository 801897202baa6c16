/*
 * base64: OpenSSL-backed base64 with line folding; see base64.h.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "xalloc.h"

void base64_encode_lines(const unsigned char *data, size_t len,
			 size_t line_len, const char *line_end,
			 struct strbuf *out)
{
	size_t chunk = line_len / 4 * 3;	/* input bytes per line */
	unsigned char *line = xmalloc(line_len + 1);
	size_t offset;

	for (offset = 0; offset < len; offset += chunk) {
		size_t take = len - offset < chunk ? len - offset : chunk;
		int written = EVP_EncodeBlock(line, data + offset, (int)take);

		strbuf_append(out, line, (size_t)written);
		strbuf_puts(out, line_end);
	}
	free(line);
}

int base64_decode(const char *text, size_t len, unsigned char **data,
		  size_t *data_len)
{
	char *compact = xmalloc(len + 1);
	unsigned char *result;
	size_t used = 0;
	size_t i;
	int decoded;

	for (i = 0; i < len; i++) {
		if (text[i] == '\r' || text[i] == '\n')
			continue;
		compact[used++] = text[i];
	}
	if (used % 4 != 0) {
		free(compact);
		return -1;
	}
	result = xmalloc(used / 4 * 3 + 1);
	decoded = EVP_DecodeBlock(result, (unsigned char *)compact, (int)used);
	if (decoded < 0) {
		free(compact);
		free(result);
		return -1;
	}

	/* EVP_DecodeBlock counts the padding as decoded zero bytes. */
	if (used >= 1 && compact[used - 1] == '=')
		decoded--;
	if (used >= 2 && compact[used - 2] == '=')
		decoded--;
	free(compact);
	*data = result;
	*data_len = (size_t)decoded;
	return 0;
}
