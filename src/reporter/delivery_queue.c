/*
 * delivery_queue: delivery files for one report; see delivery_queue.h.
 *
 * The TLSRPT record is parsed here, at report time, from the text the MTA
 * looked up. Its destinations decide how many delivery files a report
 * gets. A record without a usable destination gets none and one log line.
 * Every destination receives the same payload and report-id, each in its
 * own file so that each keeps its own retry state.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delivery_file.h"
#include "delivery_queue.h"
#include "msg.h"
#include "strbuf.h"
#include "tlsrpt_record.h"
#include "utc_time.h"
#include "xalloc.h"

#define QUEUE_OWNER	"reporter"

static struct msg_rate record_warning_rate =
	MSG_RATE_INIT("TLSRPT record warning", 100, 60);

/* delivery_redirect is empty, "file:DIR" or "mailto:ADDRESS". */
bool delivery_redirect_valid(const char *redirect)
{
	if (redirect[0] == '\0')
		return true;
	if (redirect[strcspn(redirect, " \t\r\n")] != '\0')
		return false;
	if (strncmp(redirect, "file:", 5) == 0)
		return redirect[5] != '\0';
	if (strncmp(redirect, "mailto:", 7) == 0)
		return strchr(redirect + 7, '@') != NULL;
	return false;
}

/* Spread first attempts of a final day's reports over delivery_spread, so
 * that a large day does not leave at once. Previews go now. */
static time_t first_attempt_time(const struct delivery_plan *plan)
{
	if (plan->send_now || plan->spread <= 0)
		return plan->now;
	return plan->now + (time_t)arc4random_uniform((uint32_t)plan->spread);
}

/* Open the scratch file for the IDs and unlink it at once, so that it
 * disappears when closed. One left by a crash in between has the
 * reporter's prefix, and the next start removes it. Returns 0, or -1
 * with errno set. */
int delivery_queue_start(struct queued_deliveries *queued)
{
	char path[] = QUEUE_TMP "/" QUEUE_OWNER ".ids.XXXXXX";
	int fd = mkstemp(path);

	memset(queued, 0, sizeof(*queued));
	if (fd < 0)
		return -1;
	unlink(path);
	queued->ids = fdopen(fd, "w+");
	if (queued->ids == NULL) {
		close(fd);
		return -1;
	}
	queue_batch_init(&queued->staged, QUEUE_OUTGOING);
	strbuf_init(&queued->staged_log);
	return 0;
}

static void remove_delivery(const char *id)
{
	char *path = xasprintf("%s/%s", QUEUE_OUTGOING, id);

	if (unlink(path) != 0 && errno != ENOENT)
		msg_warn("%s: cannot remove %s after a failed queue run: %s",
			 id, path, strerror(errno));
	free(path);
}

/*
 * Note the IDs of the staged files, just committed. If an ID cannot be
 * noted, that file and the rest of the batch are taken back at once,
 * because a later withdrawal could not find them.
 */
static int remember_staged(struct queued_deliveries *queued)
{
	struct queue_batch *staged = &queued->staged;
	size_t i;

	for (i = 0; i < staged->count; i++) {
		const char *id = staged->files[i].id;

		if (fprintf(queued->ids, "%s\n", id) >= 0 &&
		    fflush(queued->ids) == 0) {
			queued->count++;
			continue;
		}
		msg_error("%s: cannot note the queue ID in the %s/ scratch "
			  "file: %s; removing it and the %zu other deliveries "
			  "committed with it", id, QUEUE_TMP,
			  strerror(errno), staged->count - i - 1);
		for (; i < staged->count; i++)
			remove_delivery(staged->files[i].id);
		queue_fsync_dir(QUEUE_OUTGOING);
		return -1;
	}
	return 0;
}

/* Log the staged files, now committed, with the lines kept for them. */
static void log_staged(struct queued_deliveries *queued)
{
	char *line = queued->staged_log.data;

	while (line != NULL && *line != '\0') {
		char *end = strchr(line, '\n');

		*end = '\0';
		msg_info("%s", line);
		line = end + 1;
	}
}

/*
 * Commit the staged delivery files: fsync them, link them into
 * outgoing/, fsync the directory once. Returns 0, or -1 when the commit
 * failed. Then none of the staged files is in outgoing/, and the files
 * that earlier calls committed are left for delivery_queue_withdraw().
 */
int delivery_queue_flush(const struct delivery_plan *plan,
			 struct queued_deliveries *queued)
{
	struct queue_batch *staged = &queued->staged;
	int status = 0;

	if (staged->count == 0)
		return 0;
	if (queue_batch_commit(staged) != 0) {
		msg_error("%s: cannot commit %zu delivery files into %s/: %s",
			  plan->summary_id, staged->count, QUEUE_OUTGOING,
			  strerror(errno));
		status = -1;
	} else {
		status = remember_staged(queued);
		if (status == 0)
			log_staged(queued);
	}
	queue_batch_reset(staged);
	strbuf_reset(&queued->staged_log);
	return status;
}

static void note_staged(const struct delivery_plan *plan,
			const struct report *report, const char *destination,
			const char *rua, const char *id,
			struct queued_deliveries *queued)
{
	struct strbuf *log = &queued->staged_log;

