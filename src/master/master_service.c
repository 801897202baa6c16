/*
 * master_service: start, watch, stop and restart the children.
 *
 * Each master.cf service runs one process, started as
 *
 *	daemon_directory/COMMAND -c CONFIG_DIR -n SERVICE -s STATUS_FD
 *		[-l SOCKET_FD] [-C] [-S] [-o queue_directory=DIR]
 *		[-o mail_owner=NAME] ARGS...
 *
 * with -l for the dgram service only, -C when the chroot column is y,
 * -S when the master logs to standard error, and the -o options when a
 * reload changed values that only a restart applies (master_config.c). The child inherits the
 * write end of its own status pipe and, if it is the dgram service, the
 * receiver socket; every other descriptor of the master is close-on-exec.
 *
 * Over the pipe the child sends "ready" once and "status TEXT" lines; the
 * master keeps the latest TEXT for pid/status.
 *
 * Restart policy:
 * - a child that exits before "ready" throttles its service: the next
 *   start waits service_throttle_time;
 * - a child that exits later restarts after service_restart_delay; the
 *   delay doubles with each crash, up to service_throttle_time, and drops
 *   back once a child has run for service_throttle_time;
 * - every unexpected exit is logged with program, pid and exit status or
 *   signal.
 *
 * Stopping sends SIGTERM and, after service_stop_timeout, SIGKILL.
 *
 * Reload (master_services_update()): a service whose master.cf entry
 * changed is stopped and started with the new entry, and so is every
 * service when the caller asks for it; the others keep running.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "master.h"
#include "msg.h"
#include "trigger.h"
#include "xalloc.h"

#define MIN_BACKOFF_MS	1000	/* least delay after a repeated crash */

/* Options the master adds in front of the master.cf arguments. */
#define MASTER_ARGS_MAX	15

static long long config_ms(const char *name)
{
	return config_time(name) * 1000;
}

const char *master_service_state_name(enum service_state state)
{
	switch (state) {
	case SERVICE_STARTING:
		return "starting";
	case SERVICE_READY:
		return "ready";
	case SERVICE_STOPPING:
		return "stopping";
	case SERVICE_WAITING:
		return "waiting";
	case SERVICE_THROTTLED:
		return "throttled";
	}
	return "unknown";
}

static struct service *service_new(const struct master_cf_entry *entry,
				   long long now)
{
	struct service *service = xcalloc(1, sizeof(*service));

	master_cf_entry_copy(&service->entry, entry);
	service->status_fd = -1;
	service->state = SERVICE_WAITING;
	service->next_start = now;
	service->backoff = config_ms("service_restart_delay");
	return service;
}

static void service_free(struct service *service)
{
	if (service->status_fd >= 0)
		close(service->status_fd);
	master_cf_entry_free(&service->entry);
	if (service->pending != NULL) {
		master_cf_entry_free(service->pending);
		free(service->pending);
	}
	free(service->program);
	free(service->last_status);
	free(service);
}

static void service_add(struct master *master, struct service *service)
{
	master->services = xreallocarray(master->services,
					 master->service_count + 1,
					 sizeof(*master->services));
	master->services[master->service_count++] = service;
}

static void service_delete(struct master *master, struct service *service)
{
	size_t i;

	for (i = 0; i < master->service_count; i++) {
		if (master->services[i] != service)
			continue;
		memmove(&master->services[i], &master->services[i + 1],
			(master->service_count - i - 1)
			* sizeof(*master->services));
		master->service_count--;
		break;
	}
	service_free(service);
}

static struct service *find_by_name(struct master *master, const char *name)
{
	size_t i;

	for (i = 0; i < master->service_count; i++)
		if (strcmp(master->services[i]->entry.service, name) == 0)
			return master->services[i];
	return NULL;
}

static struct service *find_by_pid(struct master *master, pid_t pid)
{
	size_t i;

	for (i = 0; i < master->service_count; i++)
		if (master->services[i]->pid == pid)
			return master->services[i];
	return NULL;
}

