/*
 * net: TCP connect, TLS, read and write with timeouts (see net.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "address_class.h"
#include "net.h"
#include "tls.h"

static long long now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

long long net_deadline(long long seconds)
{
	return now_ms() + seconds * 1000;
}

/* Whole seconds left until deadline, at least 1. */
long long net_remaining(long long deadline)
{
	long long left = (deadline - now_ms() + 999) / 1000;

	return left > 0 ? left : 1;
}

/* Wait for events on fd until deadline. Returns 0, or -1 with errno
 * ETIMEDOUT or the poll() error. A signal does not end the wait. */
static int wait_for(int fd, short events, long long deadline)
{
	struct pollfd pfd;

	pfd.fd = fd;
	pfd.events = events;
	for (;;) {
		long long left = deadline - now_ms();
		int ready;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		ready = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (ready > 0)
			return 0;
		if (ready < 0 && errno != EINTR)
			return -1;
	}
}

static void format_address(const struct addrinfo *ai, char *text, size_t size,
			   unsigned *port)
{
	const void *address;

	if (ai->ai_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ai->ai_addr;

		address = &sin6->sin6_addr;
		*port = ntohs(sin6->sin6_port);
	} else {
		const struct sockaddr_in *sin = (const void *)ai->ai_addr;

		address = &sin->sin_addr;
		*port = ntohs(sin->sin_port);
	}
	if (inet_ntop(ai->ai_family, address, text, (socklen_t)size) == NULL)
		snprintf(text, size, "unknown");
}

/* Connect to one address within the timeout. Returns the socket, or -1
 * with errno set. */
static int connect_address(const struct addrinfo *ai, long long timeout)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK
			| SOCK_CLOEXEC, ai->ai_protocol);
	socklen_t len = sizeof(int);
	int error = 0;

	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	if (wait_for(fd, POLLOUT, net_deadline(timeout)) != 0)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0)
		goto fail;
	if (error == 0)
		return fd;
	errno = error;

fail:
	error = errno;
	close(fd);
	errno = error;
	return -1;
}

/* The internal addresses that a filter rejected, for the messages. */
struct rejections {
	unsigned count;
	struct strbuf list;	/* "10.0.0.5 (private), ::1 (loopback)" */
	char first[INET6_ADDRSTRLEN];
	struct address_class first_class;
};

/* Return true when filter rejects the address ai, and note it. */
static bool rejected(const struct net_filter *filter,
		     const struct addrinfo *ai, const char *address,
		     struct rejections *rejections)
{
	struct address_class class;

	if (filter == NULL || !filter->reject_internal
	    || !address_class_internal(ai->ai_addr, &class))
		return false;
	if (rejections->count == 0) {
		snprintf(rejections->first, sizeof(rejections->first), "%s",
			 address);
		rejections->first_class = class;
	} else {
		strbuf_puts(&rejections->list, ", ");
	}
	strbuf_printf(&rejections->list, "%s (", address);
	address_class_describe(&class, &rejections->list);
	strbuf_putc(&rejections->list, ')');
	rejections->count++;
	return true;
}

/* Describe a host whose every address was rejected: "address 127.0.0.1
 * is internal (loopback)", with "of HOST" when host is a name. */
static void describe_all_rejected(const char *host,
				  const struct rejections *rejections,
				  struct strbuf *error)
{
	strbuf_reset(error);
	if (rejections->count > 1) {
		strbuf_printf(error, "every address of %s is internal: %s",
			      host, rejections->list.data);
		return;
	}
	strbuf_printf(error, "address %s", rejections->first);
	if (strcmp(host, rejections->first) != 0)
		strbuf_printf(error, " of %s", host);
	strbuf_puts(error, " is internal (");
	address_class_describe(&rejections->first_class, error);
	strbuf_putc(error, ')');
}

static void describe_skipped(const struct rejections *rejections,
			     struct strbuf *skipped)
{
	strbuf_reset(skipped);
	if (rejections->count > 0)
		strbuf_printf(skipped, "skipped internal address%s %s",
			      rejections->count > 1 ? "es" : "",
			      rejections->list.data);
}

int net_connect(const char *host, const char *port,
		const struct net_filter *filter, long long timeout,
		struct net_conn *conn, struct strbuf *peer,
		struct strbuf *error)
{
	struct addrinfo hints, *list, *ai;
	struct rejections rejections;
	unsigned addresses = 0;
	int status;

