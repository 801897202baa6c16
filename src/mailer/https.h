/*
 * https: an HTTP/1.1 client that POSTs one report to an https: URI
 * (RFC 8460 section 5.4).
 *
 * The request: "POST <path and query> HTTP/1.1" with Host, User-Agent,
 * "Content-Type: application/tlsrpt+gzip", Content-Length and
 * "Connection: close", then the gzip'd report. No Content-Encoding
 * field is sent: the gzip is the report's media type, not a transfer
 * coding that a server should undo. TLS 1.2 or later with SNI; with
 * verify set, the certificate chain must lead to a trusted CA and the
 * certificate must name the host (or the address, for an IP literal).
 *
 * The response head is read up to HTTP_HEAD_MAX bytes and parsed by
 * http_response.c. Any 2xx status is success, and the body is not
 * read. Redirects are not followed. Every other status, a timeout, a
 * TLS or network error, and a malformed response are temporary
 * failures, so the report is retried. Two failures are permanent: an
 * invalid URI, and, with reject_internal, a host whose every address
 * is internal (address_class.h). With reject_internal the client
 * connects only to the host's other addresses and logs a warning that
 * names the internal ones it skipped. For an error status up to
 * HTTPS_BODY_EXCERPT bytes of the body are read, for at most
 * HTTPS_EXCERPT_WAIT seconds, and go into the reason.
 *
 * connect_timeout bounds each connection attempt; timeout bounds the
 * whole exchange, from the first connection attempt to the response.
 */
#ifndef TLSRPTD_HTTPS_H
#define TLSRPTD_HTTPS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

#define HTTPS_BODY_EXCERPT	200	/* bytes of an error body kept */
#define HTTPS_EXCERPT_WAIT	2	/* seconds to wait for them */
#define HTTPS_USER_AGENT	"tlsrptd"

struct https_settings {
	const char *queue_id;		/* for log lines; may be NULL */
	SSL_CTX *tls_context;
	bool verify;
	bool reject_internal;		/* https_internal_addresses = reject */
	long long connect_timeout;	/* seconds */
	long long timeout;		/* seconds */
};

enum https_status {
	HTTPS_DELIVERED,
	HTTPS_TEMPORARY,
	HTTPS_PERMANENT,
};

/* POST body to uri. peer receives "host[address]:port", or "none"
 * when no connection was made; reason receives the status line or the
 * error. */
enum https_status https_post(const char *uri,
			     const struct https_settings *settings,
			     const void *body, size_t body_len,
			     struct strbuf *peer, struct strbuf *reason);

#endif
