/*
 * gzip: one-member gzip compression and bounded decompression with zlib;
 * see gzip.h.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "gzip.h"
#include "strbuf.h"
#include "xalloc.h"

#define GZIP_WINDOW_BITS	(15 + 16)	/* zlib: gzip wrapper */

int gzip_compress(const void *data, size_t len, unsigned char **out,
		  size_t *out_len)
{
	z_stream stream;
	unsigned char *buffer;
	uLong bound;
	int status;

	if (len > UINT_MAX)
		return -1;
	memset(&stream, 0, sizeof(stream));
	if (deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED,
			 GZIP_WINDOW_BITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;

	/* deflateBound() covers the gzip header and trailer too. */
	bound = deflateBound(&stream, (uLong)len);
	buffer = xmalloc(bound);
	stream.next_in = (Bytef *)data;
	stream.avail_in = (uInt)len;
	stream.next_out = buffer;
	stream.avail_out = (uInt)bound;
	status = deflate(&stream, Z_FINISH);
	if (status != Z_STREAM_END) {
		deflateEnd(&stream);
		free(buffer);
		return -1;
	}
	*out_len = stream.total_out;
	*out = buffer;
	deflateEnd(&stream);
	return 0;
}

int gzip_decompress(const unsigned char *data, size_t len, size_t max_len,
		    char **out, size_t *out_len)
{
	z_stream stream;
	struct strbuf result;
	unsigned char chunk[65536];
	int status;

	if (len > UINT_MAX)
		return -1;
	memset(&stream, 0, sizeof(stream));
	if (inflateInit2(&stream, GZIP_WINDOW_BITS) != Z_OK)
		return -1;
	strbuf_init(&result);
	stream.next_in = (Bytef *)data;
	stream.avail_in = (uInt)len;
	do {
		stream.next_out = chunk;
		stream.avail_out = sizeof(chunk);
		status = inflate(&stream, Z_NO_FLUSH);
		if (status != Z_OK && status != Z_STREAM_END)
			goto fail;
		strbuf_append(&result, chunk, sizeof(chunk) - stream.avail_out);
		if (result.len > max_len)
			goto fail;
	} while (status != Z_STREAM_END && (stream.avail_in > 0
					    || stream.avail_out == 0));

	/* Exactly one member, and nothing after its trailer. */
	if (status != Z_STREAM_END || stream.avail_in != 0)
		goto fail;
	inflateEnd(&stream);
	*out = strbuf_detach(&result, out_len);
	return 0;

fail:
	inflateEnd(&stream);
	strbuf_free(&result);
	return -1;
}
