/*
 * receiver: the daemon that takes TLSRPT datagrams from the MTA.
 *
 * SYNOPSIS
 *	receiver -l SOCKET_FD [-c CONFIG_DIR] [-n SERVICE] [-s STATUS_FD]
 *		[-o name=value ...] [-C] [-S] [-v]
 *
 * DESCRIPTION
 *	The receiver reads the unix datagram socket that the master
 *	creates and passes as -l, and validates every datagram against the
 *	libtlsrpt wire format. Valid ones are appended to batch files that
 *	are committed into incoming/ for the aggregator. Invalid ones are
 *	saved in corrupt/ with the reason. At start, batches that a killed
 *	receiver left unfinished in tmp/ are committed first.
 *
 *	Two threads split the work: the receive loop only reads, validates
 *	and appends, because on Linux the socket queues at most
 *	net.unix.max_dgram_qlen datagrams (default 10) and the MTA's
 *	non-blocking sends fail while the loop stalls. The commit thread
 *	does the fsyncs, links, wakeups and corrupt files.
 *
 *	The counters (received, accepted, rejected by reason, bytes and
 *	more, listed in counters.h) go to the master as a status line at
 *	most once a second. "tlsrptd status" shows the last one.
 *
 *	SIGTERM commits the open batch and exits 0. SIGHUP reloads main.cf
 *	(batch and corrupt parameters; the socket buffer keeps its size and
 *	receiver_authorized_users its list until a restart).
 *
 * SECURITY
 *	This is the only process that reads input from other programs. It
 *	runs as mail_owner, has no network access and never trusts a
 *	datagram's size, nesting or content before datagram_parse() has
 *	checked it. Rejected datagrams are capped in count and bytes, and
 *	their log lines are rate-limited. With receiver_authorized_users
 *	set, only datagrams whose sender uid (SCM_CREDENTIALS) is listed
 *	are read any further; file descriptors passed with SCM_RIGHTS are
 *	closed at once.
 *
 * CONFIGURATION PARAMETERS
 *	receiver_socket_buffer, receiver_batch_interval,
 *	receiver_batch_size, receiver_corrupt_limit,
 *	receiver_corrupt_size_limit, receiver_authorized_users (read at
 *	start only), queue_directory, mail_owner, myhostname.
 *
 * BUGS
 *	An operating-system crash can lose the datagrams of the batch that
 *	was open, because batches are fsync'ed only when they are closed.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authorized_users.h"
#include "committer.h"
#include "config.h"
#include "counters.h"
#include "msg.h"
#include "queue_file.h"
#include "receive_loop.h"
#include "receiver_socket.h"
#include "recovery.h"
#include "utc_time.h"
#include "worker.h"
#include "xalloc.h"

static void tune_socket(int fd)
{
	long long requested = config_size("receiver_socket_buffer");
	int granted = receiver_socket_tune(fd, requested);
	struct strbuf warning;

	strbuf_init(&warning);
	if (receiver_socket_buffer_check(granted, requested, &warning) != 0)
		msg_warn("%s", warning.data);
	strbuf_free(&warning);
	msg_info("starting: socket receive buffer %d bytes, batch interval "
		 "%llds, batch size %lld",
		 granted, config_time("receiver_batch_interval"),
		 config_int("receiver_batch_size"));
}

/* Resolve receiver_authorized_users while the password database is
 * still reachable, before worker_jail() chroots or drops privileges. */
static void resolve_authorized_users(struct receiver_settings *settings)
{
	const char *value = config_str("receiver_authorized_users");
	struct strbuf error;

	strbuf_init(&error);
	if (authorized_users_parse(value, &settings->authorized, &error) != 0)
		msg_fatal("%s", error.data);
	strbuf_free(&error);
	settings->authorized_value = xstrdup(value);
	if (settings->authorized.count > 0)
		msg_info("accepting datagrams only from the %zu users of "
			 "receiver_authorized_users = %s",
			 settings->authorized.count, value);
}

/* Block the stop and reload signals outside ppoll(), so that a signal
 * that arrives between the flag check and the wait is not missed. */
static void block_signals(sigset_t *wait_mask)
{
	sigset_t blocked;

	sigemptyset(&blocked);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGHUP);
	sigprocmask(SIG_BLOCK, &blocked, wait_mask);
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGINT);
	sigdelset(wait_mask, SIGHUP);
}

/* Run until SIGTERM; returns the exit status. */
static int serve(struct receive_loop *loop, struct committer *committer,
		 const sigset_t *wait_mask)
{
	struct pollfd pfd;

	pfd.fd = loop->fd;
	pfd.events = POLLIN;
	while (!worker_stop) {
		int timeout_ms = receive_loop_timeout_ms(loop);
		struct timespec timeout;
		int ready;

		if (worker_reload) {
			worker_reload = 0;
			committer_request_reload(committer);
		}
		timeout.tv_sec = timeout_ms / 1000;
		timeout.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
		ready =
		    ppoll(&pfd, 1, timeout_ms < 0 ? NULL : &timeout, wait_mask);
		if (ready < 0 && errno != EINTR) {
			msg_error("cannot wait for the socket: %s",
				  strerror(errno));
			return 1;
		}
		if (ready > 0 && receive_loop_drain(loop) != 0) {
			msg_error("cannot read the socket: %s",
				  strerror(errno));
			return 1;
		}
		receive_loop_close_if_due(loop);
	}

	/* Take in what was already queued; the next receiver reads the
	 * rest, because the master keeps the socket open. */
	if (receive_loop_drain(loop) != 0)
		msg_warn("cannot read the socket while stopping: %s",
			 strerror(errno));
	return 0;
}

int main(int argc, char **argv)
{
	struct receiver_counters counters;
	struct receiver_settings settings;
	struct receive_loop loop;
	struct committer committer;
	struct open_batch *first_batch;
	struct worker worker;
	char line[COUNTERS_LINE_MAX];
	sigset_t wait_mask;
	int status;

	worker_setup(&worker, argc, argv, "receiver");
	receiver_socket_check(worker.socket_fd);
	tune_socket(worker.socket_fd);
	memset(&settings, 0, sizeof(settings));
	resolve_authorized_users(&settings);
	worker_jail(&worker);
	utc_now(); /* reads TLSRPTD_CLOCK_OFFSET before threads start */

	memset(&counters, 0, sizeof(counters));
	recovery_run(&counters);
	first_batch = open_batch_create();
	if (first_batch == NULL)
		msg_fatal("cannot create a batch file in %s/: %s", QUEUE_TMP,
			  strerror(errno));

	receiver_settings_load(&settings);
	block_signals(&wait_mask);
	committer_start(&committer, &worker, &counters, &settings);
	receive_loop_init(&loop, worker.socket_fd, &committer, &counters,
			  &settings, first_batch);
	worker_ready(&worker);

	status = serve(&loop, &committer, &wait_mask);
	receive_loop_finish(&loop);
	committer_stop(&committer);

	counters_format(&counters, line, sizeof(line));
	worker_status(&worker, "%s", line);
	msg_info("stopping: %s", line);
	authorized_users_free(&settings.authorized);
	free(settings.authorized_value);
	return status;
}