	memset(conn, 0, sizeof(*conn));
	conn->fd = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	status = getaddrinfo(host, port, &hints, &list);
	if (status != 0) {
		strbuf_printf(error, "cannot resolve %s port %s: %s", host,
			      port, status == EAI_SYSTEM ? strerror(errno)
			      : gai_strerror(status));
		return -1;
	}

	/* Try every allowed address. The error of the last one is
	 * reported. */
	memset(&rejections, 0, sizeof(rejections));
	strbuf_init(&rejections.list);
	for (ai = list; ai != NULL; ai = ai->ai_next) {
		char address[INET6_ADDRSTRLEN];
		unsigned port_number;

		addresses++;
		format_address(ai, address, sizeof(address), &port_number);
		strbuf_reset(peer);
		strbuf_printf(peer, "%s[%s]:%u", host, address, port_number);
		if (rejected(filter, ai, address, &rejections))
			continue;
		conn->fd = connect_address(ai, timeout);
		if (conn->fd >= 0)
			break;
		strbuf_reset(error);
		strbuf_printf(error, "connect to %s: %s", peer->data,
			      errno == ETIMEDOUT ? "connection timed out"
			      : strerror(errno));
	}
	freeaddrinfo(list);

	status = conn->fd >= 0 ? 0 : -1;
	if (status == 0)
		strbuf_reset(error);
	if (filter != NULL && filter->skipped != NULL)
		describe_skipped(&rejections, filter->skipped);
	if (status != 0 && rejections.count > 0
	    && rejections.count == addresses) {
		describe_all_rejected(host, &rejections, error);
		status = NET_ALL_INTERNAL;
	}
	strbuf_free(&rejections.list);
	return status;
}

/* Keep the text of a TLS failure for net_error_text() and set errno to
 * EPROTO. */
static void keep_tls_error(struct net_conn *conn, const char *fallback)
{
	struct strbuf text;

	strbuf_init(&text);
	tls_error_text(&text, fallback);
	snprintf(conn->tls_error, sizeof(conn->tls_error), "%s", text.data);
	strbuf_free(&text);
	errno = EPROTO;
}

/*
 * Handle the result of an OpenSSL I/O call that returned result <= 0:
 * wait when OpenSSL needs the socket to become ready. Returns 1 to try
 * again, 0 for a clean end of the connection, or -1 with errno set.
 */
static int tls_wait(struct net_conn *conn, int result, long long deadline)
{
	int saved = errno;

	switch (SSL_get_error(conn->ssl, result)) {
	case SSL_ERROR_WANT_READ:
		return wait_for(conn->fd, POLLIN, deadline) == 0 ? 1 : -1;
	case SSL_ERROR_WANT_WRITE:
		return wait_for(conn->fd, POLLOUT, deadline) == 0 ? 1 : -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			ERR_clear_error();
			errno = saved != 0 ? saved : ECONNRESET;
			return -1;
		}
		break;
	default:
		break;
	}
	keep_tls_error(conn, "TLS protocol error");
	return -1;
}

static void set_verification(SSL *ssl, const struct net_tls_options *options)
{
	if (!options->verify) {
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
		return;
	}
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (options->host_is_ip)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
					      options->host);
	else
		SSL_set1_host(ssl, options->host);
}

/* Describe why a handshake failed: the certificate check when that is
 * what failed, else the OpenSSL errors or the system error. */
static void handshake_error(SSL *ssl, struct net_conn *conn, int err,
			    struct strbuf *error)
{
	long verify = SSL_get_verify_result(ssl);

	strbuf_reset(error);
	if (verify != X509_V_OK) {
		ERR_clear_error();
		strbuf_printf(error, "certificate verification failed: %s",
			      X509_verify_cert_error_string(verify));
	} else {
		strbuf_puts(error, net_error_text(conn, err));
	}
}

int net_tls_start(struct net_conn *conn, SSL_CTX *ctx,
		  const struct net_tls_options *options, long long deadline,
		  struct strbuf *error)
{
	SSL *ssl;
	int status;

	ERR_clear_error();
	ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, conn->fd) != 1) {
		strbuf_reset(error);
		strbuf_puts(error, "cannot set up TLS: ");
		tls_error_text(error, "unknown error");
		SSL_free(ssl);
		return -1;
	}

	/* SNI takes host names only, never addresses (RFC 6066). */
	if (!options->host_is_ip)
		SSL_set_tlsext_host_name(ssl, options->host);
	set_verification(ssl, options);

	conn->ssl = ssl;
	do {
		ERR_clear_error();
		errno = 0;
		status = SSL_connect(ssl);
		if (status == 1)
			return 0;
		status = tls_wait(conn, status, deadline);
	} while (status == 1);

	handshake_error(ssl, conn, status == 0 ? ECONNRESET : errno, error);
	conn->ssl = NULL;
	SSL_free(ssl);
	return -1;
}