void master_services_init(struct master *master)
{
	long long now = master_now();
	size_t i;

	for (i = 0; i < master->table.count; i++)
		service_add(master, service_new(&master->table.entries[i], now));
	master_status_changed(master);
}

/* Let a descriptor survive exec, in the child only. */
static void keep_open(int fd)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0 || fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) != 0) {
		msg_error("cannot pass descriptor %d to the child: %s", fd,
			  strerror(errno));
		_exit(127);
	}
}

/* In the child: build the command line and exec the program. */
static _Noreturn void child_exec(struct master *master,
				 struct service *service, int status_fd)
{
	const struct master_cf_entry *entry = &service->entry;
	char status_text[16];
	char socket_text[16];
	char **argv = xcalloc(entry->argc + MASTER_ARGS_MAX + 1,
			      sizeof(*argv));
	size_t argc = 0;
	size_t i;

	master_signal_reset_child();
	snprintf(status_text, sizeof(status_text), "%d", status_fd);
	snprintf(socket_text, sizeof(socket_text), "%d", master->socket_fd);
	keep_open(status_fd);

	argv[argc++] = service->program;
	argv[argc++] = "-c";
	argv[argc++] = master->config_dir;
	argv[argc++] = "-n";
	argv[argc++] = entry->service;
	argv[argc++] = "-s";
	argv[argc++] = status_text;
	if (entry->type == MASTER_CF_DGRAM && master->socket_fd >= 0) {
		keep_open(master->socket_fd);
		argv[argc++] = "-l";
		argv[argc++] = socket_text;
	}
	if (entry->chroot)
		argv[argc++] = "-C";
	if (master->log_to_stderr)
		argv[argc++] = "-S";

	/* Values that a reload changed but that only a restart applies;
	 * master.cf's own -o options come later and still win. */
	for (i = 0; i < 2; i++) {
		static const char *const fixed[] = {
			"queue_directory", "mail_owner"
		};
		const char *in_use = master_fixed_option(master, fixed[i]);

		if (in_use == NULL)
			continue;
		argv[argc++] = "-o";
		argv[argc++] = xasprintf("%s=%s", fixed[i], in_use);
	}
	for (i = 1; i < entry->argc; i++)
		argv[argc++] = entry->argv[i];
	argv[argc] = NULL;

	execv(service->program, argv);
	msg_error("cannot execute %s for service %s: %s", service->program,
		  entry->service, strerror(errno));
	_exit(127);
}

/* Wait before trying again when fork() or pipe() failed. */
static void start_failed(struct service *service, long long now,
			 const char *what)
{
	msg_warn("service %s: cannot %s: %s; trying again in %lld seconds",
		 service->entry.service, what, strerror(errno),
		 config_time("service_throttle_time"));
	service->state = SERVICE_THROTTLED;
	service->next_start = now + config_ms("service_throttle_time");
}

static void service_start(struct master *master, struct service *service,
			  long long now)
{
	int fds[2];
	pid_t pid;

	if (service->pending != NULL) {
		master_cf_entry_free(&service->entry);
		service->entry = *service->pending;
		free(service->pending);
		service->pending = NULL;
	}
	free(service->program);
	service->program = xasprintf("%s/%s", master->daemon_dir,
				     service->entry.argv[0]);

	if (pipe2(fds, O_CLOEXEC) != 0) {
		start_failed(service, now, "create a status pipe");
		return;
	}
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		start_failed(service, now, "fork");
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		child_exec(master, service, fds[1]);
	}

	close(fds[1]);
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0)
		msg_warn("service %s: cannot make the status pipe "
			 "non-blocking: %s", service->entry.service,
			 strerror(errno));
	service->pid = pid;
	service->status_fd = fds[0];
	service->status_len = 0;
	service->status_overflow = false;
	service->state = SERVICE_STARTING;
	service->started_at = now;
	service->killed = false;
	service->next_wakeup = service->entry.wakeup > 0
		? now + service->entry.wakeup * 1000LL : 0;
	msg_info("service %s: started %s pid %ld", service->entry.service,
		 service->program, (long)pid);
	master_status_changed(master);
}

