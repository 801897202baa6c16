/*
 * strbuf: a growable byte buffer; see strbuf.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "strbuf.h"
#include "xalloc.h"

void strbuf_init(struct strbuf *buf)
{
	buf->cap = 64;
	buf->data = xmalloc(buf->cap);
	buf->data[0] = '\0';
	buf->len = 0;
}

void strbuf_free(struct strbuf *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = buf->cap = 0;
}

void strbuf_reset(struct strbuf *buf)
{
	buf->len = 0;
	buf->data[0] = '\0';
}

void strbuf_reserve(struct strbuf *buf, size_t extra)
{
	size_t need;

	if (extra > SIZE_MAX - buf->len - 1)
		msg_fatal("buffer size overflow");
	need = buf->len + extra + 1;
	if (need <= buf->cap)
		return;
	while (buf->cap < need)
		buf->cap = buf->cap > SIZE_MAX / 2 ? need : buf->cap * 2;
	buf->data = xrealloc(buf->data, buf->cap);
}

void strbuf_append(struct strbuf *buf, const void *data, size_t len)
{
	strbuf_reserve(buf, len);
	if (len > 0)
		memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
}

void strbuf_puts(struct strbuf *buf, const char *text)
{
	strbuf_append(buf, text, strlen(text));
}

void strbuf_putc(struct strbuf *buf, char c)
{
	strbuf_append(buf, &c, 1);
}

void strbuf_vprintf(struct strbuf *buf, const char *format, va_list ap)
{
	va_list copy;
	int needed;

	va_copy(copy, ap);
	needed = vsnprintf(buf->data + buf->len, buf->cap - buf->len, format,
			   copy);
	va_end(copy);
	if (needed < 0)
		msg_panic("strbuf_vprintf: invalid format \"%s\"", format);
	if ((size_t)needed >= buf->cap - buf->len) {
		strbuf_reserve(buf, (size_t)needed);
		vsnprintf(buf->data + buf->len, buf->cap - buf->len, format,
			  ap);
	}
	buf->len += (size_t)needed;
}

void strbuf_printf(struct strbuf *buf, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	strbuf_vprintf(buf, format, ap);
	va_end(ap);
}

void strbuf_truncate(struct strbuf *buf, size_t len)
{
	if (len < buf->len) {
		buf->len = len;
		buf->data[len] = '\0';
	}
}

char *strbuf_detach(struct strbuf *buf, size_t *len)
{
	char *data = buf->data;

	if (len != NULL)
		*len = buf->len;
	buf->data = NULL;
	buf->len = buf->cap = 0;
	return data;
}
