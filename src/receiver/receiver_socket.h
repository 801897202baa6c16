/*
 * receiver_socket: check and tune the datagram socket that the master
 * hands to the receiver.
 *
 * The master creates and binds the socket with the configured owner,
 * group and mode, and the receiver never creates one. A receiver started
 * without -l, or with a descriptor that is not a unix datagram socket,
 * stops with a fatal error. The receive buffer is set from
 * receiver_socket_buffer: with SO_RCVBUFFORCE while the process is root,
 * which may exceed net.core.rmem_max, else with SO_RCVBUF, which the
 * kernel caps at rmem_max. SO_PASSCRED makes the kernel attach the
 * sender's credentials to every datagram.
 *
 * On Linux the buffer size does not lift the queue limit of
 * net.unix.max_dgram_qlen datagrams (default 10); only a receive loop that
 * never stalls does.
 */
#ifndef TLSRPTD_RECEIVER_SOCKET_H
#define TLSRPTD_RECEIVER_SOCKET_H

#include "strbuf.h"

void receiver_socket_check(int fd);
int receiver_socket_tune(int fd, long long requested_buffer);

/* Compare the data size that receiver_socket_tune() returned with the
 * request; returns 0 when it is enough, else -1 with a warning that names
 * the fix. */
int receiver_socket_buffer_check(int granted, long long requested,
				 struct strbuf *warning);

#endif
