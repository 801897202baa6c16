/*
 * msg: logging in the shape Postfix administrators grep for.
 *
 * Every line reads "tlsrptd/receiver[1234]: warning: text". Lines go to
 * syslog (facility mail by default), to a file named by maillog_file, or to
 * standard error for programs in the foreground; the sink is chosen once at
 * start and may change when the configuration is reloaded.
 *
 * Levels follow Postfix: info (no prefix), warning, error, fatal (exit 1)
 * and panic (a broken internal invariant: abort, leaving a core). Bad input
 * is never a reason to panic. Control characters in messages are replaced
 * with '?', so a hostile string can never forge a second log line.
 *
 * msg_rate_allow() lets a caller rate-limit a repeating message; the count
 * of suppressed lines is logged when the next window opens.
 */
#ifndef TLSRPTD_MSG_H
#define TLSRPTD_MSG_H

#include <stdarg.h>
#include <stdbool.h>
#include <time.h>

#define MSG_PRINTF(f, a) __attribute__((format(printf, f, a)))

extern int msg_verbose;

void msg_open(const char *syslog_name, const char *program);
const char *msg_program(void);
void msg_to_stderr(void);
void msg_to_syslog(const char *facility);
bool msg_facility_known(const char *name);
int msg_to_file(const char *path);

void msg_info(const char *format, ...) MSG_PRINTF(1, 2);
void msg_warn(const char *format, ...) MSG_PRINTF(1, 2);
void msg_error(const char *format, ...) MSG_PRINTF(1, 2);
_Noreturn void msg_fatal(const char *format, ...) MSG_PRINTF(1, 2);
_Noreturn void msg_panic(const char *format, ...) MSG_PRINTF(1, 2);

/* Log text of several lines, such as the problems of a configuration
 * load, as one warning or error per line, each after prefix. */
void msg_warn_lines(const char *prefix, const char *text);
void msg_error_lines(const char *prefix, const char *text);

/* A rate limit for one kind of repeating message. Zero-initialise it. */
struct msg_rate {
	const char *what;	/* names the message in the summary line */
	unsigned limit;		/* lines allowed per window */
	unsigned window;	/* window length in seconds */
	time_t window_start;
	unsigned long count;	/* lines seen in this window */
	unsigned long suppressed;	/* lines dropped in this window */
};

#define MSG_RATE_INIT(what, limit, window) \
	{ (what), (limit), (window), 0, 0, 0 }

bool msg_rate_allow(struct msg_rate *rate);

#endif
