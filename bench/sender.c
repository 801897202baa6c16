/*
 * sender: send libtlsrpt-shaped datagrams to a unix datagram socket as
 * fast as possible or at a fixed rate, for the receiver benchmark.
 *
 * SYNOPSIS
 *	sender -s SOCKET [-n COUNT] [-p PROCESSES] [-r RATE] [-N]
 *		[-w SNDBUF]
 *
 * DESCRIPTION
 *	Sends COUNT datagrams in total (default 100000), split evenly over
 *	PROCESSES forked senders (default 1). Each datagram has the shape
 *	that libtlsrpt 0.5 sends for a DANE failure from Postfix, about 420
 *	bytes, with the recipient domain cycling through 1000 names.
 *
 *	Without -N the sends block while the socket queue is full, as with
 *	tlsrpt_set_blocking(). With -N they use MSG_DONTWAIT, as libtlsrpt
 *	does by default: a datagram that finds the queue full is dropped
 *	and counted, never retried.
 *
 *	-w sets SO_SNDBUF on each sender's socket. Linux charges every
 *	queued datagram to its sender's send buffer, so with the default
 *	(net.core.wmem_default, 212992 bytes) one socket can have only
 *	about 160 datagrams of this size queued, whatever
 *	net.unix.max_dgram_qlen allows. libtlsrpt does not set it.
 *
 *	-r paces the senders at RATE datagrams per second in total. Each
 *	process sends its datagram i at start + i * PROCESSES / RATE and
 *	sleeps while it is ahead. A process that falls behind sends at once
 *	until it has caught up.
 *
 *	At the end one line goes to standard output:
 *
 *	sent=N dropped=N failed=N seconds=S rate=R
 *
 *	"sent" counts datagrams the kernel took, "dropped" those refused
 *	with EAGAIN, "failed" those refused for any other reason, "seconds"
 *	the time from the start signal to the last process's end, and
 *	"rate" is sent / seconds.
 *
 *	This program links nothing of tlsrptd, so it measures the receiver
 *	from the outside, the way an MTA sees it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCESSES 64
#define DOMAIN_COUNT 1000
#define DATAGRAM_BUFFER 1024
#define SLEEP_THRESHOLD_NS 20000 /* ahead by less: send now */

struct options {
	const char *socket_path;
	unsigned long count;
	unsigned processes;
	double rate;
	int flags;
	int send_buffer; /* 0: the system default */
};

struct result {
	unsigned long sent;
	unsigned long dropped;
	unsigned long failed;
};

static void usage(void)
{
	fprintf(stderr, "usage: sender -s SOCKET [-n COUNT] [-p PROCESSES] "
			"[-r RATE] [-N] [-w SNDBUF]\n");
	exit(2);
}

static unsigned long parse_number(const char *text, const char *option)
{
	char *end;
	unsigned long value;

	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0') {
		fprintf(stderr, "sender: %s: invalid number \"%s\"\n", option,
			text);
		exit(2);
	}
	return value;
}

static void parse_options(int argc, char **argv, struct options *options)
{
	int c;

	memset(options, 0, sizeof(*options));
	options->count = 100000;
	options->processes = 1;
	while ((c = getopt(argc, argv, "s:n:p:r:Nw:")) != -1) {
		switch (c) {
		case 's':
			options->socket_path = optarg;
			break;
		case 'n':
			options->count = parse_number(optarg, "-n");
			break;
		case 'p':
			options->processes = (unsigned)parse_number(optarg, "-p");
			break;
		case 'r':
			options->rate = (double)parse_number(optarg, "-r");
			break;
		case 'N':
			options->flags = MSG_DONTWAIT;
			break;
		case 'w':
			options->send_buffer =
			    (int)parse_number(optarg, "-w");
			break;
		default:
			usage();
		}
	}
	if (options->socket_path == NULL || optind != argc ||
	    options->processes < 1 || options->processes > MAX_PROCESSES)
		usage();
}

static long long now_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

static void sleep_until(long long deadline_ns)
{
	struct timespec deadline;

	deadline.tv_sec = deadline_ns / 1000000000LL;
	deadline.tv_nsec = deadline_ns % 1000000000LL;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline,
			       NULL) == EINTR)
		;
}

