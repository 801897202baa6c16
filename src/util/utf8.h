/*
 * utf8: strict UTF-8 validation (RFC 3629): no overlong forms, no
 * surrogates, nothing above U+10FFFF. Report JSON must be I-JSON, so every
 * string from outside is checked before it is stored.
 */
#ifndef TLSRPTD_UTF8_H
#define TLSRPTD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

bool utf8_valid(const char *text, size_t len);

#endif