/* "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)". */
void net_tls_describe(const struct net_conn *conn, struct strbuf *out)
{
	const SSL_CIPHER *cipher;
	int bits, algorithm_bits = 0;

	if (conn->ssl == NULL) {
		strbuf_puts(out, "no TLS");
		return;
	}
	cipher = SSL_get_current_cipher(conn->ssl);
	bits = SSL_CIPHER_get_bits(cipher, &algorithm_bits);
	strbuf_printf(out, "%s with cipher %s (%d/%d bits)",
		      SSL_get_version(conn->ssl), SSL_CIPHER_get_name(cipher),
		      bits, algorithm_bits);
}

static ssize_t tls_read(struct net_conn *conn, void *buf, size_t size,
			long long deadline)
{
	int want = size > INT_MAX ? INT_MAX : (int)size;

	for (;;) {
		int got, status;

		ERR_clear_error();
		errno = 0;
		got = SSL_read(conn->ssl, buf, want);
		if (got > 0)
			return got;
		status = tls_wait(conn, got, deadline);
		if (status <= 0)
			return status;
	}
}

ssize_t net_read(struct net_conn *conn, void *buf, size_t size,
		 long long deadline)
{
	if (conn->ssl != NULL)
		return tls_read(conn, buf, size, deadline);
	for (;;) {
		ssize_t got = read(conn->fd, buf, size);

		if (got >= 0)
			return got;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (wait_for(conn->fd, POLLIN, deadline) != 0)
			return -1;
	}
}

/* Write some of data. Returns the bytes written, 0 when the socket is
 * not ready (after waiting until deadline), or -1 with errno set. */
static ssize_t write_some(struct net_conn *conn, const char *data, size_t len,
			  long long deadline)
{
	if (conn->ssl != NULL) {
		int want = len > INT_MAX ? INT_MAX : (int)len;
		int written, status;

		ERR_clear_error();
		errno = 0;
		written = SSL_write(conn->ssl, data, want);
		if (written > 0)
			return written;
		status = tls_wait(conn, written, deadline);
		if (status == 0)
			errno = EPIPE;
		return status <= 0 ? -1 : 0;
	}
	for (;;) {
		ssize_t written = send(conn->fd, data, len, MSG_NOSIGNAL);

		if (written > 0)
			return written;
		if (written < 0 && errno == EINTR)
			continue;
		if (written < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		return wait_for(conn->fd, POLLOUT, deadline) == 0 ? 0 : -1;
	}
}

/* Write all of data. With per_wait, each wait for the peer to take more
 * gets timeout seconds anew, so a large message over a slow link is not
 * cut short. Without it, all of data must be written before deadline. */
static int write_all(struct net_conn *conn, const void *data, size_t len,
		     long long timeout, long long deadline, bool per_wait)
{
	const char *next = data;

	while (len > 0) {
		ssize_t written = write_some(conn, next, len, per_wait
					     ? net_deadline(timeout)
					     : deadline);

		if (written < 0)
			return -1;
		next += written;
		len -= (size_t)written;
	}
	return 0;
}

int net_write(struct net_conn *conn, const void *data, size_t len,
	      long long timeout)
{
	return write_all(conn, data, len, timeout, 0, true);
}

int net_write_until(struct net_conn *conn, const void *data, size_t len,
		    long long deadline)
{
	return write_all(conn, data, len, 0, deadline, false);
}

/* The text for errno err of a failed call on conn. */
const char *net_error_text(const struct net_conn *conn, int err)
{
	if (err == EPROTO && conn->tls_error[0] != '\0')
		return conn->tls_error;
	if (err == ETIMEDOUT)
		return "timed out";
	return strerror(err);
}

/* Close the connection. A TLS session gets one close_notify attempt,
 * without waiting for the peer's. */
void net_close(struct net_conn *conn)
{
	if (conn->ssl != NULL) {
		ERR_clear_error();
		SSL_shutdown(conn->ssl);
		ERR_clear_error();
		SSL_free(conn->ssl);
		conn->ssl = NULL;
	}
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
}
