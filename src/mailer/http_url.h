/*
 * http_url: split an https: destination URI (RFC 3986) into the parts an
 * HTTP client needs.
 *
 * Accepted: "https://" (scheme in any case), a host that is a DNS name,
 * an IPv4 address or an IPv6 address in brackets, an optional ":port"
 * (1 to 65535, default 443), then an optional path and query. A
 * fragment is dropped, as it is never sent. Rejected: any other scheme,
 * userinfo ("user:password@"), which would only leak into logs, a
 * percent-encoded or non-ASCII host, and spaces or control characters
 * anywhere. The request target is sent exactly as written, "/" when
 * the URI has no path.
 *
 * A pure function on memory: no I/O, no configuration, no logging, so a
 * fuzz target can call it directly.
 */
#ifndef TLSRPTD_HTTP_URL_H
#define TLSRPTD_HTTP_URL_H

#include <stdbool.h>

#include "strbuf.h"

#define HTTP_URL_MAX	4096	/* longest accepted URI */
#define HTTP_HOST_MAX	253	/* longest DNS name */

struct http_url {
	char *host;		/* without brackets or a trailing dot */
	bool host_is_ip;	/* an IPv4 or IPv6 address */
	unsigned port;
	char *authority;	/* for the Host field: "[::1]:8443", "a.example" */
	char *target;		/* path and query: "/v1?x=y" */
};

/* Parse uri into url. Returns 0, or -1 with a reason in error. The
 * caller releases url with http_url_free() after success. */
int http_url_parse(const char *uri, struct http_url *url,
		   struct strbuf *error);
void http_url_free(struct http_url *url);

#endif
