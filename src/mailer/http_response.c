/*
 * http_response: the status line and header fields of an HTTP response
 * (see http_response.h).
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "http_response.h"

/* Characters of an RFC 9110 token besides letters and digits. */
static const char token_specials[] = "!#$%&'*+-.^_`|~";

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_token_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		|| is_digit((char)c) || (c != '\0' && strchr(token_specials, c));
}

/* Tell whether c may appear in a reason phrase or a field value: HTAB,
 * SP, VCHAR or obs-text. */
static bool is_text_char(unsigned char c)
{
	return c == '\t' || (c >= ' ' && c != 0x7f);
}

/* Copy text to out (HTTP_TEXT_MAX + 1 bytes), printable ASCII only. */
static void copy_text(char *out, const char *text, size_t len)
{
	size_t i;

	if (len > HTTP_TEXT_MAX)
		len = HTTP_TEXT_MAX;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		out[i] = c >= ' ' && c < 0x7f ? (char)c : '?';
	}
	out[len] = '\0';
}

int http_status_line_parse(const char *line, size_t len,
			   struct http_status *status, const char **error)
{
	size_t i;

	/* "HTTP/1.1 200" is the shortest valid status line. */
	if (len < 12 || memcmp(line, "HTTP/", 5) != 0 || !is_digit(line[5])
	    || line[6] != '.' || !is_digit(line[7]) || line[8] != ' ') {
		*error = "not an HTTP status line";
		return -1;
	}
	if (line[5] != '1') {
		*error = "unsupported HTTP version";
		return -1;
	}
	if (line[9] < '1' || line[9] > '5' || !is_digit(line[10])
	    || !is_digit(line[11]) || (len > 12 && line[12] != ' ')) {
		*error = "invalid status code";
		return -1;
	}
	for (i = 13; i < len; i++) {
		if (!is_text_char((unsigned char)line[i])) {
			*error = "control character in the reason phrase";
			return -1;
		}
	}

	status->major = 1;
	status->minor = line[7] - '0';
	status->code = (line[9] - '0') * 100 + (line[10] - '0') * 10
		+ (line[11] - '0');
	copy_text(status->reason, line + 13, len > 13 ? len - 13 : 0);
	return 0;
}

/*
 * Find the line that starts at data[start]. Returns its length without
 * the line end and sets *next to the start of the line after it, or
 * returns -1 when the line has not ended within data[0..len).
 */
static long next_line(const char *data, size_t len, size_t start,
		      size_t *next)
{
	const char *newline = memchr(data + start, '\n', len - start);
	size_t line_len;

	if (newline == NULL)
		return -1;
	line_len = (size_t)(newline - (data + start));
	*next = start + line_len + 1;
	if (line_len > 0 && data[start + line_len - 1] == '\r')
		line_len--;
	return (long)line_len;
}

/* Check one header field "name: value" and keep it when it is
 * Location. Returns 0, or -1 with *error set. */
static int parse_field(const char *line, size_t len,
		       struct http_response *response, const char **error)
{
	size_t name_len = 0;
	size_t start, end, i;

	while (name_len < len && is_token_char((unsigned char)line[name_len]))
		name_len++;
	if (name_len == 0 || name_len == len || line[name_len] != ':') {
		*error = "invalid header field";
		return -1;
	}
	for (i = name_len + 1; i < len; i++) {
		if (!is_text_char((unsigned char)line[i])) {
			*error = "control character in a header field";
			return -1;
		}
	}

	/* The value without the optional white space around it. */
	start = name_len + 1;
	end = len;
	while (start < end && (line[start] == ' ' || line[start] == '\t'))
		start++;
	while (end > start && (line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	if (name_len == 8 && strncasecmp(line, "Location", 8) == 0)
		copy_text(response->location, line + start, end - start);
	return 0;
}

/*
 * Parse one head that starts at data[start]: the status line, then the
 * header fields up to the empty line. On HTTP_PARSE_DONE, *end is
 * where the head ends.
 */
static enum http_parse_result parse_head(const char *data, size_t len,
					 size_t start,
					 struct http_response *response,
					 size_t *end, const char **error)
{
	size_t next;
	long line_len = next_line(data, len, start, &next);
	unsigned fields = 0;

	if (line_len < 0)
		return HTTP_PARSE_INCOMPLETE;
	if (http_status_line_parse(data + start, (size_t)line_len,
				   &response->status, error) != 0)
		return HTTP_PARSE_INVALID;
	response->location[0] = '\0';

	for (;;) {
		start = next;
		line_len = next_line(data, len, start, &next);
		if (line_len < 0)
			return HTTP_PARSE_INCOMPLETE;
		if (line_len == 0)
			break;
		if (++fields > HTTP_HEADER_COUNT_MAX) {
			*error = "too many header fields";
			return HTTP_PARSE_INVALID;
		}

		/* A folded line (obsolete, RFC 9112 section 5.2) continues
		 * the field before it. It needs no unfolding, because the
		 * parser keeps nothing but Location. */
		if (data[start] == ' ' || data[start] == '\t')
			continue;
		if (parse_field(data + start, (size_t)line_len, response,
				error) != 0)
			return HTTP_PARSE_INVALID;
	}
	*end = next;
	return HTTP_PARSE_DONE;
}

enum http_parse_result http_response_parse(const char *data, size_t len,
					   struct http_response *response,
					   const char **error)
{
	size_t scan_len = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX;
	size_t start = 0;
	unsigned interim = 0;

	memset(response, 0, sizeof(*response));
	for (;;) {
		size_t end = 0;
		enum http_parse_result result = parse_head(data, scan_len, start,
							   response, &end,
							   error);

		if (result == HTTP_PARSE_INCOMPLETE && len >= HTTP_HEAD_MAX) {
			*error = "response head too long";
			return HTTP_PARSE_INVALID;
		}
		if (result != HTTP_PARSE_DONE)
			return result;

		/* Skip an interim response, such as 100 Continue. 101
		 * Switching Protocols is final: a protocol switch was never
		 * asked for, so the caller treats it as a failure. */
		if (response->status.code >= 200 || response->status.code == 101) {
			response->head_len = end;
			return HTTP_PARSE_DONE;
		}
		if (++interim > HTTP_INTERIM_MAX) {
			*error = "too many interim responses";
			return HTTP_PARSE_INVALID;
		}
		start = end;
	}
}
