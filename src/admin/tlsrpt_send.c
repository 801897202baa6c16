/*
 * tlsrpt-send: send TLSRPT datagrams to the receiver socket the way
 * libtlsrpt does, for smoke tests and benchmarks.
 *
 * SYNOPSIS
 *	tlsrpt-send [-s SOCKET] [-c CONFIG_DIR] [-n] [-r RATE] [FILE ...]
 *
 * DESCRIPTION
 *	Each line of the files, or of standard input when no file (or "-")
 *	is named, is sent as one datagram. Empty lines are skipped, and a
 *	file that contains one JSON object without a final newline is one
 *	line. The socket is SOCKET, or else receiver_socket from main.cf in
 *	CONFIG_DIR, read in the relaxed mode (config.h): an invalid value
 *	elsewhere in main.cf is a warning. --help or -h prints the usage on
 *	standard output.
 *
 *	Like libtlsrpt, the sender never blocks in send(). When the
 *	receiver's queue is full (EAGAIN), it waits until the socket is
 *	writable and sends again; with -n it counts the datagram as dropped
 *	instead, as an MTA would lose it. -r limits the rate to RATE
 *	datagrams per second.
 *
 * DIAGNOSTICS
 *	The last line on standard error is "tlsrpt-send: sent N datagrams,
 *	M dropped" ("1 datagram" for one). The exit status is 1 if any
 *	datagram was dropped or could not be sent, or if a file could not be
 *	read.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "msg.h"
#include "strbuf.h"
#include "worker.h"
#include "xalloc.h"

#define SEND_MAX_LINE (16 * 1024 * 1024) /* longest line read */
#define SEND_MAX_RATE 10000000LL	 /* datagrams per second */
#define WAIT_NOTICE_MS 10000		 /* say so when blocked this long */

struct sender {
	const char *socket_path;
	int fd;
	bool drop_when_full; /* -n */
	long long rate;	     /* -r, 0 for no limit */
	struct timespec started;
	unsigned long long attempted; /* datagrams paced so far */
	unsigned long long sent;
	unsigned long long dropped;
	unsigned long long failed; /* send errors other than a full queue */
	bool read_error;
};

static _Noreturn void usage(FILE *out, int status)
{
	fprintf(out, "usage: tlsrpt-send [-s socket] [-c config_dir] [-n] "
		     "[-r datagrams_per_second] [file ...]\n");
	exit(status);
}

static const char *datagrams(unsigned long long count)
{
	return count == 1 ? "datagram" : "datagrams";
}

static long long parse_rate(const char *text)
{
	char *end;
	long long rate;

	errno = 0;
	rate = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0' || rate < 1 || rate > SEND_MAX_RATE)
		msg_fatal("invalid rate \"%s\" for -r; give datagrams per "
			  "second from 1 to %lld",
			  text, SEND_MAX_RATE);
	return rate;
}

/* Return receiver_socket from main.cf; the caller owns the copy. */
static char *configured_socket(const char *config_dir)
{
	struct strbuf error;
	struct strbuf warnings;
	const char *line;
	char *path;

	strbuf_init(&error);
	strbuf_init(&warnings);
	if (config_load_relaxed(config_dir, &warnings, &error) != 0)
		msg_fatal("%s; name the configuration directory with -c DIR "
			  "or the socket with -s SOCKET", error.data);
	for (line = warnings.data; *line != '\0';) {
		size_t len = strcspn(line, "\n");

		msg_warn("%.*s", (int)len, line);
		line += len + (line[len] == '\n');
	}
	strbuf_free(&error);
	strbuf_free(&warnings);
	path = xstrdup(config_str("receiver_socket"));
	config_free();
	return path;
}

static const char *connect_advice(int error, bool from_config)
{
	switch (error) {
	case ENOENT:
		return from_config
			   ? "is tlsrptd running? check "
			     "receiver_socket in main.cf, or name the socket "
			     "with -s"
			   : "is tlsrptd running? check the path given with -s";
	case ECONNREFUSED:
		return "nothing reads this socket; is tlsrptd running?";
	case EACCES:
	case EPERM:
		return "run as a member of receiver_socket_group, or check "
		       "receiver_socket_mode";
	case EPROTOTYPE:
		return "this is not a datagram socket; check receiver_socket";
	default:
		return "check receiver_socket";
	}
}

static void open_socket(struct sender *sender, bool from_config)
{
	struct sockaddr_un address;
	size_t len = strlen(sender->socket_path);

	memset(&address, 0, sizeof(address));
	address.sun_family = AF_UNIX;
	if (len >= sizeof(address.sun_path))
		msg_fatal("socket path %s is longer than %zu bytes",
			  sender->socket_path, sizeof(address.sun_path) - 1);
	memcpy(address.sun_path, sender->socket_path, len + 1);

	sender->fd =
	    socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sender->fd < 0)
		msg_fatal("cannot create a unix datagram socket: %s",
			  strerror(errno));

	/* A connected socket lets poll() tell when the receiver's queue has
	 * room again. */
	if (connect(sender->fd, (struct sockaddr *)&address, sizeof(address)) !=
	    0) {
		int saved = errno;

		msg_fatal("cannot connect to socket %s: %s; %s",
			  sender->socket_path, strerror(saved),
			  connect_advice(saved, from_config));
	}
}

