/*
 * strbuf: a growable byte buffer, always NUL-terminated.
 *
 * The one buffer type of the suite: messages, JSON text, file contents and
 * network replies are built in it. The buffer owns its data; strbuf_free()
 * releases it and strbuf_detach() hands it to the caller.
 */
#ifndef TLSRPTD_STRBUF_H
#define TLSRPTD_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *data;		/* NUL-terminated; never NULL after init */
	size_t len;		/* bytes used, not counting the NUL */
	size_t cap;		/* bytes allocated */
};

void strbuf_init(struct strbuf *buf);
void strbuf_free(struct strbuf *buf);
void strbuf_reset(struct strbuf *buf);
void strbuf_reserve(struct strbuf *buf, size_t extra);
void strbuf_append(struct strbuf *buf, const void *data, size_t len);
void strbuf_puts(struct strbuf *buf, const char *text);
void strbuf_putc(struct strbuf *buf, char c);
void strbuf_printf(struct strbuf *buf, const char *format, ...)
	__attribute__((format(printf, 2, 3)));
void strbuf_vprintf(struct strbuf *buf, const char *format, va_list ap)
	__attribute__((format(printf, 2, 0)));
void strbuf_truncate(struct strbuf *buf, size_t len);
char *strbuf_detach(struct strbuf *buf, size_t *len);

#endif
