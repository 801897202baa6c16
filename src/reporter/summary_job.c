/*
 * summary_job: one day summary file to delivery files; see summary_job.h.
 *
 * The summary file is removed only after every delivery file of it is
 * committed. If a write fails half-way, the deliveries already written
 * are withdrawn and the summary stays for the next scan. A crash between
 * the last commit and the removal queues the reports again on restart.
 * The copies carry the same report-id, which lets receivers drop them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "delivery_queue.h"
#include "msg.h"
#include "queue_file.h"
#include "strbuf.h"
#include "summary_file.h"
#include "summary_job.h"
#include "utc_time.h"
#include "xalloc.h"

static bool file_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* A summary that fails to read is kept aside for the administrator. */
static enum summary_outcome set_aside(const char *name, const char *path,
				      const char *reason)
{
	if (!file_exists(path))
		return SUMMARY_GONE;
	if (queue_move(QUEUE_DAYS, name, QUEUE_CORRUPT) != 0) {
		msg_error("%s: invalid summary file (%s), and moving it to "
			  "%s/ failed: %s; leaving it in %s/ until it is "
			  "removed", name, reason, QUEUE_CORRUPT,
			  strerror(errno), QUEUE_DAYS);
		return SUMMARY_LEFT;
	}
	msg_warn("%s: invalid summary file moved to %s/: %s", name,
		 QUEUE_CORRUPT, reason);
	return SUMMARY_CORRUPT;
}

/* Queue every report. After a failed write, withdraw what was queued. */
static int queue_reports(struct summary_job *job, const char *name,
			 const struct summary *summary,
			 const struct report *reports, size_t count,
			 size_t *without_destination)
{
	struct queued_deliveries queued = { NULL, 0 };
	struct delivery_plan plan;
	size_t i;

	plan.identity = job->identity;
	plan.summary_id = name;
	plan.redirect = job->redirect;
	plan.send_now = strcmp(summary->kind, SUMMARY_PREVIEW) == 0;
	plan.spread = job->spread;
	plan.now = utc_now();
	for (i = 0; i < count; i++) {
		int written = delivery_queue_report(&plan, &reports[i],
						    &queued);

		if (written < 0) {
			delivery_queue_withdraw(&queued);
			delivery_queue_free(&queued);
			return -1;
		}
		if (written == 0)
			(*without_destination)++;
	}
	job->deliveries = queued.count;
	delivery_queue_free(&queued);
	return 0;
}

static void remove_summary(const char *name, const char *path)
{
	if (unlink(path) != 0) {
		msg_error("%s: cannot remove the summary file after queueing "
			  "its reports: %s; remove it by hand, or its reports "
			  "will be queued again", name, strerror(errno));
		return;
	}
	queue_fsync_dir(QUEUE_DAYS);
}

enum summary_outcome summary_job_run(struct summary_job *job,
				     const char *name)
{
	char *path = xasprintf("%s/%s", QUEUE_DAYS, name);
	enum summary_outcome outcome = SUMMARY_QUEUED;
	struct summary summary;
	struct strbuf error;
	struct report *reports = NULL;
	size_t count = 0;
	size_t without_destination = 0;

	job->reports = 0;
	job->deliveries = 0;
	strbuf_init(&error);
	if (summary_read(path, &summary, &error) != 0) {
		outcome = set_aside(name, path, error.data);
		goto done;
	}
	if (strcmp(summary.kind, SUMMARY_SUPPLEMENT) == 0) {
		msg_info("%s: day=%s, kind=supplement, host=%s: counters that "
			 "arrived after the day was reported; left in %s/ for "
			 "the administrator, the reporter does not send "
			 "supplements", name, summary.day, summary.host,
			 QUEUE_DAYS);
		outcome = SUMMARY_LEFT;
		goto done_summary;
	}
	if (report_build_all(&summary, job->identity, &reports, &count, &error)
	    != 0) {
		outcome = set_aside(name, path, error.data);
		goto done_summary;
	}
	if (queue_reports(job, name, &summary, reports, count,
			  &without_destination) != 0) {
		msg_error("%s: day=%s: queueing failed; the summary file stays "
			  "in %s/ and is tried again", name, summary.day,
			  QUEUE_DAYS);
		outcome = SUMMARY_RETRY;
		goto done_reports;
	}
	remove_summary(name, path);
	job->reports = count;
	msg_info("%s: day=%s, kind=%s, host=%s, reports=%zu, deliveries=%zu, "
		 "without-destination=%zu", name, summary.day, summary.kind,
		 summary.host[0] != '\0' ? summary.host : "-", count,
		 job->deliveries, without_destination);

done_reports:
	report_free_all(reports, count);
done_summary:
	summary_free(&summary);
done:
	strbuf_free(&error);
	free(path);
	return outcome;
}
