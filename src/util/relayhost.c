/*
 * relayhost: parse the relayhost parameter; see relayhost.h.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "relayhost.h"
#include "xalloc.h"

static bool valid_host(const char *host, bool bracketed)
{
	size_t i;

	if (host[0] == '\0')
		return false;
	for (i = 0; host[i] != '\0'; i++) {
		unsigned char c = (unsigned char)host[i];

		/* A colon only appears in a bracketed IPv6 address. */
		if (!isalnum(c) && c != '.' && c != '-' && c != '_'
		    && !(bracketed && c == ':'))
			return false;
	}
	return true;
}

static bool valid_port(const char *port)
{
	size_t i;

	if (port[0] == '\0')
		return false;
	for (i = 0; port[i] != '\0'; i++) {
		if (!isalnum((unsigned char)port[i]) && port[i] != '-')
			return false;
	}
	return true;
}

/*
 * Parse relayhost in Postfix syntax. Brackets mean "no MX lookup", and
 * a bracketed IPv6 address may carry Postfix's "ipv6:" prefix.
 */
int relayhost_parse(const char *text, struct relayhost *relay,
		    struct strbuf *error)
{
	const char *host = text;
	const char *port = RELAYHOST_DEFAULT_PORT;
	size_t host_len;

	memset(relay, 0, sizeof(*relay));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
			strbuf_printf(error, "invalid relayhost \"%s\": expected "
				      "[host] or [host]:port", text);
			return -1;
		}
		host = text + 1;
		host_len = (size_t)(close - host);
		if (close[1] == ':')
			port = close + 2;
		if (host_len > 5 && strncasecmp(host, "ipv6:", 5) == 0) {
			host += 5;
			host_len -= 5;
		}
		relay->no_mx = true;
	} else {
		const char *colon = strchr(text, ':');

		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			strbuf_printf(error, "invalid relayhost \"%s\": more "
				      "than one ':'; expected host:port, or an "
				      "IPv6 address in brackets as in "
				      "[2001:db8::1]:25", text);
			return -1;
		}
		host_len = colon != NULL ? (size_t)(colon - text)
			: strlen(text);
		if (colon != NULL)
			port = colon + 1;
	}
	relay->host = xstrndup(host, host_len);
	relay->port = xstrdup(port);
	if (!valid_host(relay->host, relay->no_mx)
	    || !valid_port(relay->port)) {
		strbuf_printf(error, "invalid relayhost \"%s\": expected "
			      "[host]:port, [host], host:port or host", text);
		relayhost_free(relay);
		return -1;
	}
	return 0;
}

void relayhost_free(struct relayhost *relay)
{
	free(relay->host);
	free(relay->port);
	relay->host = relay->port = NULL;
}
