/*
 * request_file: write and read aggregator requests; see request_file.h.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "qrec.h"
#include "request_file.h"

int request_write(const struct request *request, const char *owner,
		  char id[QUEUE_ID_LEN + 1])
{
	struct queue_file file;
	char now[UTC_TIME_LEN + 1];

	if (queue_file_create(&file, owner) != 0)
		return -1;

	/* The request may come from root; the aggregator must read it. */
	fchmod(fileno(file.fp), 0644);
	utc_time_format(utc_now(), now);
	qrec_write_version(file.fp, REQUEST_KIND, REQUEST_VERSION);
	qrec_write_field(file.fp, "action", "export");
	qrec_write_field(file.fp, "day", request->day);
	qrec_write_field(file.fp, "target", request->target);
	qrec_write_field(file.fp, "created", now);
	qrec_write_body_start(file.fp);
	qrec_write_end(file.fp, 0);
	snprintf(id, QUEUE_ID_LEN + 1, "%s", file.id);
	if (queue_file_commit(&file, QUEUE_REQUESTS, NULL) != 0) {
		queue_file_abort(&file);
		return -1;
	}
	return 0;
}

int request_read(const char *path, struct request *request,
		 struct strbuf *error)
{
	struct qrec rec;
	const char *action;
	const char *day;
	const char *target;
	time_t start;
	int status = -1;

	memset(request, 0, sizeof(*request));
	if (qrec_read(path, REQUEST_MAX_FILE, REQUEST_KIND, REQUEST_VERSION,
		      &rec, error) != 0)
		goto done;
	action = qrec_get(&rec, "action");
	day = qrec_get(&rec, "day");
	target = qrec_get(&rec, "target");
	if (action == NULL || strcmp(action, "export") != 0) {
		strbuf_puts(error, "missing or unknown action");
		goto done;
	}
	if (day == NULL || utc_day_parse(day, &start) != 0) {
		strbuf_puts(error, "missing or invalid day");
		goto done;
	}
	if (target == NULL || (strcmp(target, REQUEST_TARGET_DAYS) != 0
			       && strcmp(target, REQUEST_TARGET_EXPORT) != 0)) {
		strbuf_puts(error, "missing or invalid target");
		goto done;
	}
	snprintf(request->day, sizeof(request->day), "%s", day);
	snprintf(request->target, sizeof(request->target), "%s", target);
	status = 0;

done:
	qrec_free(&rec);
	return status;
}