static void service_stop(struct master *master, struct service *service,
			 long long now)
{
	if (service->pid == 0 || service->state == SERVICE_STOPPING)
		return;
	if (kill(service->pid, SIGTERM) != 0)
		msg_warn("service %s: cannot send SIGTERM to pid %ld: %s",
			 service->entry.service, (long)service->pid,
			 strerror(errno));
	service->state = SERVICE_STOPPING;
	service->kill_at = now + config_ms("service_stop_timeout");
	master_status_changed(master);
}

void master_services_stop_all(struct master *master)
{
	long long now = master_now();
	size_t i;

	for (i = 0; i < master->service_count; i++)
		service_stop(master, master->services[i], now);
}

/* Copy a status text, replacing control characters. */
static char *printable_copy(const char *text)
{
	char *copy = xstrdup(text);
	char *cursor;

	for (cursor = copy; *cursor != '\0'; cursor++)
		if ((unsigned char)*cursor < 0x20 || *cursor == 0x7f)
			*cursor = '?';
	return copy;
}

static void handle_status_line(struct master *master,
			       struct service *service, const char *line)
{
	static struct msg_rate unexpected = MSG_RATE_INIT(
		"unexpected status line", 10, 60);

	if (strcmp(line, "ready") == 0) {
		if (service->state == SERVICE_STARTING) {
			service->state = SERVICE_READY;
			master_status_changed(master);
		}
		if (msg_verbose)
			msg_info("service %s: pid %ld is ready",
				 service->entry.service, (long)service->pid);
		return;
	}
	if (strncmp(line, "status ", 7) == 0) {
		free(service->last_status);
		service->last_status = printable_copy(line + 7);
		master_status_changed(master);
		return;
	}
	if (msg_rate_allow(&unexpected))
		msg_warn("service %s: unexpected status line \"%s\" from pid "
			 "%ld; expected \"ready\" or \"status ...\"",
			 service->entry.service, line, (long)service->pid);
}

static void close_status(struct service *service)
{
	close(service->status_fd);
	service->status_fd = -1;
}

/* Add bytes from the pipe to the line buffer; handle each full line. */
static void split_status(struct master *master, struct service *service,
			 const char *data, size_t len)
{
	static struct msg_rate too_long = MSG_RATE_INIT(
		"status line too long", 10, 60);
	size_t i;

	for (i = 0; i < len; i++) {
		if (data[i] == '\n') {
			service->status_buf[service->status_len] = '\0';
			if (!service->status_overflow)
				handle_status_line(master, service,
						   service->status_buf);
			service->status_len = 0;
			service->status_overflow = false;
		} else if (service->status_len + 1
			   < sizeof(service->status_buf)) {
			service->status_buf[service->status_len++] = data[i];
		} else if (!service->status_overflow) {
			service->status_overflow = true;
			if (msg_rate_allow(&too_long))
				msg_warn("service %s: status line longer than "
					 "%zu bytes from pid %ld; ignoring it",
					 service->entry.service,
					 sizeof(service->status_buf) - 1,
					 (long)service->pid);
		}
	}
}

/* Read whatever the child has written; close the pipe at end-of-file. */
void master_services_read_status(struct master *master,
				 struct service *service)
{
	char chunk[PIPE_BUF];
	ssize_t got;

	while (service->status_fd >= 0) {
		got = read(service->status_fd, chunk, sizeof(chunk));
		if (got > 0) {
			split_status(master, service, chunk, (size_t)got);
		} else if (got == 0) {
			close_status(service);
		} else if (errno == EAGAIN) {
			return;
		} else if (errno != EINTR) {
			msg_warn("service %s: cannot read the status pipe: %s",
				 service->entry.service, strerror(errno));
			close_status(service);
		}
	}
}

/* Log an exit as Postfix does: program, pid, exit status or signal. */
static void log_exit(const struct service *service, pid_t pid, int wstatus)
{
	if (WIFSIGNALED(wstatus))
		msg_warn("process %s pid %ld killed by signal %d",
			 service->program, (long)pid, WTERMSIG(wstatus));
	else
		msg_warn("process %s pid %ld exit status %d",
			 service->program, (long)pid, WEXITSTATUS(wstatus));
}

