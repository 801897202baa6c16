/*
 * net: TCP connections for the mailer's clients, with TLS and every wait
 * bounded.
 *
 * net_connect() resolves a host name or address to its A and AAAA
 * records and tries each address in turn, each within the connect
 * timeout. The socket is non-blocking; net_read() and net_write() wait
 * with poll() and fail with ETIMEDOUT once their deadline passes.
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

long long net_deadline(long long seconds);
long long net_remaining(long long deadline);
int net_connect(const char *host, const char *port, long long timeout,
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
