/*
 * base64: RFC 4648 base64 through OpenSSL's EVP encoder, folded into lines
 * for MIME bodies and queue files. Decoding ignores line breaks and
 * rejects any other character outside the alphabet.
 */
#ifndef TLSRPTD_BASE64_H
#define TLSRPTD_BASE64_H

#include <stddef.h>

#include "strbuf.h"

void base64_encode_lines(const unsigned char *data, size_t len,
			 size_t line_len, const char *line_end,
			 struct strbuf *out);
int base64_decode(const char *text, size_t len, unsigned char **data,
		  size_t *data_len);

#endif
