/*
 * delivery_queue: turn one built report into delivery files in outgoing/.
 *
 * One delivery per usable rua destination of the report's TLSRPT record,
 * or exactly one to delivery_redirect when that is set. The IDs of the
 * files written are collected so that a caller can take them back when a
 * later write of the same summary fails. They go to an unlinked scratch
 * file in tmp/, so that memory does not grow with the number of reports.
 */
#ifndef TLSRPTD_DELIVERY_QUEUE_H
#define TLSRPTD_DELIVERY_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "queue_file.h"
#include "report.h"

/* Delivery files written for one summary file, owned by the caller. */
struct queued_deliveries {
	FILE *ids;		/* one queue ID per line */
	size_t count;
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
void delivery_queue_withdraw(struct queued_deliveries *queued);
void delivery_queue_free(struct queued_deliveries *queued);

#endif
