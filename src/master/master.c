/*
 * master: the tlsrptd supervisor.
 *
 *	master [-c CONFIG_DIR] [-f] [-S] [-v]
 *
 *	-c	configuration directory (default: $TLSRPTD_CONFIG, then the
 *		compiled-in directory)
 *	-f	stay in the foreground; otherwise the master forks, starts a
 *		new session and closes its standard input, output and error
 *	-S	log to standard error, and start the children with -S
 *	-v	verbose logging
 *
 * The master reads main.cf and master.cf, creates the queue directory and
 * its subdirectories, locks pid/master.pid so that no second master runs
 * on the same queue, creates the wakeup FIFOs and the receiver socket,
 * and then starts one process per master.cf service (master_service.c),
 * restarts those that exit, and sends the periodic wakeups of the wakeup
 * column. It never reads datagrams or queue files.
 *
 * In the background the first process waits until the daemon has taken
 * the lock and made the socket, and exits 0 only then; errors up to that
 * point go to standard error, later ones to the configured log.
 *
 * Signals: SIGTERM and SIGINT stop every child (SIGTERM, then SIGKILL
 * after service_stop_timeout), remove the pid file and the socket, and
 * exit 0. SIGHUP reloads main.cf and master.cf (master_config.c).
 *
 * Security: the master runs as root in production so that it can create
 * the socket with its configured owner and give the queue to mail_owner;
 * the workers drop privileges themselves after exec. Started by an
 * ordinary user, everything keeps that user's identity.
 *
 * Parameters: queue_directory, daemon_directory, mail_owner,
 * receiver_socket (+ _owner, _group, _mode), service_restart_delay,
 * service_throttle_time, service_stop_timeout, syslog_name,
 * syslog_facility, maillog_file.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "master.h"
#include "msg.h"
#include "worker.h"
#include "xalloc.h"

/* After SIGKILL, how long to wait for the exits before giving up. */
#define KILL_GRACE_MS	5000

long long master_now(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static _Noreturn void usage(void)
{
	msg_fatal("usage: master [-c config_dir] [-f] [-S] [-v]");
}

/*
 * Fork into the background. The parent waits for one byte on a pipe,
 * which the daemon writes once start-up is complete (detach()), and exits
 * 1 if the pipe closes without it. Returns the pipe's write end.
 */
static int daemonize(void)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0)
		msg_fatal("cannot create a pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		msg_fatal("cannot fork: %s", strerror(errno));
	if (pid > 0) {
		char byte;
		ssize_t got;

		close(fds[1]);
		do {
			got = read(fds[0], &byte, 1);
		} while (got < 0 && errno == EINTR);
		_exit(got == 1 ? 0 : 1);
	}
	close(fds[0]);
	if (setsid() < 0)
		msg_fatal("cannot start a new session: %s", strerror(errno));
	return fds[1];
}

/* Tell the waiting parent that start-up worked, then let go of stdio. */
static void detach(int startup_fd, bool keep_stderr)
{
	int null = open("/dev/null", O_RDWR);

	if (null < 0)
		msg_fatal("cannot open /dev/null: %s", strerror(errno));
	if (write(startup_fd, "S", 1) != 1)
		msg_warn("cannot signal the end of start-up: %s",
			 strerror(errno));
	close(startup_fd);
	dup2(null, STDIN_FILENO);
	dup2(null, STDOUT_FILENO);
	if (!keep_stderr)
		dup2(null, STDERR_FILENO);
	if (null > STDERR_FILENO)
		close(null);
}

static void log_identity(const struct master *master)
{
	struct passwd *pw;

	if (master->privileged)
		return;
	pw = getpwuid(geteuid());
	if (pw != NULL)
		msg_info("running as unprivileged user %s; not changing user "
			 "IDs", pw->pw_name);
	else
		msg_info("running as unprivileged user ID %ld; not changing "
			 "user IDs", (long)geteuid());
}

static void begin_shutdown(struct master *master, long long now)
{
	msg_info("terminating on signal %d", (int)master_sig_stop);
	master->stopping = true;
	master->stop_deadline = now + config_time("service_stop_timeout")
		* 1000 + KILL_GRACE_MS;
	master_services_stop_all(master);
}

