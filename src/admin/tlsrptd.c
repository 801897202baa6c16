/*
 * tlsrptd: the control command of the suite.
 *
 *	tlsrptd [-c CONFIG_DIR] [-v] start | start-fg | stop | reload |
 *		status [--day D] | check [-f] | flush | report ...
 *
 *	start		check the configuration, start the master in the
 *			background, and wait until it holds its lock
 *	start-fg	run the master in the foreground (systemd, tests);
 *			it logs to standard error unless maillog_file is set
 *	stop		send SIGTERM to the master and wait until it is gone
 *	reload		send SIGHUP: re-read main.cf and master.cf
 *	status		whether the master runs, its pid, and pid/status:
 *			each service's pid, state, restarts and counters
 *	status --day D	what day D holds so far, per domain (day_status.c)
 *	check [-f]	verify the configuration, the accounts and the
 *			queue's owners and modes; -f repairs them
 *			(check_command.c)
 *	flush		wake the mailer to retry deferred deliveries now
 *	report ...	build a day's reports now (report_command.c)
 *
 * The configuration directory is -c, else $TLSRPTD_CONFIG, else the
 * compiled-in default. The master program is daemon_directory/master when
 * main.cf sets daemon_directory, else ../libexec/tlsrptd/master relative
 * to this executable, so a build runs from its own tree.
 *
 * Whether a master runs is decided by the lock on pid/master.pid in the
 * queue directory (master_pid.h), not by the pid written in it.
 *
 * Exit status: 0 on success, 1 on failure or when the master is not
 * running (stop, reload, status, flush) or check found errors, 2 for a
 * usage error.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_command.h"
#include "config.h"
#include "day_status.h"
#include "master_cf.h"
#include "master_pid.h"
#include "report.h"
#include "msg.h"
#include "report_command.h"
#include "strbuf.h"
#include "trigger.h"
#include "worker.h"
#include "xalloc.h"

#define START_TIMEOUT_S		10	/* for the master to take its lock */
#define STOP_GRACE_S		10	/* beyond service_stop_timeout */
#define POLL_INTERVAL_NS	50000000L

struct control {
	const char *config_dir;
	int verbose;
};

static void usage(void)
{
	fprintf(stderr, "usage: tlsrptd [-c config_dir] [-v] start | start-fg "
		"| stop | reload | status [--day D] | check [-f] | flush | "
		"report ...\n");
}