	if (plan->redirect[0] != '\0')
		strbuf_printf(log, "%s: report-id=%s, domain=%s, "
			      "destination=%s, size=%zu, rua=%s "
			      "(delivery_redirect)\n", id, report->report_id,
			      report->report_domain, destination,
			      report->gzip_len, rua);
	else
		strbuf_printf(log, "%s: report-id=%s, domain=%s, "
			      "destination=%s, size=%zu\n", id,
			      report->report_id, report->report_domain,
			      destination, report->gzip_len);
}

static int write_delivery(const struct delivery_plan *plan,
			  const struct report *report, const char *destination,
			  const char *rua, struct queued_deliveries *queued)
{
	char created[UTC_TIME_LEN + 1];
	char id[QUEUE_ID_LEN + 1];
	struct delivery delivery;

	utc_time_format(plan->now, created);
	memset(&delivery, 0, sizeof(delivery));
	delivery.report_id = report->report_id;
	delivery.report_domain = report->report_domain;
	delivery.day = report->day;
	delivery.destination = (char *)destination;
	delivery.rua = (char *)rua;
	delivery.submitter = (char *)plan->identity->submitter;
	delivery.filename = report->filename;
	delivery.created = created;
	delivery.last_error = "";
	delivery.attempts = 0;
	delivery.first_attempt = 0;
	delivery.next_attempt = first_attempt_time(plan);
	delivery.payload = report->gzip;
	delivery.payload_len = report->gzip_len;
	if (delivery_stage(&delivery, QUEUE_OWNER, &queued->staged, id) != 0) {
		msg_error("%s: cannot write the delivery of report-id=%s to "
			  "%s into %s/: %s", plan->summary_id,
			  report->report_id, destination, QUEUE_TMP,
			  strerror(errno));
		return -1;
	}
	note_staged(plan, report, destination, rua, id, queued);
	if (queued->staged.count >= DELIVERY_QUEUE_BATCH)
		return delivery_queue_flush(plan, queued);
	return 0;
}

static char *join_destinations(const struct tlsrpt_record *record)
{
	struct strbuf rua;
	size_t i;

	strbuf_init(&rua);
	for (i = 0; i < record->destination_count; i++)
		strbuf_printf(&rua, "%s%s", i > 0 ? " " : "",
			      record->destinations[i]);
	return strbuf_detach(&rua, NULL);
}

/*
 * Queue the deliveries of one report. Returns the number of files
 * written (0 when the record has no usable destination), or -1 when a
 * write failed. Files written before the failure stay in queued, so the
 * caller can withdraw them.
 */
int delivery_queue_report(const struct delivery_plan *plan,
			  const struct report *report,
			  struct queued_deliveries *queued)
{
	struct tlsrpt_record record;
	struct strbuf warnings;
	char *rua;
	size_t i;
	int written = 0;

	strbuf_init(&warnings);
	tlsrpt_record_parse(report->record, &record, &warnings);
	if (record.destination_count == 0) {
		msg_warn("%s: day %s, domain %s: no report sent: %s",
			 plan->summary_id, report->day, report->report_domain,
			 warnings.data);
		strbuf_free(&warnings);
		tlsrpt_record_free(&record);
		return 0;
	}
	if (warnings.len > 0 && msg_rate_allow(&record_warning_rate))
		msg_warn("%s: day %s, domain %s: TLSRPT record \"%.200s\": %s",
			 plan->summary_id, report->day, report->report_domain,
			 report->record, warnings.data);
	strbuf_free(&warnings);

	rua = join_destinations(&record);
	if (plan->redirect[0] != '\0') {
		written = write_delivery(plan, report, plan->redirect, rua,
					 queued) == 0 ? 1 : -1;
	} else {
		for (i = 0; i < record.destination_count && written >= 0; i++)
			written = write_delivery(plan, report,
						 record.destinations[i], rua,
						 queued) == 0 ? written + 1
				: -1;
	}
	free(rua);
	tlsrpt_record_free(&record);
	return written;
}

/* Take back the delivery files of a summary whose queueing failed
 * half-way, so that the next attempt does not queue them twice. */
void delivery_queue_withdraw(struct queued_deliveries *queued)
{
	char id[QUEUE_ID_LEN + 2];
	size_t removed = 0;

	queue_batch_reset(&queued->staged);
	strbuf_reset(&queued->staged_log);
	if (queued->ids == NULL || queued->count == 0)
		return;
	rewind(queued->ids);
	while (fgets(id, sizeof(id), queued->ids) != NULL) {
		char *path;

		id[strcspn(id, "\n")] = '\0';
		path = xasprintf("%s/%s", QUEUE_OUTGOING, id);
		if (unlink(path) == 0)
			msg_info("%s: removed; its summary file will be "
				 "queued again", id);
		else if (errno == ENOENT)
			msg_warn("%s: already taken by the mailer; this "
				 "report may be delivered twice, with the same "
				 "report-id", id);
		else
			msg_warn("%s: cannot remove %s after a failed queue "
				 "run: %s", id, path, strerror(errno));
		free(path);
		removed++;
	}
	if (removed != queued->count)
		msg_error("read %zu of %zu queue IDs back from the %s/ scratch "
			  "file; the others may be delivered twice", removed,
			  queued->count, QUEUE_TMP);
	queue_fsync_dir(QUEUE_OUTGOING);
	queued->count = 0;
}

void delivery_queue_free(struct queued_deliveries *queued)
{
	queue_batch_free(&queued->staged);
	strbuf_free(&queued->staged_log);
	if (queued->ids != NULL)
		fclose(queued->ids);
	memset(queued, 0, sizeof(*queued));
}
