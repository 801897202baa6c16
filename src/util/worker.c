/*
 * worker: daemon start-up, privilege drop, status pipe and wakeups; see
 * worker.h.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "strbuf.h"
#include "trigger.h"
#include "worker.h"

#ifndef TLSRPTD_CONFIG_DIR
#define TLSRPTD_CONFIG_DIR "/etc/tlsrptd"
#endif

volatile sig_atomic_t worker_stop;
volatile sig_atomic_t worker_reload;

static void on_stop(int sig)
{
	(void)sig;
	worker_stop = 1;
}

static void on_reload(int sig)
{
	(void)sig;
	worker_reload = 1;
}

static void install_signals(void)
{
	struct sigaction action;

	memset(&action, 0, sizeof(action));
	sigemptyset(&action.sa_mask);

	/* No SA_RESTART: a blocked poll() must return to see the flag. */
	action.sa_handler = on_stop;
	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGINT, &action, NULL);
	action.sa_handler = on_reload;
	sigaction(SIGHUP, &action, NULL);
	action.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &action, NULL);
}

const char *default_config_dir(void)
{
	const char *dir = getenv(CONFIG_DEFAULT_DIR_ENV);

	return dir != NULL && dir[0] != '\0' ? dir : TLSRPTD_CONFIG_DIR;
}

void worker_open_log(bool to_stderr)
{
	const char *file = config_str("maillog_file");

	if (to_stderr) {
		msg_to_stderr();
	} else if (file[0] != '\0') {
		if (msg_to_file(file) != 0)
			msg_fatal("cannot open maillog_file %s: %s", file,
				  strerror(errno));
	} else {
		msg_to_syslog(config_str("syslog_facility"));
	}
}

static int parse_fd(const char *text, const char *option)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0 || *end != '\0' || value < 0 || value > INT_MAX)
		msg_fatal("invalid file descriptor \"%s\" for %s", text,
			  option);
	return (int)value;
}

static void parse_arguments(struct worker *worker, int argc, char **argv)
{
	struct strbuf error;
	int option;

	strbuf_init(&error);
	while ((option = getopt(argc, argv, "c:n:s:l:o:CSv")) != -1) {
		switch (option) {
		case 'c':
			worker->config_dir = optarg;
			break;
		case 'n':
			worker->service = optarg;
			break;
		case 's':
			worker->status_fd = parse_fd(optarg, "-s");
			break;
		case 'l':
			worker->socket_fd = parse_fd(optarg, "-l");
			break;
		case 'o':
			if (config_override(optarg, &error) != 0)
				msg_fatal("%s", error.data);
			break;
		case 'C':
			worker->chroot = true;
			break;
		case 'S':
			worker->log_to_stderr = true;
			break;
		case 'v':
			msg_verbose++;
			break;
		default:
			msg_fatal("usage: %s [-c config_dir] [-n service] "
				  "[-s status_fd] [-l socket_fd] "
				  "[-o name=value] [-C] [-S] [-v]",
				  worker->program);
		}
	}
	if (optind < argc)
		msg_fatal("unexpected argument \"%s\"", argv[optind]);
	strbuf_free(&error);
}

void worker_setup(struct worker *worker, int argc, char **argv,
		  const char *program)
{
	struct strbuf error;

	memset(worker, 0, sizeof(*worker));
	worker->program = program;
	worker->service = program;
	worker->status_fd = -1;
	worker->socket_fd = -1;
	worker->trigger_fd = -1;
	msg_open("tlsrptd", program);
	parse_arguments(worker, argc, argv);
	if (worker->config_dir == NULL)
		worker->config_dir = default_config_dir();
	install_signals();

	strbuf_init(&error);
	if (config_load(worker->config_dir, &error) != 0)
		config_fatal(worker->config_dir, error.data);
	strbuf_free(&error);
	msg_open(config_str("syslog_name"), worker->service);
	worker_open_log(worker->log_to_stderr);
}

/* Fail unless every user and group ID, real, effective and saved, is the
 * account's, and no supplementary group other than its own is left. */
static void check_dropped(const struct passwd *pw)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	gid_t groups[2];
	int count;

	if (getresuid(&ruid, &euid, &suid) != 0
	    || getresgid(&rgid, &egid, &sgid) != 0)
		msg_fatal("cannot read the process IDs: %s", strerror(errno));
	if (ruid != pw->pw_uid || euid != pw->pw_uid || suid != pw->pw_uid
	    || rgid != pw->pw_gid || egid != pw->pw_gid || sgid != pw->pw_gid)
		msg_fatal("still privileged after changing to user %s: uid "
			  "%ld/%ld/%ld gid %ld/%ld/%ld", pw->pw_name,
			  (long)ruid, (long)euid, (long)suid, (long)rgid,
			  (long)egid, (long)sgid);
	count = getgroups(2, groups);
	if (count < 0 || count > 1 || (count == 1 && groups[0] != pw->pw_gid))
		msg_fatal("still privileged after changing to user %s: "
			  "supplementary groups remain", pw->pw_name);

	/* Neither root's user nor its group may come back. */
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0
	    || setegid(0) == 0)
		msg_fatal("still privileged after changing to user %s: root "
			  "can be regained", pw->pw_name);
}