static int fail(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Print "tlsrptd: TEXT" on standard error and return 1. */
static int fail(const char *format, ...)
{
	va_list ap;

	fputs("tlsrptd: ", stderr);
	va_start(ap, format);
	vfprintf(stderr, format, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* Load main.cf; with check, also the required parameters and master.cf. */
static int load_config(const struct control *control, bool check)
{
	char *main_cf = xasprintf("%s/main.cf", control->config_dir);
	struct strbuf error;
	struct master_cf table;
	int status = 0;

	if (access(main_cf, R_OK) != 0) {
		status = fail("cannot open %s: %s; use -c DIR or set %s to "
			      "name the configuration directory", main_cf,
			      strerror(errno), CONFIG_DEFAULT_DIR_ENV);
		free(main_cf);
		return status;
	}
	free(main_cf);

	strbuf_init(&error);
	if (config_load(control->config_dir, &error) != 0
	    || (check && (config_check_required(&error) != 0
			  || report_identity_check(&error) != 0))) {
		status = fail("%s", error.data);
	} else if (check) {
		char *path = xasprintf("%s/master.cf", control->config_dir);

		if (master_cf_read(path, &table, &error) != 0)
			status = fail("%s", error.data);
		else
			master_cf_free(&table);
		free(path);
	}
	strbuf_free(&error);
	return status;
}

/* The master program; the caller frees the result. */
static char *master_program(void)
{
	char self[PATH_MAX];
	ssize_t len;

	if (config_str("daemon_directory")[0] != '\0')
		return xasprintf("%s/master", config_str("daemon_directory"));
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		return NULL;
	self[len] = '\0';
	return xasprintf("%s/../libexec/tlsrptd/master", dirname(self));
}

static char *queue_path(const char *name)
{
	return xasprintf("%s/%s", config_str("queue_directory"), name);
}

/* The pid of the running master, 0 if none, -1 after printing an error. */
static pid_t running_master(void)
{
	char *path = queue_path(MASTER_PID_FILE);
	pid_t pid = master_pid_holder(path);

	if (pid < 0)
		fail("cannot check %s: %s", path, strerror(errno));
	free(path);
	return pid;
}

/* Wait until the master lock is held (want_running) or free. */
static pid_t wait_for_master(bool want_running, long long timeout_s)
{
	struct timespec interval = { 0, POLL_INTERVAL_NS };
	long long rounds = timeout_s * (1000000000L / POLL_INTERVAL_NS);
	pid_t pid = running_master();

	while (pid >= 0 && (pid != 0) != want_running && rounds-- > 0) {
		nanosleep(&interval, NULL);
		pid = running_master();
	}
	return pid;
}

/* Tell whether pid has exited, counting a zombie that is not reaped yet. */
static bool process_gone(pid_t pid)
{
	char path[64];
	char text[512];
	FILE *fp;
	char *state;

	if (kill(pid, 0) != 0)
		return errno == ESRCH;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fp = fopen(path, "r");
	if (fp == NULL)
		return false;
	if (fgets(text, sizeof(text), fp) == NULL) {
		fclose(fp);
		return false;
	}
	fclose(fp);

	/* The state letter follows the parenthesised command name. */
	state = strrchr(text, ')');
	return state != NULL && state[1] == ' ' && state[2] == 'Z';
}

/* Build the master's command line: -c DIR, then options. */
static char **master_argv(const struct control *control, char *program,
			  bool foreground, bool to_stderr)
{
	char **argv = xcalloc(8, sizeof(*argv));
	size_t argc = 0;

	argv[argc++] = program;
	argv[argc++] = "-c";
	argv[argc++] = (char *)control->config_dir;
	if (foreground)
		argv[argc++] = "-f";
	if (to_stderr)
		argv[argc++] = "-S";
	if (control->verbose)
		argv[argc++] = "-v";
	argv[argc] = NULL;
	return argv;
}

static int start_command(const struct control *control)
{
	char *program;
	char **argv;
	pid_t child;
	pid_t pid;
	int wstatus;

	if (load_config(control, true) != 0)
		return 1;
	pid = running_master();
	if (pid < 0)
		return 1;
	if (pid > 0)
		return fail("the tlsrptd master is already running (pid %ld)",
			    (long)pid);
	program = master_program();
	if (program == NULL)
		return fail("cannot find this executable (/proc/self/exe): "
			    "%s; set daemon_directory", strerror(errno));

	/* The master forks into the background and exits once it is up. */
	argv = master_argv(control, program, false, false);
	child = fork();
	if (child < 0)
		return fail("cannot fork: %s", strerror(errno));
	if (child == 0) {
		execv(program, argv);
		fail("cannot execute %s: %s", program, strerror(errno));
		_exit(127);
	}
	free(argv);
	while (waitpid(child, &wstatus, 0) < 0 && errno == EINTR)
		continue;
	if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
		fail("the master %s failed to start", program);
		free(program);
		return 1;
	}
	free(program);

	pid = wait_for_master(true, START_TIMEOUT_S);
	if (pid <= 0)
		return pid < 0 ? 1 : fail("the master did not lock %s/%s "
					  "within %d seconds; see the mail log",
					  config_str("queue_directory"),
					  MASTER_PID_FILE, START_TIMEOUT_S);
	printf("tlsrptd: started (pid %ld)\n", (long)pid);
	return 0;
}

static int start_fg_command(const struct control *control)
{
	bool to_stderr;
	char *program;
	char **argv;

	if (load_config(control, false) != 0)
		return 1;
	program = master_program();
	if (program == NULL)
		return fail("cannot find this executable (/proc/self/exe): "
			    "%s; set daemon_directory", strerror(errno));
	to_stderr = config_str("maillog_file")[0] == '\0';
	argv = master_argv(control, program, true, to_stderr);
	fflush(NULL);
	execv(program, argv);
	return fail("cannot execute %s: %s", program, strerror(errno));
}

/* The running master's pid, or 0 after printing "not running". */
static pid_t require_master(void)
{
	pid_t pid = running_master();

	if (pid == 0)
		fail("not running");
	return pid > 0 ? pid : 0;
}

static int stop_command(const struct control *control)
{
	struct timespec interval = { 0, POLL_INTERVAL_NS };
	long long timeout;
	long rounds;
	pid_t pid;

	if (load_config(control, false) != 0)
		return 1;
	pid = require_master();
	if (pid == 0)
		return 1;
	if (kill(pid, SIGTERM) != 0)
		return fail("cannot send SIGTERM to the master (pid %ld): %s",
			    (long)pid, strerror(errno));
	timeout = config_time("service_stop_timeout") + STOP_GRACE_S;
	if (wait_for_master(false, timeout) != 0)
		return fail("the master (pid %ld) did not stop within %lld "
			    "seconds; see the mail log", (long)pid, timeout);

	/* The lock goes just before the process exits. */
	for (rounds = 1000000000L / POLL_INTERVAL_NS;
	     !process_gone(pid) && rounds > 0; rounds--)
		nanosleep(&interval, NULL);
	printf("tlsrptd: stopped\n");
	return 0;
}

static int reload_command(const struct control *control)
{
	pid_t pid;

	if (load_config(control, false) != 0)
		return 1;
	pid = require_master();
	if (pid == 0)
		return 1;
	if (kill(pid, SIGHUP) != 0)
		return fail("cannot send SIGHUP to the master (pid %ld): %s",
			    (long)pid, strerror(errno));
	printf("tlsrptd: reloading the configuration (pid %ld)\n", (long)pid);
	return 0;
}

static int status_command(const struct control *control)
{
	char *path;
	FILE *fp;
	char line[1024];
	pid_t pid;

	if (load_config(control, false) != 0)
		return 1;
	pid = running_master();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		printf("tlsrptd: not running\n");
		return 1;
	}
	printf("tlsrptd: running (pid %ld)\n", (long)pid);

	/* The master writes the file a moment after it starts. */
	path = queue_path(MASTER_STATUS_FILE);
	fp = fopen(path, "r");
	if (fp == NULL) {
		if (errno != ENOENT)
			fail("cannot open %s: %s", path, strerror(errno));
		free(path);
		return 0;
	}
	while (fgets(line, sizeof(line), fp) != NULL)
		fputs(line, stdout);
	fclose(fp);
	free(path);
	return 0;
}

static int flush_command(const struct control *control)
{
	const char *queue_dir;

	if (load_config(control, false) != 0)
		return 1;
	if (require_master() == 0)
		return 1;
	queue_dir = config_str("queue_directory");
	if (chdir(queue_dir) != 0)
		return fail("cannot change to queue_directory %s: %s",
			    queue_dir, strerror(errno));
	if (trigger_send("mailer", TRIGGER_FLUSH) != 0)
		return fail("cannot send the flush trigger to %s/private/"
			    "mailer: %s", queue_dir, strerror(errno));
	return 0;
}

/* status --day D: the day's counters, asked of the aggregator. */
static int day_status(const struct control *control, int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[1], "--day") != 0) {
		usage();
		return 2;
	}
	if (load_config(control, false) != 0)
		return 1;
	return day_status_command(argv[2]);
}

