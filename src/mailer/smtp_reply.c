/*
 * smtp_reply: SMTP reply lines and EHLO extensions (see smtp_reply.h).
 */
#include <string.h>
#include <strings.h>

#include "smtp_reply.h"

void smtp_reply_init(struct smtp_reply *reply)
{
	reply->code = -1;
	reply->lines = 0;
	strbuf_init(&reply->text);
	strbuf_init(&reply->params);
}

void smtp_reply_reset(struct smtp_reply *reply)
{
	reply->code = -1;
	reply->lines = 0;
	strbuf_reset(&reply->text);
	strbuf_reset(&reply->params);
}

void smtp_reply_free(struct smtp_reply *reply)
{
	strbuf_free(&reply->text);
	strbuf_free(&reply->params);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Return the code of a line that starts with 200..599 followed by ' ',
 * '-' or nothing, or -1. */
static int line_code(const char *line, size_t len)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' || !is_digit(line[1])
	    || !is_digit(line[2]))
		return -1;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return -1;
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

/* Append line to out with bytes above 0x7e as '?'. Returns -1 if the
 * line contains a control character other than TAB. */
static int append_printable(struct strbuf *out, const char *line, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < ' ' && c != '\t') || c == 0x7f)
			return -1;
		strbuf_putc(out, c > 0x7e ? '?' : (char)c);
	}
	return 0;
}

enum smtp_reply_state smtp_reply_add(struct smtp_reply *reply,
				     const char *line, size_t len,
				     const char **error)
{
	int code = line_code(line, len);

	if (len > SMTP_REPLY_LINE_MAX) {
		*error = "reply line too long";
		return SMTP_REPLY_INVALID;
	}
	if (code < 0 || (reply->code >= 0 && code != reply->code)) {
		*error = "malformed reply";
		return SMTP_REPLY_INVALID;
	}
	if (reply->text.len + 1 + len > SMTP_REPLY_TEXT_MAX) {
		*error = "reply too long";
		return SMTP_REPLY_INVALID;
	}

	reply->code = code;
	reply->lines++;
	if (reply->text.len > 0)
		strbuf_putc(&reply->text, ' ');
	if (append_printable(&reply->text, line, len) != 0) {
		*error = "control character in reply";
		return SMTP_REPLY_INVALID;
	}
	if (len > 4)
		append_printable(&reply->params, line + 4, len - 4);
	strbuf_putc(&reply->params, '\n');
	return len == 3 || line[3] == ' ' ? SMTP_REPLY_DONE : SMTP_REPLY_MORE;
}

/* Tell whether the space-separated word list contains word, ignoring
 * case. */
static bool has_word(const char *list, size_t len, const char *word)
{
	size_t word_len = strlen(word);
	size_t i = 0;

	while (i < len) {
		size_t end = i;

		while (end < len && list[end] != ' ' && list[end] != '\t')
			end++;
		if (end - i == word_len
		    && strncasecmp(list + i, word, word_len) == 0)
			return true;
		i = end + 1;
	}
	return false;
}

/*
 * Note one EHLO line. "AUTH PLAIN LOGIN" is the standard form of the
 * AUTH extension (RFC 4954). Some old servers still send the form
 * "AUTH=PLAIN LOGIN", which means the same.
 */
static void note_extension(struct smtp_extensions *ext, const char *line,
			   size_t len)
{
	size_t keyword_len = 0;

	while (keyword_len < len && line[keyword_len] != ' '
	       && line[keyword_len] != '=' && line[keyword_len] != '\t')
		keyword_len++;
	if (keyword_len == 8 && strncasecmp(line, "STARTTLS", 8) == 0) {
		ext->starttls = true;
	} else if (keyword_len == 4 && strncasecmp(line, "AUTH", 4) == 0
		   && len > 5) {
		ext->auth_plain |= has_word(line + 5, len - 5, "PLAIN");
		ext->auth_login |= has_word(line + 5, len - 5, "LOGIN");
	}
}

void smtp_reply_extensions(const struct smtp_reply *reply,
			   struct smtp_extensions *ext)
{
	const char *line = reply->params.data;
	const char *end = line + reply->params.len;
	bool first = true;

	memset(ext, 0, sizeof(*ext));
	while (line < end) {
		const char *newline = memchr(line, '\n', (size_t)(end - line));
		size_t len = newline != NULL ? (size_t)(newline - line)
			: (size_t)(end - line);

		if (!first)
			note_extension(ext, line, len);
		first = false;
		line += len + 1;
	}
}
