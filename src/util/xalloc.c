/*
 * xalloc: allocation wrappers that never return NULL; see xalloc.h.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "xalloc.h"

static void *checked(void *ptr, size_t size)
{
	if (ptr == NULL)
		msg_fatal("out of memory allocating %zu bytes", size);
	return ptr;
}

void *xmalloc(size_t size)
{
	return checked(malloc(size ? size : 1), size);
}

void *xcalloc(size_t count, size_t size)
{
	return checked(calloc(count ? count : 1, size ? size : 1), size);
}

void *xrealloc(void *ptr, size_t size)
{
	return checked(realloc(ptr, size ? size : 1), size);
}

void *xreallocarray(void *ptr, size_t count, size_t size)
{
	if (size != 0 && count > SIZE_MAX / size)
		msg_fatal("allocation of %zu elements of %zu bytes overflows",
			  count, size);
	return xrealloc(ptr, count * size);
}

char *xstrdup(const char *text)
{
	return xstrndup(text, strlen(text));
}

char *xstrndup(const char *text, size_t len)
{
	char *copy = xmalloc(len + 1);

	memcpy(copy, text, len);
	copy[len] = '\0';
	return copy;
}

char *xasprintf(const char *format, ...)
{
	va_list ap;
	char *result;

	va_start(ap, format);
	if (vasprintf(&result, format, ap) < 0)
		msg_fatal("out of memory formatting a string");
	va_end(ap);
	return result;
}