/* Sleep until the next datagram is due under -r. */
static void pace(struct sender *sender)
{
	struct timespec due = sender->started;
	long long nanoseconds;

	if (sender->rate == 0)
		return;
	nanoseconds = (long long)(sender->attempted *
				  (1000000000.0 / (double)sender->rate));
	due.tv_sec += nanoseconds / 1000000000LL;
	due.tv_nsec += nanoseconds % 1000000000LL;
	if (due.tv_nsec >= 1000000000L) {
		due.tv_sec++;
		due.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) ==
	       EINTR)
		continue;
}

/* Wait until the receiver's queue has room; false if waiting failed. */
static bool wait_writable(struct sender *sender)
{
	struct pollfd pfd = {.fd = sender->fd, .events = POLLOUT};
	int waited_ms = 0;

	for (;;) {
		int ready = poll(&pfd, 1, 1000);

		if (ready > 0)
			return true;
		if (ready < 0 && errno != EINTR) {
			msg_error("cannot wait for socket %s: %s",
				  sender->socket_path, strerror(errno));
			return false;
		}
		waited_ms += 1000;
		if (waited_ms == WAIT_NOTICE_MS)
			msg_warn("socket %s has been full for %d seconds; is "
				 "the receiver running?",
				 sender->socket_path, WAIT_NOTICE_MS / 1000);
	}
}

static void send_line(struct sender *sender, const char *line, size_t len,
		      const char *file, unsigned long long line_number)
{
	pace(sender);
	sender->attempted++;
	for (;;) {
		if (send(sender->fd, line, len, MSG_NOSIGNAL) >= 0) {
			sender->sent++;
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			break;
		if (sender->drop_when_full) {
			sender->dropped++;
			return;
		}
		if (!wait_writable(sender))
			break;
	}
	sender->failed++;
	if (errno == EMSGSIZE)
		msg_error("%s line %llu: datagram of %zu bytes is larger than "
			  "the socket allows",
			  file, line_number, len);
	else
		msg_error("%s line %llu: cannot send to %s: %s; is tlsrptd "
			  "running?",
			  file, line_number, sender->socket_path,
			  strerror(errno));
}

static void send_stream(struct sender *sender, FILE *fp, const char *name)
{
	unsigned long long line_number = 0;
	char *line = NULL;
	size_t size = 0;
	ssize_t len;

	while ((len = getline(&line, &size, fp)) >= 0) {
		line_number++;
		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len == 0)
			continue;
		if (len > SEND_MAX_LINE) {
			msg_error("%s line %llu: longer than %d bytes; skipped",
				  name, line_number, SEND_MAX_LINE);
			sender->failed++;
			continue;
		}
		send_line(sender, line, (size_t)len, name, line_number);
	}
	if (ferror(fp)) {
		msg_error("cannot read %s: %s", name, strerror(errno));
		sender->read_error = true;
	}
	free(line);
}

static void send_file(struct sender *sender, const char *path)
{
	FILE *fp;

	if (strcmp(path, "-") == 0) {
		send_stream(sender, stdin, "standard input");
		return;
	}
	fp = fopen(path, "r");
	if (fp == NULL) {
		msg_error("cannot open %s: %s", path, strerror(errno));
		sender->read_error = true;
		return;
	}
	send_stream(sender, fp, path);
	fclose(fp);
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct sender sender;
	const char *config_dir = NULL;
	char *configured = NULL;
	int option;
	int i;

	msg_open("tlsrpt-send", "");
	memset(&sender, 0, sizeof(sender));
	sender.fd = -1;
	while ((option = getopt_long(argc, argv, "s:c:nr:h", long_options,
				     NULL)) != -1) {
		switch (option) {
		case 's':
			sender.socket_path = optarg;
			break;
		case 'c':
			config_dir = optarg;
			break;
		case 'n':
			sender.drop_when_full = true;
			break;
		case 'r':
			sender.rate = parse_rate(optarg);
			break;
		case 'h':
			usage(stdout, 0);
		default:
			usage(stderr, 2);
		}
	}
	if (sender.socket_path == NULL) {
		configured = configured_socket(
		    config_dir != NULL ? config_dir : default_config_dir());
		sender.socket_path = configured;
	}
	open_socket(&sender, configured != NULL);

	clock_gettime(CLOCK_MONOTONIC, &sender.started);
	if (optind == argc)
		send_file(&sender, "-");
	for (i = optind; i < argc; i++)
		send_file(&sender, argv[i]);

	fprintf(stderr, "tlsrpt-send: sent %llu %s, %llu dropped\n",
		sender.sent, datagrams(sender.sent), sender.dropped);
	if (sender.failed > 0)
		fprintf(stderr, "tlsrpt-send: %llu %s could not be sent\n",
			sender.failed, datagrams(sender.failed));
	close(sender.fd);
	free(configured);
	return sender.dropped > 0 || sender.failed > 0 || sender.read_error;
}