/* Verbs that take arguments of their own. */
static int run_verb_with_arguments(const struct control *control, int argc,
				   char **argv)
{
	if (strcmp(argv[0], "report") == 0) {
		if (load_config(control, false) != 0)
			return 1;
		return report_command(argc, argv);
	}
	if (strcmp(argv[0], "check") == 0) {
		if (load_config(control, false) != 0)
			return 1;
		return check_command(control->config_dir, argc, argv);
	}
	return day_status(control, argc, argv);
}

static int run_verb(const struct control *control, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(const struct control *control);
	} verbs[] = {
		{"start", start_command},
		{"start-fg", start_fg_command},
		{"stop", stop_command},
		{"reload", reload_command},
		{"status", status_command},
		{"flush", flush_command},
	};
	size_t i;

	if (strcmp(argv[0], "report") == 0 || strcmp(argv[0], "check") == 0
	    || (strcmp(argv[0], "status") == 0 && argc > 1))
		return run_verb_with_arguments(control, argc, argv);
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(argv[0], verbs[i].name) != 0)
			continue;
		if (argc > 1) {
			fail("unexpected argument \"%s\" after %s", argv[1],
			     argv[0]);
			usage();
			return 2;
		}
		return verbs[i].run(control);
	}
	fail("unknown command \"%s\"", argv[0]);
	usage();
	return 2;
}

int main(int argc, char **argv)
{
	struct control control = { NULL, 0 };
	int option;

	msg_open("tlsrptd", "");
	while ((option = getopt(argc, argv, "+c:v")) != -1) {
		switch (option) {
		case 'c':
			control.config_dir = optarg;
			break;
		case 'v':
			control.verbose++;
			msg_verbose++;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (optind >= argc) {
		usage();
		return 2;
	}
	if (control.config_dir == NULL)
		control.config_dir = default_config_dir();
	return run_verb(&control, argc - optind, argv + optind);
}
