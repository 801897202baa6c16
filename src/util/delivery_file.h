/*
 * delivery_file: one report for one destination (outgoing/, deferred/,
 * hold/, sent/, failed/).
 *
 *	tlsrptd-delivery 1
 *	report-id: 2026-12-04.example.com.1a2b3c4d@reports.example.net
 *	report-domain: example.com
 *	day: 2026-12-04
 *	destination: mailto:tlsrpt@example.com
 *	rua: mailto:tlsrpt@example.com https://report.example.com/v1
 *	submitter: reports.example.net
 *	filename: reports.example.net!example.com!1796342400!1796428799!1a2b3c4d.json.gz
 *	created: 2026-12-05T00:30:00Z
 *	attempts: 0
 *	first-attempt: -
 *	next-attempt: 2026-12-05T01:12:31Z
 *	last-error: -
 *
 *	H4sIAAAAAAACA+1WS2/bOBC+...	(the gzip'd report, base64)
 *	end 1432
 *
 * The end record counts the decoded payload bytes. The file name is the
 * queue ID and stays the same as the file moves between directories, so
 * the queue tool, the log and the file agree on one ID. "rua" lists every
 * destination of the record, separated by spaces; it differs from
 * "destination" when delivery_redirect sends the report elsewhere. "-"
 * stands for an empty value.
 */
#ifndef TLSRPTD_DELIVERY_FILE_H
#define TLSRPTD_DELIVERY_FILE_H

#include <stddef.h>
#include <time.h>

#include "queue_file.h"
#include "strbuf.h"

#define DELIVERY_KIND		"delivery"
#define DELIVERY_VERSION	1
#define DELIVERY_MAX_FILE	(256 * 1024 * 1024)
#define DELIVERY_MAX_ATTEMPTS	1000000	/* larger "attempts" is invalid */

struct delivery {
	char *report_id;
	char *report_domain;
	char *day;
	char *destination;
	char *rua;		/* all destinations of the record */
	char *submitter;
	char *filename;
	char *created;
	char *last_error;	/* "" when none */
	unsigned attempts;
	time_t first_attempt;	/* 0 before the first attempt */
	time_t next_attempt;
	unsigned char *payload;	/* the gzip'd report */
	size_t payload_len;
};

int delivery_write(const struct delivery *delivery, const char *owner,
		   const char *dir, const char *id, char new_id[QUEUE_ID_LEN + 1]);
int delivery_stage(const struct delivery *delivery, const char *owner,
		   struct queue_batch *batch, char new_id[QUEUE_ID_LEN + 1]);
int delivery_read(const char *path, struct delivery *delivery,
		  struct strbuf *error);
void delivery_free(struct delivery *delivery);

#endif
