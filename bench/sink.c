/*
 * sink: the baseline receiver of the receiver benchmark. It reads a unix
 * datagram socket and discards what it reads, so that a run against it
 * measures what the socket itself allows on the machine.
 *
 * SYNOPSIS
 *	sink -l SOCKET_FD [-b BUFFER_BYTES]
 *
 * DESCRIPTION
 *	Reads datagrams from the inherited socket SOCKET_FD with recvmmsg()
 *	in groups of up to 64, as the receiver does, and only counts them.
 *	-b sets SO_RCVBUF (SO_RCVBUFFORCE when run as root), as the
 *	receiver does with receiver_socket_buffer.
 *
 *	It writes "ready" to standard output once it reads. On SIGTERM or
 *	SIGINT it reads what is still queued and writes
 *
 *	received=N bytes=N
 *
 *	then exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define GROUP 64
#define BUFFER_SIZE 65536

static volatile sig_atomic_t stop;

static void on_signal(int signo)
{
	(void)signo;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: sink -l SOCKET_FD [-b BUFFER_BYTES]\n");
	exit(2);
}

static void catch_signals(void)
{
	struct sigaction action;

	/* No SA_RESTART, so that the signal interrupts recvmmsg(). */
	memset(&action, 0, sizeof(action));
	action.sa_handler = on_signal;
	sigemptyset(&action.sa_mask);
	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGINT, &action, NULL);
}

/* A receive timeout lets the loop see a stop signal that arrived just
 * before it blocked. */
static void set_timeout(int fd)
{
	struct timeval timeout = {0, 100000};

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout,
		       sizeof(timeout)) != 0)
		perror("sink: SO_RCVTIMEO");
}

static void set_buffer(int fd, int size)
{
	if (size <= 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) !=
		0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) != 0)
		perror("sink: SO_RCVBUF");
}

int main(int argc, char **argv)
{
	static struct mmsghdr messages[GROUP];
	static struct iovec vectors[GROUP];
	unsigned long long received = 0;
	unsigned long long bytes = 0;
	char *data;
	int fd = -1;
	int buffer = 0;
	int c;
	int i;

	while ((c = getopt(argc, argv, "l:b:")) != -1) {
		if (c == 'l')
			fd = atoi(optarg);
		else if (c == 'b')
			buffer = atoi(optarg);
		else
			usage();
	}
	if (fd < 0 || optind != argc)
		usage();

	catch_signals();
	set_buffer(fd, buffer);
	set_timeout(fd);
	data = malloc((size_t)GROUP * BUFFER_SIZE);
	if (data == NULL) {
		perror("sink: malloc");
		return 1;
	}
	for (i = 0; i < GROUP; i++) {
		vectors[i].iov_base = data + (size_t)i * BUFFER_SIZE;
		vectors[i].iov_len = BUFFER_SIZE;
		messages[i].msg_hdr.msg_iov = &vectors[i];
		messages[i].msg_hdr.msg_iovlen = 1;
	}
	printf("ready\n");
	fflush(stdout);

	/* Block for the first datagram of a group, then take what is there;
	 * after the stop signal, take what is left without waiting. */
	for (;;) {
		int flags = stop ? MSG_DONTWAIT : MSG_WAITFORONE;
		int count = recvmmsg(fd, messages, GROUP, flags, NULL);

		if (count < 0) {
			if (errno == EAGAIN && stop)
				break;
			if (errno == EINTR || errno == EAGAIN)
				continue;
			perror("sink: recvmmsg");
			return 1;
		}
		received += (unsigned long long)count;
		for (i = 0; i < count; i++)
			bytes += messages[i].msg_len;
	}
	printf("received=%llu bytes=%llu\n", received, bytes);
	free(data);
	return 0;
}
