/*
 * json_text: lexical checks on JSON text that cJSON 1.7 does not make.
 *
 * cJSON 1.7.15 parses more than RFC 8259 allows, and some of it changes
 * the value of a string: a "\u0000" escape cuts the decoded string at the
 * NUL, raw control characters inside strings are kept, any byte up to
 * 0x20 counts as white space, a UTF-8 byte order mark is skipped, and
 * numbers such as "01" or "1." are read.
 * It also recurses once per nesting level. json_text_check() rejects all
 * of these before cJSON sees the text, and bounds the nesting depth. It
 * does not parse: cJSON still decides whether the text is JSON.
 *
 * Bytes of 0x80 and above are checked as UTF-8 (RFC 3629), but an
 * invalid sequence is only reported through *bad_utf8 (its offset, or
 * SIZE_MAX when there is none), so that a caller can first report an
 * error that names the field.
 *
 * After the check, a tab, CR or LF can only be white space between
 * tokens, because raw control characters inside strings are rejected.
 */
#ifndef TLSRPTD_JSON_TEXT_H
#define TLSRPTD_JSON_TEXT_H

#include <stddef.h>

#include "strbuf.h"

enum json_text_error {
	JSON_TEXT_VALID,
	JSON_TEXT_INVALID,	/* not RFC 8259 JSON */
	JSON_TEXT_TOO_DEEP,	/* nested deeper than max_depth */
};

enum json_text_error json_text_check(const char *text, size_t len,
				     int max_depth, size_t *bad_utf8,
				     struct strbuf *reason);

#endif
