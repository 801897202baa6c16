/*
 * json_text: the lexical pre-check of JSON text; see json_text.h.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "json_text.h"
#include "utf8.h"

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static size_t skip_digits(const unsigned char *text, size_t len, size_t i)
{
	while (i < len && is_digit(text[i]))
		i++;
	return i;
}

/*
 * Check the number at *at against the RFC 8259 grammar and move *at past
 * it:
 *
 *	[ "-" ] ( "0" / digit1-9 *digit ) [ "." 1*digit ]
 *		[ ( "e" / "E" ) [ "+" / "-" ] 1*digit ]
 *
 * A number directly followed by another number character ("01", "1.",
 * "1e5.3") is invalid as a whole.
 */
static bool scan_number(const unsigned char *text, size_t len, size_t *at)
{
	size_t i = *at;
	size_t end;

	if (text[i] == '-')
		i++;
	if (i < len && text[i] == '0')
		i++;
	else if (i < len && text[i] >= '1' && text[i] <= '9')
		i = skip_digits(text, len, i);
	else
		return false;

	if (i < len && text[i] == '.') {
		end = skip_digits(text, len, i + 1);
		if (end == i + 1)
			return false;
		i = end;
	}
	if (i < len && (text[i] == 'e' || text[i] == 'E')) {
		i++;
		if (i < len && (text[i] == '+' || text[i] == '-'))
			i++;
		end = skip_digits(text, len, i);
		if (end == i)
			return false;
		i = end;
	}
	if (i < len && memchr("0123456789.eE+-", text[i], 15) != NULL)
		return false;
	*at = i;
	return true;
}

/* Bytes that end a run of plain string characters: control characters,
 * '"', '\\' and every non-ASCII byte. */
static const unsigned char string_stop[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 '"' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50 '\\' */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x80 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* Return the first position from i on with a string_stop byte, or len. */
static size_t skip_plain(const unsigned char *text, size_t len, size_t i)
{
	while (i < len && !string_stop[text[i]])
		i++;
	return i;
}

/*
 * Move past the run of non-ASCII bytes at start and return its end. A
 * valid run consists of whole UTF-8 sequences, so it can be checked alone.
 * The offset of the first invalid run goes to *bad_utf8.
 */
static size_t skip_non_ascii(const unsigned char *text, size_t len,
			     size_t start, size_t *bad_utf8)
{
	size_t end = start + 1;

	while (end < len && text[end] >= 0x80)
		end++;
	if (*bad_utf8 == SIZE_MAX &&
	    !utf8_valid((const char *)text + start, end - start))
		*bad_utf8 = start;
	return end;
}

/*
 * Check the string whose opening quote is at *at and move *at past its
 * closing quote. An unterminated string moves *at to len; cJSON reports
 * it.
 */
static bool scan_string(const unsigned char *text, size_t len, size_t *at,
			size_t *bad_utf8, struct strbuf *reason)
{
	size_t i = *at + 1;

	for (;;) {
		unsigned char c;

		i = skip_plain(text, len, i);
		if (i >= len)
			break;
		c = text[i];
		if (c == '"') {
			*at = i + 1;
			return true;
		}
		if (c == '\\') {
			if (i + 5 < len && text[i + 1] == 'u' &&
			    memcmp(text + i + 2, "0000", 4) == 0) {
				strbuf_printf(reason, "escaped NUL character "
					      "(\\u0000) in a string at byte "
					      "%zu", i);
				return false;
			}
			i += 2;
			continue;
		}
		if (c < 0x20) {
			strbuf_printf(reason, "unescaped control character "
				      "0x%02x in a string at byte %zu", c, i);
			return false;
		}
		i = skip_non_ascii(text, len, i, bad_utf8);
	}
	*at = len;
	return true;
}

enum json_text_error json_text_check(const char *data, size_t len,
				     int max_depth, size_t *bad_utf8,
				     struct strbuf *reason)
{
	const unsigned char *text = (const unsigned char *)data;
	int depth = 0;
	size_t i = 0;

	*bad_utf8 = SIZE_MAX;
	while (i < len) {
		unsigned char c = text[i];

		if (c == '"') {
			if (!scan_string(text, len, &i, bad_utf8, reason))
				return JSON_TEXT_INVALID;
			continue;
		}
		if (c == '-' || is_digit(c)) {
			if (!scan_number(text, len, &i)) {
				strbuf_printf(reason, "invalid number at byte "
					      "%zu", i);
				return JSON_TEXT_INVALID;
			}
			continue;
		}
		if (c == '{' || c == '[') {
			if (++depth > max_depth) {
				strbuf_printf(reason, "JSON nested deeper than "
					      "%d levels", max_depth);
				return JSON_TEXT_TOO_DEEP;
			}
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
			strbuf_printf(reason, "control character 0x%02x "
				      "outside a string at byte %zu", c, i);
			return JSON_TEXT_INVALID;
		} else if (c >= 0x80) {
			strbuf_printf(reason, "non-ASCII byte 0x%02x outside "
				      "a string at byte %zu", c, i);
			return JSON_TEXT_INVALID;
		}
		i++;
	}
	return JSON_TEXT_VALID;
}
