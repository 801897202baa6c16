/*
 * net: TCP connections for the mailer's clients, with every wait bounded.
 *
 * net_connect() resolves a host name or address to its A and AAAA
 * records and tries each address in turn, each within the connect
 * timeout. The socket is non-blocking; net_read() and net_write() wait
 * with poll() and fail with ETIMEDOUT once their deadline passes.
 * Deadlines are milliseconds on the monotonic clock, from net_deadline().
 *
 * A "peer" is written the way Postfix logs it: "host[address]:port".
 */
#ifndef TLSRPTD_NET_H
#define TLSRPTD_NET_H

#include <sys/types.h>

#include "strbuf.h"

struct net_conn {
	int fd;
	/* TODO: an OpenSSL SSL object goes here for STARTTLS and HTTPS.
	 * net_read() and net_write() then use SSL_read() and SSL_write(). */
};

long long net_deadline(long long seconds);
int net_connect(const char *host, const char *port, long long timeout,
		struct net_conn *conn, struct strbuf *peer,
		struct strbuf *error);
ssize_t net_read(struct net_conn *conn, void *buf, size_t size,
		 long long deadline);
int net_write(struct net_conn *conn, const void *data, size_t len,
	      long long timeout);
void net_close(struct net_conn *conn);

#endif