/* A child we asked to stop has exited. */
static void service_stopped(struct master *master, struct service *service,
			    pid_t pid, int wstatus, long long now)
{
	bool clean = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) == 0
		: WTERMSIG(wstatus) == SIGTERM;

	if (!clean && !service->killed)
		log_exit(service, pid, wstatus);
	else
		msg_info("service %s: pid %ld stopped", service->entry.service,
			 (long)pid);
	if (service->removed) {
		msg_info("service %s: removed", service->entry.service);
		service_delete(master, service);
		return;
	}

	/* Stopped for a reload: start again at once with the new entry. */
	service->state = SERVICE_WAITING;
	service->next_start = now;
	service->backoff = config_ms("service_restart_delay");
}

/* A child exited on its own: restart it after a delay. */
static void service_crashed(struct service *service, pid_t pid, int wstatus,
			    long long now)
{
	long long throttle = config_ms("service_throttle_time");
	long long delay;

	log_exit(service, pid, wstatus);
	service->restarts++;
	if (service->state == SERVICE_STARTING) {
		msg_warn("%s: bad command startup -- throttling",
			 service->program);
		service->state = SERVICE_THROTTLED;
		service->next_start = now + throttle;
		return;
	}

	/* A child that ran long enough was healthy: forget earlier crashes. */
	if (now - service->started_at >= throttle)
		service->backoff = config_ms("service_restart_delay");
	delay = service->backoff;
	service->backoff = delay * 2 > MIN_BACKOFF_MS ? delay * 2
		: MIN_BACKOFF_MS;
	if (service->backoff > throttle)
		service->backoff = throttle;
	service->state = SERVICE_WAITING;
	service->next_start = now + delay;
	msg_info("service %s: restarting in %lld second%s",
		 service->entry.service, delay / 1000,
		 delay / 1000 == 1 ? "" : "s");
}

static void service_exited(struct master *master, struct service *service,
			   pid_t pid, int wstatus)
{
	long long now = master_now();

	/* Lines still in the pipe may include "ready". */
	master_services_read_status(master, service);
	if (service->status_fd >= 0)
		close_status(service);
	service->pid = 0;
	service->next_wakeup = 0;
	master_status_changed(master);

	if (service->state == SERVICE_STOPPING)
		service_stopped(master, service, pid, wstatus, now);
	else if (master->stopping)
		log_exit(service, pid, wstatus);
	else
		service_crashed(service, pid, wstatus, now);
}

void master_services_reap(struct master *master)
{
	pid_t pid;
	int wstatus;

	master_sig_child = 0;
	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
		struct service *service = find_by_pid(master, pid);

		if (service != NULL)
			service_exited(master, service, pid, wstatus);
		else if (msg_verbose)
			msg_info("reaped pid %ld, which belongs to no service",
				 (long)pid);
	}
}

static void send_wakeup(struct service *service, long long now)
{
	static struct msg_rate failed = MSG_RATE_INIT("wakeup failed", 10,
						      3600);

	service->next_wakeup = now + service->entry.wakeup * 1000LL;
	if (trigger_send(service->entry.service, TRIGGER_WAKEUP) != 0
	    && msg_rate_allow(&failed))
		msg_warn("service %s: cannot send a wakeup to %s/%s: %s",
			 service->entry.service, "private",
			 service->entry.service, strerror(errno));
}

static void kill_stuck(struct service *service)
{
	msg_warn("service %s: pid %ld did not stop within %lld seconds; "
		 "sending SIGKILL", service->entry.service,
		 (long)service->pid, config_time("service_stop_timeout"));
	if (kill(service->pid, SIGKILL) != 0)
		msg_warn("service %s: cannot send SIGKILL to pid %ld: %s",
			 service->entry.service, (long)service->pid,
			 strerror(errno));
	service->killed = true;
}

