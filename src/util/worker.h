/*
 * worker: the start-up and main-loop skeleton shared by the daemons that
 * the master starts (receiver, aggregator, reporter, mailer).
 *
 * Command line, set by the master from master.cf:
 *
 *	PROGRAM [-c CONFIG_DIR] [-n SERVICE] [-s STATUS_FD] [-l SOCKET_FD]
 *		[-o name=value ...] [-C] [-S] [-v]
 *
 *	-c	configuration directory (default: $TLSRPTD_CONFIG, then the
 *		compiled-in directory)
 *	-n	service name from master.cf, used in log lines and as the
 *		name of the wakeup FIFO private/SERVICE
 *	-s	write end of the status pipe to the master
 *	-l	the receiver's inherited socket
 *	-o	main.cf override for this service
 *	-C	chroot to the queue directory before dropping privileges
 *	-S	log to standard error instead of syslog or maillog_file
 *	-v	verbose logging
 *
 * Start-up happens in two steps so that a program can open what needs
 * privilege between them (the mailer's DKIM key): worker_setup() reads
 * the configuration and opens the log; worker_jail() sets the umask to
 * 027, changes to the queue directory, chroots if asked, drops to
 * mail_owner (setgroups, setgid, setuid) and checks that no root user or
 * group ID remains and that root cannot be regained. mail_owner is the
 * suite's account, or the service's own account when master.cf passes
 * "-o mail_owner=NAME". Only after worker_jail() may a program read a
 * queue file or the socket. Started by an ordinary user, the suite keeps
 * that user's identity.
 *
 * Status lines to the master are single writes of at most PIPE_BUF
 * bytes, so lines from one child never interleave: "ready" once start-up
 * is complete, then "status key=value ..." whenever counters change.
 *
 * Signal handlers only set flags: worker_stop (SIGTERM, SIGINT) and
 * worker_reload (SIGHUP). worker_wait() returns early when one is set.
 */
#ifndef TLSRPTD_WORKER_H
#define TLSRPTD_WORKER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "msg.h"

struct worker {
	const char *program;	/* e.g. "receiver" */
	const char *service;	/* master.cf service name */
	const char *config_dir;
	int status_fd;		/* -1 when not started by the master */
	int socket_fd;		/* the receiver's socket, or -1 */
	int trigger_fd;		/* private/SERVICE, or -1 */
	bool chroot;
	bool log_to_stderr;
};

extern volatile sig_atomic_t worker_stop;
extern volatile sig_atomic_t worker_reload;

const char *default_config_dir(void);
void worker_open_log(bool to_stderr);
void worker_setup(struct worker *worker, int argc, char **argv,
		  const char *program);
void worker_jail(struct worker *worker);
void worker_listen(struct worker *worker);
void worker_ready(struct worker *worker);
void worker_status(struct worker *worker, const char *format, ...)
	MSG_PRINTF(2, 3);
int worker_wait(struct worker *worker, int timeout_ms, char *codes,
		size_t size);
void worker_reload_config(struct worker *worker);

#endif
