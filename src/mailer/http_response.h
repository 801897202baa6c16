/*
 * http_response: parse the head of an HTTP/1.1 response (RFC 9112): the
 * status line and the header fields, up to the empty line.
 *
 * The status line is checked strictly: "HTTP/1." DIGIT, SP, a status
 * code from 100 to 599, then nothing or SP and a reason phrase of
 * printable characters. Header fields must be "token: value". A line
 * may end in CRLF or, as RFC 9112 section 2.2 lets a recipient accept,
 * in a bare LF. Interim 1xx responses other than 101 are skipped, as
 * RFC 9110 section 15.2 requires of a client that did not ask for them.
 *
 * These are pure functions on memory: no I/O, no configuration, no
 * logging, so a fuzz target can call them directly.
 *
 * Limits: all heads together at most HTTP_HEAD_MAX bytes and
 * HTTP_HEADER_COUNT_MAX lines each. Only the Location field is kept,
 * for the message about a redirect. The reason phrase and the location
 * are stored with bytes outside printable ASCII replaced by '?' and cut
 * to HTTP_TEXT_MAX characters.
 */
#ifndef TLSRPTD_HTTP_RESPONSE_H
#define TLSRPTD_HTTP_RESPONSE_H

#include <stddef.h>

#define HTTP_HEAD_MAX		16384	/* bytes of all response heads */
#define HTTP_HEADER_COUNT_MAX	100	/* header lines in one head */
#define HTTP_INTERIM_MAX	5	/* 1xx responses skipped */
#define HTTP_TEXT_MAX		200	/* reason phrase and location kept */

struct http_status {
	int major;		/* always 1 */
	int minor;
	int code;		/* 100..599 */
	char reason[HTTP_TEXT_MAX + 1];
};

struct http_response {
	struct http_status status;
	char location[HTTP_TEXT_MAX + 1];	/* "" without Location */
	size_t head_len;	/* bytes up to and including the empty line */
};

enum http_parse_result {
	HTTP_PARSE_INCOMPLETE,	/* the head has not ended yet */
	HTTP_PARSE_DONE,
	HTTP_PARSE_INVALID,
};

/*
 * Parse one status line, without its line end. Returns 0, or -1 with
 * *error set to a static description.
 */
int http_status_line_parse(const char *line, size_t len,
			   struct http_status *status, const char **error);

/*
 * Parse the response at the start of data[0..len). Returns
 * HTTP_PARSE_DONE with response filled in and response->head_len set to
 * where the body starts, HTTP_PARSE_INCOMPLETE when more bytes are
 * needed, or HTTP_PARSE_INVALID with *error set to a static description.
 */
enum http_parse_result http_response_parse(const char *data, size_t len,
					   struct http_response *response,
					   const char **error);

#endif