/* Start what is due, kill what did not stop, send due wakeups. */
void master_services_run(struct master *master, long long now)
{
	size_t i;

	for (i = 0; i < master->service_count; i++) {
		struct service *service = master->services[i];

		if (service->pid == 0) {
			if (!master->stopping && now >= service->next_start)
				service_start(master, service, now);
		} else if (service->state == SERVICE_STOPPING) {
			if (!service->killed && now >= service->kill_at)
				kill_stuck(service);
		} else if (service->next_wakeup > 0
			   && now >= service->next_wakeup) {
			send_wakeup(service, now);
		}
	}
}

/* The earliest time at which master_services_run() has work, or -1. */
long long master_services_next_event(const struct master *master,
				     long long now)
{
	long long next = -1;
	size_t i;

	for (i = 0; i < master->service_count; i++) {
		const struct service *service = master->services[i];
		long long when = -1;

		if (service->pid == 0 && !master->stopping)
			when = service->next_start;
		else if (service->state == SERVICE_STOPPING)
			when = service->killed ? -1 : service->kill_at;
		else if (service->pid != 0 && service->next_wakeup > 0)
			when = service->next_wakeup;
		if (when >= 0 && when < now)
			when = now;
		if (when >= 0 && (next < 0 || when < next))
			next = when;
	}
	return next;
}

void master_services_free(struct master *master)
{
	size_t i;

	for (i = 0; i < master->service_count; i++)
		service_free(master->services[i]);
	free(master->services);
	master->services = NULL;
	master->service_count = 0;
}

size_t master_services_running(const struct master *master)
{
	size_t running = 0;
	size_t i;

	for (i = 0; i < master->service_count; i++)
		if (master->services[i]->pid != 0)
			running++;
	return running;
}

/* Stop a running service so that it starts again with its new entry,
 * or start a stopped one at once. */
static void service_restart(struct master *master, struct service *service,
			    const struct master_cf_entry *entry, long long now)
{
	if (service->pending != NULL)
		master_cf_entry_free(service->pending);
	else
		service->pending = xmalloc(sizeof(*service->pending));
	master_cf_entry_copy(service->pending, entry);
	if (service->pid != 0) {
		service_stop(master, service, now);
	} else {
		service->state = SERVICE_WAITING;
		service->next_start = now;
		service->backoff = config_ms("service_restart_delay");
	}
}

/* Take the new entry of a service that keeps running. */
static void service_keep(struct service *service,
			 const struct master_cf_entry *entry)
{
	if (service->pending != NULL) {
		master_cf_entry_free(service->pending);
		free(service->pending);
		service->pending = NULL;
	}
	master_cf_entry_free(&service->entry);
	master_cf_entry_copy(&service->entry, entry);
}

/*
 * Apply a reloaded master.cf: stop services that it no longer lists, add
 * new ones, and restart those whose entry changed, or all of them with
 * restart_all. A service whose previous restart is still pending (it is
 * stopping or waiting) takes the newest entry when it starts.
 */
void master_services_update(struct master *master, bool restart_all)
{
	long long now = master_now();
	size_t i;

	for (i = master->service_count; i-- > 0;) {
		struct service *service = master->services[i];

		if (master_cf_find(&master->table, service->entry.service))
			continue;
		msg_info("service %s: no longer in master.cf; stopping it",
			 service->entry.service);
		service->removed = true;
		if (service->pid != 0)
			service_stop(master, service, now);
		else
			service_delete(master, service);
	}

	for (i = 0; i < master->table.count; i++) {
		const struct master_cf_entry *entry = &master->table.entries[i];
		struct service *service = find_by_name(master, entry->service);
		const struct master_cf_entry *current;

		if (service == NULL) {
			msg_info("service %s: added", entry->service);
			service_add(master, service_new(entry, now));
			continue;
		}
		service->removed = false;
		current = service->pending != NULL ? service->pending
			: &service->entry;
		if (restart_all) {
			service_restart(master, service, entry, now);
		} else if (!master_cf_entry_equal(current, entry)) {
			msg_info("service %s: changed in master.cf; restarting "
				 "it", entry->service);
			service_restart(master, service, entry, now);
		} else if (service->pending != NULL) {
			/* Restart already under way: leave it alone. */
		} else {
			service_keep(service, entry);
		}
	}
	master_status_changed(master);
}
