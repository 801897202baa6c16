/*
 * delivery_queue: turn one built report into delivery files in outgoing/.
 *
 * One delivery per usable rua destination of the report's TLSRPT record,
 * or exactly one to delivery_redirect when that is set. The IDs of the
 * files written are collected so that a caller can take them back when a
 * later write of the same summary fails. They go to an unlinked scratch
 * file in tmp/, so that memory does not grow with the number of reports.
 *
 * Delivery files are committed in batches of DELIVERY_QUEUE_BATCH
 * (queue_batch in queue_file.h): each file is staged in tmp/, and a
 * batch is fsync'ed and linked into outgoing/ together, with one fsync
 * of the directory. A file counts as queued, and is logged, once its
 * batch is committed; delivery_queue_flush() commits the last batch.
 */
#ifndef TLSRPTD_DELIVERY_QUEUE_H
#define TLSRPTD_DELIVERY_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "queue_file.h"
#include "report.h"
#include "strbuf.h"

#define DELIVERY_QUEUE_BATCH	256	/* files committed together */

/* Delivery files written for one summary file, owned by the caller. */
struct queued_deliveries {
	FILE *ids;		/* committed files, one queue ID per line */
	size_t count;		/* committed files */
	struct queue_batch staged;	/* written, not yet committed */
	struct strbuf staged_log;	/* their log lines, one per file */
};

/* Settings for queueing the reports of one summary file. */
struct delivery_plan {
	const struct report_identity *identity;
	const char *summary_id;		/* the summary file, for log lines */
	const char *redirect;		/* delivery_redirect, "" when unset */
	bool send_now;			/* preview: no delivery_spread delay */
	time_t spread;			/* delivery_spread, seconds */
	time_t now;
};

bool delivery_redirect_valid(const char *redirect);
int delivery_queue_start(struct queued_deliveries *queued);
int delivery_queue_report(const struct delivery_plan *plan,
			  const struct report *report,
			  struct queued_deliveries *queued);
int delivery_queue_flush(const struct delivery_plan *plan,
			 struct queued_deliveries *queued);
void delivery_queue_withdraw(struct queued_deliveries *queued);
void delivery_queue_free(struct queued_deliveries *queued);

#endif
