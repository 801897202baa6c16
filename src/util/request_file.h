/*
 * request_file: an administrator's request to the aggregator (requests/).
 *
 *	tlsrptd-request 1
 *	action: export
 *	day: 2026-12-04
 *	target: days
 *	created: 2026-12-04T21:00:00Z
 *
 *	end 0
 *
 * Only the aggregator may open the counter database, so commands that
 * need a day's counters ("tlsrptd report") ask it with a request file and
 * a TRIGGER_REQUEST wakeup. The aggregator first counts every batch that
 * waits in incoming/, then writes the day's summary ("preview" while the
 * day is open, "final" once it is closed; an empty summary when nothing
 * was counted) under the request's queue ID, into days/ for the reporter
 * (target "days") or into export/ for the requesting command (target
 * "export"), and finally removes the request.
 */
#ifndef TLSRPTD_REQUEST_FILE_H
#define TLSRPTD_REQUEST_FILE_H

#include "queue_file.h"
#include "strbuf.h"
#include "utc_time.h"

#define REQUEST_KIND		"request"
#define REQUEST_VERSION		1
#define REQUEST_MAX_FILE	4096

#define REQUEST_TARGET_DAYS	"days"
#define REQUEST_TARGET_EXPORT	"export"

struct request {
	char day[UTC_DAY_LEN + 1];
	char target[8];		/* "days" or "export" */
};

int request_write(const struct request *request, const char *owner,
		  char id[QUEUE_ID_LEN + 1]);
int request_read(const char *path, struct request *request,
		 struct strbuf *error);

#endif
