/*
 * relayhost: the relayhost parameter in Postfix syntax.
 *
 *	[host]:port	no MX lookup, the given port
 *	[host]		no MX lookup, port 25
 *	host:port	the given port
 *	host		port 25
 *
 * A host is a name or an IPv4 address of letters, digits, '.', '-' and
 * '_'. An IPv6 address must be in brackets, optionally with Postfix's
 * "ipv6:" prefix: "[ipv6:2001:db8::1]:25". A port is a number or a
 * service name. The mailer connects to the result (smtp.h); tlsrptd
 * check and the master only validate it (config_values.h).
 */
#ifndef TLSRPTD_RELAYHOST_H
#define TLSRPTD_RELAYHOST_H

#include <stdbool.h>

#include "strbuf.h"

#define RELAYHOST_DEFAULT_PORT	"25"

struct relayhost {
	char *host;		/* name or address, brackets removed */
	char *port;		/* number or service name */
	bool no_mx;		/* written in brackets */
};

/* Parse text into relay, which the caller frees with relayhost_free().
 * Returns 0, or -1 with a message naming the value in error. */
int relayhost_parse(const char *text, struct relayhost *relay,
		    struct strbuf *error);
void relayhost_free(struct relayhost *relay);

#endif