/*
 * Change to mail_owner: the suite's account, or the service's own one
 * when master.cf gives it "-o mail_owner=NAME". Chroot first when asked,
 * because chroot() needs root.
 */
static void drop_privileges(const char *queue_dir, bool use_chroot)
{
	const char *owner = config_str("mail_owner");
	struct passwd *pw = getpwnam(owner);

	if (pw == NULL)
		msg_fatal("mail_owner account \"%s\" not found; create it "
			  "(useradd --system %s) or fix mail_owner in main.cf "
			  "or in the service's -o option in master.cf", owner,
			  owner);
	if (pw->pw_uid == 0 || pw->pw_gid == 0)
		msg_fatal("mail_owner \"%s\" has user or group ID 0; it must "
			  "be an unprivileged account", owner);
	if (use_chroot) {
		if (chroot(queue_dir) != 0 || chdir("/") != 0)
			msg_fatal("cannot chroot to %s: %s", queue_dir,
				  strerror(errno));
	}
	if (setgroups(1, &pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0
	    || setuid(pw->pw_uid) != 0)
		msg_fatal("cannot change to user %s: %s", owner,
			  strerror(errno));
	check_dropped(pw);
	if (msg_verbose)
		msg_info("running as user %s (uid %ld, gid %ld)%s", owner,
			 (long)pw->pw_uid, (long)pw->pw_gid,
			 use_chroot ? " in a chroot" : "");
}

void worker_jail(struct worker *worker)
{
	const char *queue_dir = config_str("queue_directory");

	/* Queue files are shared through the group, never with others. */
	umask(027);
	if (chdir(queue_dir) != 0)
		msg_fatal("cannot change to queue_directory %s: %s", queue_dir,
			  strerror(errno));
	if (geteuid() == 0)
		drop_privileges(queue_dir, worker->chroot);
	else if (worker->chroot)
		msg_warn("not running as root; ignoring the chroot setting");
}

void worker_listen(struct worker *worker)
{
	worker->trigger_fd = trigger_listen(worker->service);
	if (worker->trigger_fd < 0)
		msg_warn("cannot open wakeup FIFO %s/%s: %s; relying on "
			 "periodic scans", "private", worker->service,
			 strerror(errno));
}

static void status_write(struct worker *worker, const char *line, size_t len)
{
	ssize_t written;

	if (worker->status_fd < 0)
		return;
	do {
		written = write(worker->status_fd, line, len);
	} while (written < 0 && errno == EINTR);
	if (written < 0 && errno == EPIPE) {
		close(worker->status_fd);
		worker->status_fd = -1;
	}
}

void worker_ready(struct worker *worker)
{
	status_write(worker, "ready\n", 6);
	if (msg_verbose)
		msg_info("ready");
}

void worker_status(struct worker *worker, const char *format, ...)
{
	char line[PIPE_BUF];
	va_list ap;
	int len;

	len = snprintf(line, sizeof(line), "status ");
	va_start(ap, format);
	len += vsnprintf(line + len, sizeof(line) - (size_t)len - 1, format,
			 ap);
	va_end(ap);
	if ((size_t)len >= sizeof(line) - 1)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	status_write(worker, line, (size_t)len);
}

/*
 * Wait up to timeout_ms for a trigger. Returns the number of distinct
 * trigger codes copied to codes, 0 on timeout, or -1 when a signal flag
 * was raised.
 */
int worker_wait(struct worker *worker, int timeout_ms, char *codes,
		size_t size)
{
	struct pollfd pfd;
	int ready;

	if (size > 0)
		codes[0] = '\0';
	if (worker_stop || worker_reload)
		return -1;
	pfd.fd = worker->trigger_fd;
	pfd.events = POLLIN;
	ready = poll(&pfd, worker->trigger_fd >= 0 ? 1 : 0, timeout_ms);
	if (ready < 0)
		return errno == EINTR ? -1 : 0;
	if (ready == 0)
		return 0;
	return trigger_drain(worker->trigger_fd, codes, size);
}

void worker_reload_config(struct worker *worker)
{
	struct strbuf error;

	worker_reload = 0;
	strbuf_init(&error);
	if (config_load(worker->config_dir, &error) != 0)
		msg_warn_lines("reload failed, keeping the old configuration "
			       "values in use: ", error.data);
	else
		msg_info("configuration reloaded");
	strbuf_free(&error);
}