/* Wait in ppoll() for status lines, signals or the next timer. */
static void wait_for_events(struct master *master, const sigset_t *wait_mask,
			    long long now)
{
	struct pollfd *fds = xcalloc(master->service_count + 1, sizeof(*fds));
	struct service **owners = xcalloc(master->service_count + 1,
					  sizeof(*owners));
	long long next = master_services_next_event(master, now);
	long long status_next = master_status_next_write(master);
	struct timespec timeout;
	nfds_t count = 0;
	size_t i;

	for (i = 0; i < master->service_count; i++) {
		if (master->services[i]->status_fd < 0)
			continue;
		fds[count].fd = master->services[i]->status_fd;
		fds[count].events = POLLIN;
		owners[count++] = master->services[i];
	}
	if (status_next >= 0 && (next < 0 || status_next < next))
		next = status_next;
	if (master->stopping && (next < 0 || master->stop_deadline < next))
		next = master->stop_deadline;
	if (next >= 0) {
		long long wait_ms = next > now ? next - now : 0;

		timeout.tv_sec = wait_ms / 1000;
		timeout.tv_nsec = (wait_ms % 1000) * 1000000;
	}

	if (ppoll(fds, count, next >= 0 ? &timeout : NULL, wait_mask) > 0) {
		for (i = 0; i < count; i++)
			if (fds[i].revents != 0)
				master_services_read_status(master, owners[i]);
	}
	free(fds);
	free(owners);
}

static void event_loop(struct master *master, const sigset_t *wait_mask)
{
	for (;;) {
		long long now = master_now();

		if (master_sig_stop && !master->stopping)
			begin_shutdown(master, now);
		if (master_sig_reload) {
			master_sig_reload = 0;
			if (!master->stopping)
				master_config_reload(master);
		}

		/* Reap on every pass; SIGCHLD only ends the wait early. */
		master_services_reap(master);
		now = master_now();
		if (master->stopping) {
			size_t running = master_services_running(master);

			if (running == 0)
				return;
			if (now >= master->stop_deadline) {
				msg_warn("%zu processes did not exit after "
					 "SIGKILL; leaving them", running);
				return;
			}
		}
		master_services_run(master, now);
		master_status_flush(master, now);
		wait_for_events(master, wait_mask, now);
	}
}

static void master_free(struct master *master)
{
	master_services_free(master);
	master_config_free(master);
	config_free();
}

static void parse_arguments(struct master *master, int argc, char **argv,
			    const char **config_dir)
{
	int option;

	while ((option = getopt(argc, argv, "c:fSv")) != -1) {
		switch (option) {
		case 'c':
			*config_dir = optarg;
			break;
		case 'f':
			master->foreground = true;
			break;
		case 'S':
			master->log_to_stderr = true;
			break;
		case 'v':
			msg_verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind < argc)
		usage();
}

int main(int argc, char **argv)
{
	struct master master;
	const char *config_dir = NULL;
	sigset_t wait_mask;
	int startup_fd = -1;

	memset(&master, 0, sizeof(master));
	master.socket_fd = -1;
	master.pid_fd = -1;
	msg_open("tlsrptd", "master");
	parse_arguments(&master, argc, argv, &config_dir);
	if (config_dir == NULL)
		config_dir = default_config_dir();
	umask(022);

	/* Errors so far and up to detach() go to standard error. */
	master_config_load(&master, config_dir);
	master_resolve_owner(&master);
	master_socket_check(&master);
	if (!master.foreground)
		startup_fd = daemonize();
	master_signal_init(&wait_mask);
	master_queue_create(&master);
	master_pid_take(&master);
	master_fifos_create(&master);
	master_socket_create(&master);

	master_open_log(&master);
	msg_info("daemon started -- version %s, configuration %s",
		 TLSRPTD_VERSION, master.config_dir);
	log_identity(&master);
	master_config_log_warnings(&master);
	if (!master.foreground)
		detach(startup_fd, master.log_to_stderr);

	master_services_init(&master);
	event_loop(&master, &wait_mask);

	master_status_remove();
	master_socket_remove(&master);
	master_free(&master);

	/* Last: "tlsrptd stop" waits for the lock to go. */
	master_pid_release(&master);
	free(master.queue_dir);
	return 0;
}
