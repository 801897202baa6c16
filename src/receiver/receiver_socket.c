/*
 * receiver_socket: check the inherited socket, set its receive buffer
 * and turn on credential passing; see receiver_socket.h.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "msg.h"
#include "receiver_socket.h"
#include "strbuf.h"

/* Stop unless fd is a unix datagram socket. */
void receiver_socket_check(int fd)
{
	struct sockaddr_un address;
	socklen_t address_len = sizeof(address);
	socklen_t type_len;
	struct stat st;
	int type;

	if (fd < 0)
		msg_fatal("no socket: the receiver reads the socket that the "
			  "master passes with -l FD; start it through tlsrptd, "
			  "not by hand");
	if (fstat(fd, &st) != 0)
		msg_fatal("-l %d: not an open file descriptor: %s", fd,
			  strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		msg_fatal("-l %d: not a socket", fd);

	type_len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0)
		msg_fatal("-l %d: cannot get the socket type: %s", fd,
			  strerror(errno));
	memset(&address, 0, sizeof(address));
	if (getsockname(fd, (struct sockaddr *)&address, &address_len) != 0)
		msg_fatal("-l %d: cannot get the socket address: %s", fd,
			  strerror(errno));
	if (address.sun_family != AF_UNIX || type != SOCK_DGRAM)
		msg_fatal("-l %d: not a unix datagram socket; check the type "
			  "of the receiver service in master.cf (dgram)",
			  fd);
}

/*
 * Set the receive buffer and SO_PASSCRED. Returns the buffer size the
 * kernel granted for data, comparable with the request, or -1 when it
 * cannot be read. Linux doubles the value it accepts to leave room for
 * its bookkeeping and reports the doubled value, so it is halved here.
 */
int receiver_socket_tune(int fd, long long requested_buffer)
{
	int size = requested_buffer > INT_MAX ? INT_MAX : (int)requested_buffer;
	socklen_t len = sizeof(size);
	int granted = 0;
	int on = 1;

#ifdef SO_RCVBUFFORCE
	if (geteuid() != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, len) != 0)
#endif
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, len) != 0)
			msg_warn("cannot set the socket receive buffer to %d "
				 "bytes: %s",
				 size, strerror(errno));

	len = sizeof(granted);
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &len) != 0)
		granted = -1;
#ifdef __linux__
	else
		granted /= 2;
#endif

	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0)
		msg_warn("cannot enable SO_PASSCRED: %s; rejected datagrams "
			 "will be logged without the sender's uid",
			 strerror(errno));
	return granted;
}

int receiver_socket_buffer_check(int granted, long long requested,
				 struct strbuf *warning)
{
	if (granted < 0 || granted >= requested)
		return 0;
	strbuf_printf(warning, "socket receive buffer is %d bytes, less than "
		      "receiver_socket_buffer = %lld: the kernel caps it at "
		      "net.core.rmem_max unless the receiver starts as root; "
		      "raise the cap (sysctl -w net.core.rmem_max=%lld, and "
		      "the same line in /etc/sysctl.d to keep it) or start "
		      "the suite as root, so that the receiver can use "
		      "SO_RCVBUFFORCE", granted, requested, requested);
	return -1;
}
