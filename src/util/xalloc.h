/*
 * xalloc: allocation wrappers that never return NULL.
 *
 * Running out of memory is not an input error that a caller could handle,
 * so every wrapper logs a fatal message and exits instead of returning NULL.
 * Callers own what these functions return and release it with free().
 */
#ifndef TLSRPTD_XALLOC_H
#define TLSRPTD_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
void *xreallocarray(void *ptr, size_t count, size_t size);
char *xstrdup(const char *text);
char *xstrndup(const char *text, size_t len);
char *xasprintf(const char *format, ...)
	__attribute__((format(printf, 1, 2)));

#endif
