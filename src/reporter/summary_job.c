/*
 * summary_job: one day summary file to delivery files; see summary_job.h.
 *
 * The summary file is removed only after every delivery file of it is
 * committed. Delivery files are committed in batches (delivery_queue.h).
 * If a write or a batch commit fails half-way, or the reporter is asked
 * to stop, the batches already committed are withdrawn, the staged files
 * removed, and the summary stays for the next scan. A crash between the
 * last commit and the removal queues the reports again on restart. The copies carry the same report-id,
 * which lets receivers drop them.
 *
 * The job keeps one report in memory at a time, whatever the number of
 * domains. The queue IDs written so far, for the withdrawal, go to a
 * scratch file.
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
#include "worker.h"
#include "xalloc.h"

/* Template of the scratch file that a summary with too many sorted runs
 * is sorted through. The file is unlinked at once, and its prefix is the
 * reporter's own in tmp/. */
#define SCRATCH_TEMPLATE	QUEUE_TMP "/reporter.sort.XXXXXX"

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

/* Counts of one summary job, for its log line. */
struct job_counts {
	size_t reports;
	size_t without_destination;
	size_t success_only;
};

static void start_plan(struct delivery_plan *plan, struct summary_job *job,
		       const char *name, const struct summary_stream *stream)
{
	plan->identity = job->identity;
	plan->summary_id = name;
	plan->redirect = job->redirect;
	plan->send_now = strcmp(stream->kind, SUMMARY_PREVIEW) == 0;
	plan->spread = job->spread;
	plan->now = utc_now();
}

/* Build and queue one group's report. Returns 0, or -1 when a delivery
 * write failed. */
static int queue_group(const struct delivery_plan *plan,
		       const struct summary_group *group, const char *day,
		       struct queued_deliveries *queued,
		       struct job_counts *counts)
{
	struct report report;
	int built = report_build_group(group, day, plan->identity, &report);
	int written;

	if (built == 1)
		counts->success_only++;
	if (built != 0)
		return 0;
	counts->reports++;
	written = delivery_queue_report(plan, &report, queued);
	report_free(&report);
	if (written == 0)
		counts->without_destination++;
	return written < 0 ? -1 : 0;
}

/* Queue the report of every group. After a failed write, a read error
 * or a stop request, withdraw what was queued. Returns 0, -1 after a
 * failure, 1 after a stop request. */
static int queue_reports(struct summary_job *job, const char *name,
			 struct summary_stream *stream,
			 struct job_counts *counts)
{
	struct queued_deliveries queued;
	struct delivery_plan plan;
	struct summary_group group;
	struct strbuf error;
	int status;

	if (delivery_queue_start(&queued) != 0) {
		msg_error("%s: cannot create a scratch file in %s/: %s", name,
			  QUEUE_TMP, strerror(errno));
		return -1;
	}
	start_plan(&plan, job, name, stream);
	strbuf_init(&error);
	while ((status = summary_stream_next(stream, &group, &error)) > 0) {
		if (worker_stop) {
			status = 1;
			break;
		}
		if (queue_group(&plan, &group, stream->day, &queued, counts)
		    != 0) {
			status = -1;
			break;
		}
	}
	if (status < 0 && error.len > 0)
		msg_error("%s: cannot read the summary file: %s", name,
			  error.data);
	if (status == 0 && delivery_queue_flush(&plan, &queued) != 0)
		status = -1;
	if (status != 0)
		delivery_queue_withdraw(&queued);
	job->deliveries = queued.count;
	delivery_queue_free(&queued);
	strbuf_free(&error);
	return status;
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
	struct summary_stream stream;
	struct job_counts counts = { 0, 0, 0 };
	struct strbuf error;
	int status;

	job->reports = 0;
	job->deliveries = 0;
	strbuf_init(&error);
	if (summary_stream_open(&stream, path, SCRATCH_TEMPLATE, NULL, &error)
	    != 0) {
		outcome = set_aside(name, path, error.data);
		goto done;
	}
	if (stream.sorted)
		msg_info("%s: %zu sorted runs of lines (summaries appended in "
			 "any order); sorted them through %s/ first", name,
			 stream.run_count, QUEUE_TMP);
	if (strcmp(stream.kind, SUMMARY_SUPPLEMENT) == 0) {
		msg_info("%s: day=%s, kind=supplement, host=%s: counters that "
			 "arrived after the day was reported; left in %s/ for "
			 "the administrator, the reporter does not send "
			 "supplements", name, stream.day, stream.host,
			 QUEUE_DAYS);
		outcome = SUMMARY_LEFT;
		goto done_stream;
	}
	status = queue_reports(job, name, &stream, &counts);
	if (status < 0)
		msg_error("%s: day=%s: queueing failed; the summary file stays "
			  "in %s/ and is tried again", name, stream.day,
			  QUEUE_DAYS);
	if (status > 0)
		msg_info("%s: day=%s: stopped before every report was queued; "
			 "the summary file stays in %s/ and is queued again at "
			 "the next start", name, stream.day, QUEUE_DAYS);
	if (status != 0) {
		outcome = SUMMARY_RETRY;
		goto done_stream;
	}
	remove_summary(name, path);
	job->reports = counts.reports;
	if (counts.success_only > 0)
		msg_info("%s: day %s: %zu reports without failures not built "
			 "(report_success_only_days = no)", name, stream.day,
			 counts.success_only);
	msg_info("%s: day=%s, kind=%s, host=%s, reports=%zu, deliveries=%zu, "
		 "without-destination=%zu", name, stream.day, stream.kind,
		 stream.host[0] != '\0' ? stream.host : "-", counts.reports,
		 job->deliveries, counts.without_destination);

done_stream:
	summary_stream_close(&stream);
done:
	strbuf_free(&error);
	free(path);
	return outcome;
}