/* Build datagram number i in the shape of a Postfix DANE failure. */
static size_t format_datagram(char *out, size_t size, unsigned long i)
{
	unsigned domain = (unsigned)(i % DOMAIN_COUNT);
	int len = snprintf(
	    out, size,
	    "{\"dpv\": \"1\",\"d\": \"d%03u.example.net\",\"pr\": "
	    "\"v=TLSRPTv1; rua=mailto:tlsrpt@d%03u.example.net\","
	    "\"policies\":[{\"policy-type\":1,\"policy-domain\": "
	    "\"mx.d%03u.example.net\",\"policy-string\":[\"3 1 1 "
	    "5b3f8c0e2a7d4419b6e05f1c9a8d3e72c4b1f0a9e8d7c6b5a4f3e2d1c0b9a8"
	    "f7\"],\"failure-details\":[{\"c\":203,\"s\": \"192.0.2.%lu\","
	    "\"n\": \"mx.d%03u.example.net\",\"h\": \"250-mx.d%03u.example."
	    "net\\r\\n250-PIPELINING\\r\\n250 STARTTLS\",\"r\": "
	    "\"198.51.100.%u\"}],\"t\":1,\"f\":1}]}",
	    domain, domain, domain, i % 250 + 1, domain, domain,
	    domain % 250 + 1);

	return len < 0 ? 0 : (size_t)len;
}

static void send_all(const struct options *options, unsigned index,
		     long long start_ns, struct result *result)
{
	unsigned long count = options->count / options->processes +
			      (index < options->count % options->processes);
	double interval_ns =
	    options->rate > 0 ? 1e9 * options->processes / options->rate : 0;
	struct sockaddr_un address;
	char datagram[DATAGRAM_BUFFER];
	unsigned long i;
	int fd;

	memset(result, 0, sizeof(*result));
	memset(&address, 0, sizeof(address));
	address.sun_family = AF_UNIX;
	snprintf(address.sun_path, sizeof(address.sun_path), "%s",
		 options->socket_path);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("sender: socket");
		exit(1);
	}
	if (options->send_buffer > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &options->send_buffer,
		       sizeof(options->send_buffer)) != 0) {
		perror("sender: SO_SNDBUF");
		exit(1);
	}

	for (i = 0; i < count; i++) {
		size_t len = format_datagram(datagram, sizeof(datagram),
					     i * options->processes + index);
		ssize_t sent;

		if (interval_ns > 0) {
			long long due = start_ns + (long long)(i * interval_ns);

			if (due - now_ns() > SLEEP_THRESHOLD_NS)
				sleep_until(due);
		}
		do {
			sent = sendto(fd, datagram, len, options->flags,
				      (struct sockaddr *)&address,
				      sizeof(address));
		} while (sent < 0 && errno == EINTR);
		if (sent >= 0) {
			result->sent++;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			result->dropped++;
		} else {
			if (result->failed++ == 0)
				fprintf(stderr, "sender: sendto %s: %s\n",
					options->socket_path, strerror(errno));
		}
	}
	close(fd);
}

/* Fork one sender per process; each sleeps until start_ns and writes
 * its result into the result pipe. */
static void run_children(const struct options *options, int result_fd,
			 long long start_ns)
{
	unsigned i;

	for (i = 0; i < options->processes; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("sender: fork");
			exit(1);
		}
		if (pid == 0) {
			struct result result;

			sleep_until(start_ns);
			send_all(options, i, start_ns, &result);
			if (write(result_fd, &result, sizeof(result)) !=
			    (ssize_t)sizeof(result))
				exit(1);
			_exit(0);
		}
	}
}

int main(int argc, char **argv)
{
	struct options options;
	struct result total;
	struct result one;
	long long start_ns;
	long long end_ns;
	int result_pipe[2];
	double seconds;
	unsigned i;

	parse_options(argc, argv, &options);
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	if (pipe(result_pipe) != 0) {
		perror("sender: pipe");
		return 1;
	}

	/* The processes start together, once all of them are forked. */
	start_ns = now_ns() + 50000000LL;
	run_children(&options, result_pipe[1], start_ns);

	memset(&total, 0, sizeof(total));
	for (i = 0; i < options.processes; i++) {
		if (read(result_pipe[0], &one, sizeof(one)) !=
		    (ssize_t)sizeof(one)) {
			fprintf(stderr, "sender: a sender process failed\n");
			return 1;
		}
		total.sent += one.sent;
		total.dropped += one.dropped;
		total.failed += one.failed;
	}
	end_ns = now_ns();
	while (wait(NULL) > 0)
		;

	seconds = (double)(end_ns - start_ns) / 1e9;
	printf("sent=%lu dropped=%lu failed=%lu seconds=%.3f rate=%.0f\n",
	       total.sent, total.dropped, total.failed, seconds,
	       (double)total.sent / seconds);
	return total.failed > 0 ? 1 : 0;
}
