/*
 * net: TCP connections for the mailer's clients, with TLS and every wait
 * bounded.
 *
 * net_connect() resolves a host name or address to its A and AAAA
 * records and tries each address in turn, each within the connect
 * timeout. With a filter that rejects internal addresses
 * (address_class.h), it checks each address right before it would
 * connect to it and skips an internal one. The address checked is the
 * address connected to, so a DNS answer that changes in between cannot
 * slip an internal address through. The socket is non-blocking;
 * net_read() and net_write() wait with poll() and fail with ETIMEDOUT
 * once their deadline passes.
 * Deadlines are milliseconds on the monotonic clock, from net_deadline().
 *
 * net_tls_start() runs the TLS handshake on a connected socket (STARTTLS,
 * HTTPS), and on failure stores the cause in error: "certificate
 * verification failed: ...", the OpenSSL errors, "timed out" or the
 * system error. From then on net_read() and net_write() go through
 * OpenSSL. A
 * TLS failure in either returns -1 with errno EPROTO and keeps the
 * OpenSSL error text for net_error_text().
 *
 * A "peer" is written the way Postfix logs it: "host[address]:port".
 */
#ifndef TLSRPTD_NET_H
#define TLSRPTD_NET_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <sys/types.h>

#include "strbuf.h"

#define NET_ERROR_MAX	300	/* OpenSSL error text kept per connection */

struct net_conn {
	int fd;
	SSL *ssl;		/* NULL until net_tls_start() succeeds */
	char tls_error[NET_ERROR_MAX];
};

/* Server identity and checks for net_tls_start(). */
struct net_tls_options {
	const char *host;	/* name or address the client asked for */
	bool host_is_ip;	/* then no SNI, and the check is by address */
	bool verify;		/* check the chain and that it names host */
};

/* Address filter of net_connect(). */
struct net_filter {
	bool reject_internal;	/* skip the ranges of address_class.h */
	struct strbuf *skipped;	/* receives "skipped internal address
				 * 10.0.0.5 (private)" when some were
				 * skipped, else ""; may be NULL */
};

/* net_connect() result when the filter rejected every address. */
#define NET_ALL_INTERNAL	(-2)

long long net_deadline(long long seconds);
long long net_remaining(long long deadline);

/* Connect to host and port; a NULL filter allows every address.
 * Returns 0 once connected. Returns -1, with the cause in error, when
 * the name does not resolve or no allowed address accepts. Returns
 * NET_ALL_INTERNAL when the filter rejected every address, and error
 * then names the addresses and their ranges. */
int net_connect(const char *host, const char *port,
		const struct net_filter *filter, long long timeout,
		struct net_conn *conn, struct strbuf *peer,
		struct strbuf *error);
int net_tls_start(struct net_conn *conn, SSL_CTX *ctx,
		  const struct net_tls_options *options, long long deadline,
		  struct strbuf *error);
void net_tls_describe(const struct net_conn *conn, struct strbuf *out);
ssize_t net_read(struct net_conn *conn, void *buf, size_t size,
		 long long deadline);
int net_write(struct net_conn *conn, const void *data, size_t len,
	      long long timeout);
int net_write_until(struct net_conn *conn, const void *data, size_t len,
		    long long deadline);
const char *net_error_text(const struct net_conn *conn, int err);
void net_close(struct net_conn *conn);

#endif
