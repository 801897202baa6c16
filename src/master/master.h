/*
 * master: declarations shared by the modules of the master program.
 *
 * master.c		start-up, the event loop and shutdown
 * master_config.c	main.cf, master.cf, daemon_directory, service
 *			accounts; reload
 * master_queue.c	queue directories, wakeup FIFOs, pid lock
 * master_socket.c	the receiver socket
 * master_service.c	starting, watching and restarting children
 * master_status.c	the pid/status file
 * master_signal.c	signal flags
 *
 * Times are milliseconds on the monotonic clock (master_now()).
 */
#ifndef TLSRPTD_MASTER_H
#define TLSRPTD_MASTER_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "master_cf.h"

#ifndef TLSRPTD_VERSION
#define TLSRPTD_VERSION "0.1"
#endif

enum service_state {
	SERVICE_STARTING,	/* forked, no "ready" yet */
	SERVICE_READY,		/* sent "ready" */
	SERVICE_STOPPING,	/* sent SIGTERM, waiting for the exit */
	SERVICE_WAITING,	/* no process; restart after a delay */
	SERVICE_THROTTLED,	/* no process; failed at start */
};

/* One master.cf service and the process that runs it. */
struct service {
	struct master_cf_entry entry;	/* owned copy */
	struct master_cf_entry *pending;	/* new entry after a reload,
						 * applied at the next start */
	bool removed;		/* gone from master.cf: delete once stopped */
	char *program;		/* daemon_directory/command at the last start */
	pid_t pid;		/* 0 when no process runs */
	enum service_state state;
	int status_fd;		/* read end of the status pipe, or -1 */
	char status_buf[PIPE_BUF];	/* partial line from the pipe */
	size_t status_len;
	bool status_overflow;	/* dropping the rest of a too-long line */
	char *last_status;	/* latest "status" text, or NULL */
	unsigned restarts;	/* restarts after unexpected exits */
	long long started_at;
	long long next_start;	/* when waiting or throttled */
	long long next_wakeup;	/* 0: no periodic wakeup */
	long long kill_at;	/* when stopping: SIGKILL after this */
	bool killed;		/* SIGKILL was sent */
	long long backoff;	/* restart delay after the next crash */
};

struct master {
	char *config_dir;	/* absolute */
	char *daemon_dir;
	char *queue_dir;	/* the one in use; changes need a restart */
	char *socket_path;	/* the one in use; changes need a restart */
	char *mail_owner;	/* the one in use; changes need a restart */
	char **worker_config;	/* "name=value" of every parameter that the
				 * workers read, as they started with it */
	size_t worker_config_count;
	struct master_cf table;	/* the master.cf in use */
	char *start_warnings;	/* of the configuration check at start, to
				 * log once the log is open */
	bool foreground;
	bool log_to_stderr;
	bool privileged;	/* running as root: change owners */
	uid_t owner_uid;	/* mail_owner, when privileged */
	gid_t owner_gid;	/* its primary group: the suite's group */

	int socket_fd;
	int pid_fd;

	struct service **services;
	size_t service_count;

	bool stopping;		/* shutting down after SIGTERM or SIGINT */
	long long stop_deadline;	/* give up waiting for children */
	bool status_dirty;
	long long status_written;
};

/* master_signal.c */
extern volatile sig_atomic_t master_sig_stop;	/* the signal number */
extern volatile sig_atomic_t master_sig_reload;
extern volatile sig_atomic_t master_sig_child;

void master_signal_init(sigset_t *wait_mask);
void master_signal_reset_child(void);

/* master.c */
long long master_now(void);

/* master_config.c */
void master_config_load(struct master *master, const char *config_dir);
void master_config_reload(struct master *master);
void master_config_free(struct master *master);
void master_config_log_warnings(struct master *master);
void master_resolve_owner(struct master *master);
void master_open_log(struct master *master);
const char *master_fixed_option(const struct master *master,
				const char *name);

/* master_queue.c */
int master_make_dirs(const char *path, mode_t mode);
void master_queue_create(struct master *master);
void master_fifos_create(struct master *master);
void master_pid_take(struct master *master);
void master_pid_release(struct master *master);

/* master_socket.c */
void master_socket_check(struct master *master);
void master_socket_create(struct master *master);
void master_socket_set_access(struct master *master);
void master_socket_remove(struct master *master);

/* master_service.c */
void master_services_init(struct master *master);
void master_services_update(struct master *master, bool restart_all);
void master_services_run(struct master *master, long long now);
void master_services_reap(struct master *master);
void master_services_read_status(struct master *master,
				 struct service *service);
void master_services_stop_all(struct master *master);
void master_services_free(struct master *master);
size_t master_services_running(const struct master *master);
long long master_services_next_event(const struct master *master,
				     long long now);
const char *master_service_state_name(enum service_state state);

/* master_status.c */
void master_status_changed(struct master *master);
void master_status_flush(struct master *master, long long now);
long long master_status_next_write(const struct master *master);
void master_status_remove(void);

#endif
