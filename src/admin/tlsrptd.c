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
 *	--help, -h	print the usage on standard output
 *
 * start, start-fg and reload refuse a configuration that would stop a
 * worker at its start (config_values.h): they print every problem and
 * leave the suite as it is. stop, status and flush read main.cf in the
 * relaxed mode (config.h), so that a typo in it does not lock the
 * administrator out of a running suite: each invalid value is a warning
 * and that parameter keeps its default for the command.
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
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_command.h"
#include "config.h"
#include "config_values.h"
#include "day_status.h"
#include "master_cf.h"
#include "master_pid.h"
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

/* The ways a command reads the configuration. */
enum load_mode {
	LOAD_RELAXED,	/* invalid values become warnings and defaults */
	LOAD_STRICT,	/* main.cf must load */
	LOAD_CHECKED,	/* and every value and master.cf must be usable */
};

static void usage(FILE *out)
{
	fprintf(out, "usage: tlsrptd [-c config_dir] [-v] start | start-fg | "
		"stop | reload | status | check [-f] | flush\n"
		"       tlsrptd [-c config_dir] status --day "
		"YYYY-MM-DD|today|yesterday\n"
		"       tlsrptd [-c config_dir] report --day "
		"YYYY-MM-DD|today|yesterday [--dry-run DIR]\n");
}

/* Print each line of text on standard error after prefix. */
static void print_lines(const char *prefix, const char *text)
{
	while (*text != '\0') {
		size_t len = strcspn(text, "\n");

		fprintf(stderr, "%s%.*s\n", prefix, (int)len, text);
		text += len;
		if (*text == '\n')
			text++;
	}
}

static int fail(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Print "tlsrptd: TEXT" on standard error, each line of TEXT with that
 * prefix, and return 1. */
static int fail(const char *format, ...)
{
	struct strbuf text;
	va_list ap;

	strbuf_init(&text);
	va_start(ap, format);
	strbuf_vprintf(&text, format, ap);
	va_end(ap);
	print_lines("tlsrptd: ", text.data);
	strbuf_free(&text);
	return 1;
}

/* daemon_directory if set, else ../libexec/tlsrptd relative to this
 * executable; the caller frees the result. NULL when neither is known. */
static char *daemon_directory(void)
{
	char self[PATH_MAX];
	ssize_t len;
	char *dir;
	char *resolved;

	if (config_str("daemon_directory")[0] != '\0')
		return xstrdup(config_str("daemon_directory"));
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		return NULL;
	self[len] = '\0';
	dir = xasprintf("%s/../libexec/tlsrptd", dirname(self));

	/* Messages read better without the "bin/.." detour. */
	resolved = realpath(dir, NULL);
	if (resolved == NULL)
		return dir;
	free(dir);
	return resolved;
}

/* The master program; the caller frees the result. */
static char *master_program(void)
{
	char *dir = daemon_directory();
	char *program;

	if (dir == NULL)
		return NULL;
	program = xasprintf("%s/master", dir);
	free(dir);
	return program;
}

/* Check the values of main.cf and the services of master.cf; print every
 * problem and return 1 when one of them is an error, else 0. */
static int check_values(const struct control *control)
{
	char *path = xasprintf("%s/master.cf", control->config_dir);
	char *daemon_dir = daemon_directory();
	struct strbuf errors;
	struct strbuf warnings;
	struct master_cf table;
	int status = 0;

	strbuf_init(&errors);
	strbuf_init(&warnings);
	if (config_values_check(CONFIG_VALUES_LOAD_KEYS
				| CONFIG_VALUES_WARN_EXPOSED, &errors,
				&warnings) != 0)
		status = 1;
	if (master_cf_read(path, &table, &errors) != 0) {
		status = 1;
	} else {
		if (daemon_dir != NULL
		    && config_services_check(&table, daemon_dir, &errors,
					     &warnings) != 0)
			status = 1;
		master_cf_free(&table);
	}
	print_lines("tlsrptd: warning: ", warnings.data);
	print_lines("tlsrptd: error: ", errors.data);
	strbuf_free(&errors);
	strbuf_free(&warnings);
	free(daemon_dir);
	free(path);
	return status;
}

/* Return 0 when main.cf can be read, else print why not and return 1. */
static int check_main_cf_readable(const struct control *control)
{
	char *main_cf = xasprintf("%s/main.cf", control->config_dir);
	int status = 0;

	if (access(main_cf, R_OK) != 0)
		status = fail("cannot open %s: %s; use -c DIR or set %s to "
			      "name the configuration directory", main_cf,
			      strerror(errno), CONFIG_DEFAULT_DIR_ENV);
	free(main_cf);
	return status;
}

/* Load main.cf in the given mode; LOAD_CHECKED also checks master.cf. */
static int load_config(const struct control *control, enum load_mode mode)
{
	struct strbuf error;
	struct strbuf warnings;
	int status = 0;
	int loaded;

	if (check_main_cf_readable(control) != 0)
		return 1;

	strbuf_init(&error);
	strbuf_init(&warnings);
	if (mode == LOAD_RELAXED) {
		if (config_load_relaxed(control->config_dir, &warnings,
					&error) != 0)
			status = fail("%s", error.data);
		print_lines("tlsrptd: warning: ", warnings.data);
	} else if (mode == LOAD_CHECKED) {
		/* Every problem of main.cf, then those of its values. */
		loaded = config_load_with_defaults(control->config_dir,
						   &error);
		print_lines("tlsrptd: error: ", error.data);
		if (loaded >= 0 && check_values(control) != 0)
			status = 1;
		if (loaded != 0)
			status = 1;
	} else if (config_load(control->config_dir, &error) != 0) {
		print_lines("tlsrptd: error: ", error.data);
		status = 1;
	}
	strbuf_free(&error);
	strbuf_free(&warnings);
	return status;
}

static char *queue_path(const char *name)
{
	return xasprintf("%s/%s", config_str("queue_directory"), name);
}

/* Print why the pid file cannot be checked, naming queue_directory
 * when that is the problem. */
static void pid_file_error(const char *path, int error)
{
	const char *queue_dir = config_str("queue_directory");
	struct stat st;

	if (error == ENOTDIR && stat(queue_dir, &st) == 0
	    && !S_ISDIR(st.st_mode))
		fail("queue_directory %s is not a directory; set "
		     "queue_directory in %s/main.cf to the queue's directory",
		     queue_dir, config_directory());
	else
		fail("cannot check %s: %s", path, strerror(error));
}

/* The pid of the running master, 0 if none, -1 after printing an error. */
static pid_t running_master(void)
{
	char *path = queue_path(MASTER_PID_FILE);
	pid_t pid = master_pid_holder(path);

	if (pid < 0)
		pid_file_error(path, errno);
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

	if (load_config(control, LOAD_CHECKED) != 0)
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

	if (load_config(control, LOAD_CHECKED) != 0)
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

	if (load_config(control, LOAD_RELAXED) != 0)
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

	/* Reject here what the master would reject, so that the reason
	 * appears on the terminal and not only in the mail log. */
	if (load_config(control, LOAD_CHECKED) != 0)
		return fail("not reloading: the master keeps the "
			    "configuration in use");
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

	if (load_config(control, LOAD_RELAXED) != 0)
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

/* Check that the mailer reads its wakeup FIFO; print why not. */
static int mailer_listens(const char *queue_dir)
{
	int fd = open("private/mailer", O_WRONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == ENOENT)
		return fail("the mailer's wakeup FIFO %s/private/mailer does "
			    "not exist; is there a mailer service in %s/"
			    "master.cf?", queue_dir, config_directory());
	if (errno == ENXIO)
		return fail("the mailer is not running (see \"tlsrptd "
			    "status\"); it retries deferred deliveries when it "
			    "starts");
	return fail("cannot open %s/private/mailer: %s", queue_dir,
		    strerror(errno));
}

static int flush_command(const struct control *control)
{
	const char *queue_dir;

	if (load_config(control, LOAD_RELAXED) != 0)
		return 1;
	if (require_master() == 0)
		return 1;
	queue_dir = config_str("queue_directory");
	if (chdir(queue_dir) != 0)
		return fail("cannot change to queue_directory %s: %s",
			    queue_dir, strerror(errno));
	if (mailer_listens(queue_dir) != 0)
		return 1;
	if (trigger_send("mailer", TRIGGER_FLUSH) != 0)
		return fail("cannot send the flush trigger to %s/private/"
			    "mailer: %s", queue_dir, strerror(errno));
	printf("tlsrptd: mailer asked to retry every deferred delivery now\n");
	return 0;
}

/* status --day D: the day's counters, asked of the aggregator. */
static int day_status(const struct control *control, int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[1], "--day") != 0) {
		usage(stderr);
		return 2;
	}
	if (load_config(control, LOAD_RELAXED) != 0)
		return 1;
	return day_status_command(argv[2]);
}

