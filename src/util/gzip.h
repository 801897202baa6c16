/*
 * gzip: RFC 1952 gzip through zlib.
 *
 * gzip_compress() writes exactly one gzip member. gzip_decompress()
 * accepts exactly one member with nothing after it and stops with an
 * error once the output would pass max_len, so a hostile "zip bomb"
 * cannot exhaust memory.
 */
#ifndef TLSRPTD_GZIP_H
#define TLSRPTD_GZIP_H

#include <stddef.h>

int gzip_compress(const void *data, size_t len, unsigned char **out,
		  size_t *out_len);
int gzip_decompress(const unsigned char *data, size_t len, size_t max_len,
		    char **out, size_t *out_len);

#endif
