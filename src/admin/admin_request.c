/*
 * admin_request: request files to the aggregator and the wait for their
 * answers; see admin_request.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin_request.h"
#include "config.h"
#include "master_pid.h"
#include "request_file.h"
#include "strbuf.h"
#include "trigger.h"
#include "xalloc.h"

#define ADMIN_REQUEST_POLL_MS 100

/* Accept "YYYY-MM-DD", "today" and "yesterday" (UTC days). */
int admin_request_parse_day(const char *text, char day[UTC_DAY_LEN + 1])
{
	time_t start;

	if (strcmp(text, "today") == 0) {
		utc_day_format(utc_now(), day);
		return 0;
	}
	if (strcmp(text, "yesterday") == 0) {
		utc_day_format(utc_now() - UTC_DAY_SECONDS, day);
		return 0;
	}
	if (utc_day_parse(text, &start) != 0)
		return -1;
	utc_day_format(start, day);
	return 0;
}

/* Change to queue_directory and check that the suite runs. */
int admin_request_enter_queue(void)
{
	const char *queue_dir = config_str("queue_directory");

	if (chdir(queue_dir) != 0) {
		fprintf(stderr,
			"tlsrptd: cannot change to queue_directory %s: %s\n",
			queue_dir, strerror(errno));
		return -1;
	}
	if (master_pid_holder(MASTER_PID_FILE) <= 0) {
		fprintf(stderr,
			"tlsrptd: the suite is not running; start it with "
			"\"tlsrptd start\" (only the aggregator can read the "
			"counters)\n");
		return -1;
	}
	return 0;
}

/* Write a request for a day's summary to target (REQUEST_TARGET_DAYS or
 * REQUEST_TARGET_EXPORT) and wake the aggregator; id receives the
 * request's queue ID, which is also the name of the answer. */
int admin_request_send(const char *day, const char *target,
		       char id[QUEUE_ID_LEN + 1])
{
	struct request request;

	memset(&request, 0, sizeof(request));
	snprintf(request.day, sizeof(request.day), "%s", day);
	snprintf(request.target, sizeof(request.target), "%s", target);
	if (request_write(&request, "admin", id) != 0) {
		fprintf(stderr,
			"tlsrptd: cannot write a request into %s/%s: %s\n",
			config_str("queue_directory"), QUEUE_REQUESTS,
			strerror(errno));
		return -1;
	}
	if (trigger_send("aggregator", TRIGGER_REQUEST) != 0)
		fprintf(stderr,
			"tlsrptd: warning: cannot wake the aggregator (%s); "
			"it will see the request at its next periodic scan\n",
			strerror(errno));
	return 0;
}

/* Poll until path exists (should_exist) or is gone; -1 on a timeout. */
int admin_request_wait(const char *path, bool should_exist, int seconds)
{
	int rounds = seconds * 1000 / ADMIN_REQUEST_POLL_MS;

	while (rounds-- > 0) {
		if ((access(path, F_OK) == 0) == should_exist)
			return 0;
		usleep(ADMIN_REQUEST_POLL_MS * 1000);
	}
	return -1;
}

/* Ask for a day's summary in export/, read it into summary and remove
 * the file; an invalid file stays. The caller frees summary with
 * summary_free() on success. */
int admin_request_fetch(const char *day, struct summary *summary)
{
	char id[QUEUE_ID_LEN + 1];
	struct strbuf error;
	char *path;
	int status = -1;

	if (admin_request_send(day, REQUEST_TARGET_EXPORT, id) != 0)
		return -1;
	path = xasprintf("%s/%s", QUEUE_EXPORT, id);
	strbuf_init(&error);

	/* The aggregator commits the answer with a link, so a file that
	 * exists is complete. */
	if (admin_request_wait(path, true, ADMIN_REQUEST_WAIT_SECONDS) != 0) {
		fprintf(stderr,
			"tlsrptd: the aggregator did not answer request %s "
			"within %d seconds; check the log and \"tlsrptd "
			"status\"\n",
			id, ADMIN_REQUEST_WAIT_SECONDS);
	} else if (summary_read(path, summary, &error) != 0) {
		fprintf(stderr,
			"tlsrptd: invalid summary %s/%s: %s; the file is kept "
			"for inspection\n",
			config_str("queue_directory"), path, error.data);
	} else {
		status = 0;
		if (unlink(path) != 0)
			fprintf(stderr,
				"tlsrptd: warning: cannot remove %s/%s: %s\n",
				config_str("queue_directory"), path,
				strerror(errno));
	}
	free(path);
	strbuf_free(&error);
	return status;
}

int admin_request_empty_reason(const char *day, struct strbuf *reason)
{
	char today[UTC_DAY_LEN + 1];
	char horizon[UTC_DAY_LEN + 1];
	time_t start = utc_day_start(utc_now());
	long long keep_days = config_int("keep_days");

	utc_day_format(start, today);
	utc_day_format(start - (time_t)keep_days * UTC_DAY_SECONDS, horizon);
	if (strcmp(day, today) > 0) {
		strbuf_puts(reason, "a day in the future");
		return 1;
	}
	if (strcmp(day, horizon) < 0) {
		strbuf_printf(reason, "older than keep_days = %lld: expired",
			      keep_days);
		return 1;
	}
	strbuf_puts(reason, "no datagrams counted that day");
	return 0;
}
