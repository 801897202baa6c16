/*
 * msg: Postfix-shaped logging to syslog, a file or standard error; see msg.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <syslog.h>
#include <unistd.h>

#include "msg.h"

#define MSG_MAX_TEXT	4000

enum msg_sink { MSG_SINK_STDERR, MSG_SINK_SYSLOG, MSG_SINK_FILE };

int msg_verbose;

static enum msg_sink sink = MSG_SINK_STDERR;
static int file_fd = -1;
static char tag[128] = "tlsrptd";
static const char *program_name = "tlsrptd";

static const struct {
	const char *name;
	int facility;
} facilities[] = {
	{"mail", LOG_MAIL}, {"daemon", LOG_DAEMON}, {"user", LOG_USER},
	{"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},
	{"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
	{"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
	{"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

void msg_open(const char *syslog_name, const char *program)
{
	program_name = program;
	if (program[0] != '\0')
		snprintf(tag, sizeof(tag), "%s/%s", syslog_name, program);
	else
		snprintf(tag, sizeof(tag), "%s", syslog_name);
}

const char *msg_program(void)
{
	return program_name;
}

static void close_sinks(void)
{
	if (file_fd >= 0) {
		close(file_fd);
		file_fd = -1;
	}
	if (sink == MSG_SINK_SYSLOG)
		closelog();
}

void msg_to_stderr(void)
{
	close_sinks();
	sink = MSG_SINK_STDERR;
}

/* Look up a syslog facility by name, without case; -1 when unknown. */
static int facility_code(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcasecmp(name, facilities[i].name) == 0)
			return facilities[i].facility;
	return -1;
}

bool msg_facility_known(const char *name)
{
	return facility_code(name) != -1;
}

void msg_to_syslog(const char *facility)
{
	int code = facility_code(facility);

	close_sinks();
	openlog(tag, LOG_PID | LOG_NDELAY, code != -1 ? code : LOG_MAIL);
	sink = MSG_SINK_SYSLOG;
	if (code == -1)
		msg_warn("unknown syslog_facility \"%s\"; using mail", facility);
}

int msg_to_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0)
		return -1;
	close_sinks();
	file_fd = fd;
	sink = MSG_SINK_FILE;
	return 0;
}

/* Replace control characters so that one message is always one line. */
static void make_printable(char *text)
{
	for (; *text != '\0'; text++) {
		unsigned char c = (unsigned char)*text;

		if (c < 0x20 || c == 0x7f)
			*text = '?';
	}
}

static void write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		data += n;
		len -= (size_t)n;
	}
}

static void emit(int priority, const char *level, const char *format,
		 va_list ap) __attribute__((format(printf, 3, 0)));

static void emit(int priority, const char *level, const char *format,
		 va_list ap)
{
	char text[MSG_MAX_TEXT];
	char line[MSG_MAX_TEXT + 256];
	int saved_errno = errno;
	int len = 0;

	vsnprintf(text, sizeof(text), format, ap);
	make_printable(text);

	if (sink == MSG_SINK_SYSLOG) {
		syslog(priority, "%s%s", level, text);
		errno = saved_errno;
		return;
	}
	if (sink == MSG_SINK_FILE) {
		struct timeval now;
		struct tm tm;
		char host[64] = "localhost";

		gettimeofday(&now, NULL);
		gmtime_r(&now.tv_sec, &tm);
		gethostname(host, sizeof(host) - 1);
		len = snprintf(line, sizeof(line),
			       "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %s ",
			       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			       tm.tm_hour, tm.tm_min, tm.tm_sec,
			       (long)now.tv_usec, host);
	}
	len += snprintf(line + len, sizeof(line) - (size_t)len,
			"%s[%ld]: %s%s\n", tag, (long)getpid(), level, text);
	if ((size_t)len >= sizeof(line)) {
		len = sizeof(line) - 1;
		line[len - 1] = '\n';
	}
	write_all(sink == MSG_SINK_FILE ? file_fd : STDERR_FILENO, line,
		  (size_t)len);
	errno = saved_errno;
}

void msg_info(const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	emit(LOG_INFO, "", format, ap);
	va_end(ap);
}

void msg_warn(const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	emit(LOG_WARNING, "warning: ", format, ap);
	va_end(ap);
}

void msg_error(const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	emit(LOG_ERR, "error: ", format, ap);
	va_end(ap);
}

/* Log each line of text with log, after prefix. */
static void log_lines(void (*log)(const char *format, ...),
		      const char *prefix, const char *text)
{
	while (*text != '\0') {
		size_t len = strcspn(text, "\n");

		log("%s%.*s", prefix, (int)len, text);
		text += len;
		if (*text == '\n')
			text++;
	}
}

void msg_warn_lines(const char *prefix, const char *text)
{
	log_lines(msg_warn, prefix, text);
}

void msg_error_lines(const char *prefix, const char *text)
{
	log_lines(msg_error, prefix, text);
}

void msg_fatal(const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	emit(LOG_CRIT, "fatal: ", format, ap);
	va_end(ap);
	exit(1);
}

void msg_panic(const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	emit(LOG_CRIT, "panic: ", format, ap);
	va_end(ap);
	abort();
}

bool msg_rate_allow(struct msg_rate *rate)
{
	time_t now = time(NULL);

	if (now - rate->window_start >= (time_t)rate->window) {
		if (rate->suppressed > 0)
			msg_warn("%lu more \"%s\" messages suppressed in the "
				 "last %u seconds", rate->suppressed,
				 rate->what, rate->window);
		rate->window_start = now;
		rate->count = 0;
		rate->suppressed = 0;
	}
	if (rate->count >= rate->limit) {
		rate->suppressed++;
		return false;
	}
	rate->count++;
	return true;
}
