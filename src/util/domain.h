/*
 * domain: normalise a domain name before it is used as a key or emitted.
 *
 * "Example.COM." and "example.com" must count as one domain, and report
 * fields must carry A-labels (RFC 8460 section 4.4), so every name is
 * lower-cased, loses one trailing dot and has internationalised labels
 * converted to A-labels with libidn2 (IDNA2008, non-transitional). Names
 * that cannot be a host name are rejected with a reason: empty labels,
 * labels over 63 octets, names over 253 octets, characters other than
 * letters, digits, '-' and '_'. With allow_wildcard, one leading "*." is
 * kept, as MTA-STS mx patterns use it.
 */
#ifndef TLSRPTD_DOMAIN_H
#define TLSRPTD_DOMAIN_H

#include <stdbool.h>

#include "strbuf.h"

#define DOMAIN_MAX_LEN	253

int domain_normalise(const char *name, bool allow_wildcard, char **result,
		     struct strbuf *reason);

#endif
