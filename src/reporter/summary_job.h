/*
 * summary_job: queue the reports of one day summary file in days/.
 *
 * A final or preview summary is checked whole, then read one (domain,
 * record) group at a time. Each group's report is built and queued as one
 * delivery per destination in outgoing/, and freed before the next group
 * is read. Then the summary file is removed. A summary
 * that cannot be read is moved to corrupt/. A supplement is left where it
 * is for the administrator.
 */
#ifndef TLSRPTD_SUMMARY_JOB_H
#define TLSRPTD_SUMMARY_JOB_H

#include <stddef.h>
#include <time.h>

#include "report.h"

enum summary_outcome {
	SUMMARY_QUEUED,		/* reports queued, file removed */
	SUMMARY_GONE,		/* file vanished before it was read */
	SUMMARY_CORRUPT,	/* moved to corrupt/ */
	SUMMARY_LEFT,		/* left in days/: do not try it again */
	SUMMARY_RETRY,		/* left in days/: try again later */
};

struct summary_job {
	const struct report_identity *identity;
	const char *redirect;		/* delivery_redirect, "" when unset */
	time_t spread;			/* delivery_spread, seconds */
	size_t reports;			/* out: reports built */
	size_t deliveries;		/* out: delivery files written */
};

enum summary_outcome summary_job_run(struct summary_job *job,
				     const char *name);

#endif