/* Verbs that take arguments of their own. */
static int run_verb_with_arguments(const struct control *control, int argc,
				   char **argv)
{
	char *daemon_dir;
	int status;

	if (strcmp(argv[0], "report") == 0) {
		if (load_config(control, LOAD_STRICT) != 0)
			return 1;
		return report_command(argc, argv);
	}
	if (strcmp(argv[0], "check") == 0) {
		struct strbuf errors;

		/* The check reports and counts the problems of main.cf and
		 * checks the rest with defaults in place of invalid values. */
		if (check_main_cf_readable(control) != 0)
			return 1;
		strbuf_init(&errors);
		if (config_load_with_defaults(control->config_dir,
					      &errors) < 0) {
			print_lines("tlsrptd: error: ", errors.data);
			strbuf_free(&errors);
			return 1;
		}
		daemon_dir = daemon_directory();
		status = check_command(control->config_dir, daemon_dir,
				       errors.data, argc, argv);
		free(daemon_dir);
		strbuf_free(&errors);
		return status;
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
			usage(stderr);
			return 2;
		}
		return verbs[i].run(control);
	}
	fail("unknown command \"%s\"", argv[0]);
	usage(stderr);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct control control = { NULL, 0 };
	int option;

	msg_open("tlsrptd", "");
	while ((option = getopt_long(argc, argv, "+c:vh", long_options,
				     NULL)) != -1) {
		switch (option) {
		case 'c':
			control.config_dir = optarg;
			break;
		case 'v':
			control.verbose++;
			msg_verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (control.config_dir == NULL)
		control.config_dir = default_config_dir();
	return run_verb(&control, argc - optind, argv + optind);
}
