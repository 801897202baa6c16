/*
 * net: TCP connect, read and write with timeouts (see net.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

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

int net_connect(const char *host, const char *port, long long timeout,
		struct net_conn *conn, struct strbuf *peer,
		struct strbuf *error)
{
	struct addrinfo hints, *list, *ai;
	int status;

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

	/* Try every address. The error of the last one is reported. */
	for (ai = list; ai != NULL; ai = ai->ai_next) {
		char address[INET6_ADDRSTRLEN];
		unsigned port_number;

		format_address(ai, address, sizeof(address), &port_number);
		strbuf_reset(peer);
		strbuf_printf(peer, "%s[%s]:%u", host, address, port_number);
		conn->fd = connect_address(ai, timeout);
		if (conn->fd >= 0)
			break;
		strbuf_reset(error);
		strbuf_printf(error, "connect to %s: %s", peer->data,
			      errno == ETIMEDOUT ? "connection timed out"
			      : strerror(errno));
	}
	freeaddrinfo(list);
	if (conn->fd < 0)
		return -1;
	strbuf_reset(error);
	return 0;
}

ssize_t net_read(struct net_conn *conn, void *buf, size_t size,
		 long long deadline)
{
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

/* Write all of data. The timeout limits each wait for the peer to take
 * more, so a large message over a slow link is not cut short. */
int net_write(struct net_conn *conn, const void *data, size_t len,
	      long long timeout)
{
	const char *next = data;

	while (len > 0) {
		ssize_t written = send(conn->fd, next, len, MSG_NOSIGNAL);

		if (written > 0) {
			next += written;
			len -= (size_t)written;
			continue;
		}
		if (written < 0 && errno == EINTR)
			continue;
		if (written < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (wait_for(conn->fd, POLLOUT, net_deadline(timeout)) != 0)
			return -1;
	}
	return 0;
}

void net_close(struct net_conn *conn)
{
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
}
