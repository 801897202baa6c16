/*
 * incoming: read, fold and count batch files; see incoming.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch_file.h"
#include "export.h"
#include "fold.h"
#include "incoming.h"
#include "msg.h"
#include "queue_file.h"
#include "summary_file.h"
#include "trigger.h"
#include "utc_time.h"
#include "xalloc.h"

/* Rounds of list-and-count in one drain. Batches that arrive during the
 * last round wait for the next drain. */
#define INCOMING_ROUNDS 3

/* The digits of a queue ID that hold its creation time in seconds. */
#define QUEUE_ID_SECONDS_DIGITS 9

struct line_context {
	const char *batch_id;
	struct fold *fold;
	unsigned long long line; /* body line number, from 1 */
	unsigned long long skipped;
};

static struct msg_rate invalid_line_rate =
    MSG_RATE_INIT("invalid batch line", 20, 60);

static int count_line(time_t received, const char *json, size_t len, void *data)
{
	struct line_context *context = data;
	struct strbuf reason;

	context->line++;
	strbuf_init(&reason);
	if (fold_add_line(context->fold, received, json, len, &reason) != 0) {
		context->skipped++;
		if (msg_rate_allow(&invalid_line_rate))
			msg_warn("%s: body line %llu: invalid datagram (%s); "
				 "line skipped",
				 context->batch_id, context->line, reason.data);
	}
	strbuf_free(&reason);
	return 0;
}

static void move_to_corrupt(struct aggregator *agg, const char *name,
			    const char *reason)
{
	if (queue_move(QUEUE_INCOMING, name, QUEUE_CORRUPT) != 0) {
		msg_warn("%s: %s; cannot move it from %s/ to %s/: %s", name,
			 reason, QUEUE_INCOMING, QUEUE_CORRUPT,
			 strerror(errno));
		return;
	}
	agg->corrupt++;
	msg_warn("%s: %s; moved from %s/ to %s/ and not counted", name, reason,
		 QUEUE_INCOMING, QUEUE_CORRUPT);
}

/* Read and fold a batch; return -1 when it was moved to corrupt/ or is
 * gone. */
static int read_batch(struct aggregator *agg, const char *id, struct fold *fold,
		      unsigned long long *skipped)
{
	char *path = xasprintf("%s/%s", QUEUE_INCOMING, id);
	struct line_context context = {id, fold, 0, 0};
	struct strbuf error;
	int status;

	strbuf_init(&error);
	errno = 0;
	status = batch_read(path, count_line, &context, &error);
	free(path);
	if (status != 0 && errno == ENOENT) {
		msg_warn("%s: batch disappeared from %s/ before it was read",
			 id, QUEUE_INCOMING);
	} else if (status != 0) {
		struct strbuf reason;

		strbuf_init(&reason);
		strbuf_printf(&reason, "invalid batch file (%s)", error.data);
		move_to_corrupt(agg, id, reason.data);
		strbuf_free(&reason);
	}
	strbuf_free(&error);
	*skipped = context.skipped;
	return status == 0 ? 0 : -1;
}

static void log_counted(const char *id, const struct fold *fold,
			unsigned long long skipped)
{
	const char *days = fold->day_count == 1 ? "day" : "days";

	if (skipped > 0)
		msg_info("%s: counted %llu datagrams (%zu %s), skipped %llu "
			 "invalid lines",
			 id, fold->datagrams, fold->day_count, days, skipped);
	else
		msg_info("%s: counted %llu datagrams (%zu %s)", id,
			 fold->datagrams, fold->day_count, days);
}

static unsigned long long datagrams_of_day(const struct fold *fold,
					   const char *day)
{
	size_t i;

	for (i = 0; i < fold->day_count; i++)
		if (strcmp(fold->days[i].day, day) == 0)
			return fold->days[i].datagrams;
	return 0;
}

/* Write the supplements that the store recorded for this batch. */
static int write_supplements(struct aggregator *agg, const char *id,
			     const struct fold *fold,
			     const struct store_supplement *list, size_t count)
{
	struct strbuf error;
	size_t i;
	int status = 0;

	strbuf_init(&error);
	for (i = 0; status == 0 && i < count; i++) {
		unsigned long long lines;
		int written;

		strbuf_reset(&error);
		written = export_fold_day(fold, list[i].day, QUEUE_DAYS,
					  list[i].summary_id, &lines, &error);
		if (written < 0) {
			msg_warn(
			    "%s: cannot write supplement %s for closed day "
			    "%s: %s; will retry",
			    id, list[i].summary_id, list[i].day, error.data);
			status = -1;
		} else if (written == 0) {
			agg->supplements++;
			agg->wake_reporter = true;
			msg_info("%s: %llu datagrams for closed day %s; wrote "
				 "supplement %s/%s (%llu counters)",
				 id, datagrams_of_day(fold, list[i].day),
				 list[i].day, QUEUE_DAYS, list[i].summary_id,
				 lines);
		}
	}
	strbuf_reset(&error);
	if (status == 0 && count > 0 &&
	    store_supplements_done(agg->store, id, &error) != 0) {
		msg_warn("%s: cannot record that its supplements are written: "
			 "%s; will retry",
			 id, error.data);
		status = -1;
	}
	strbuf_free(&error);
	return status;
}

static void remove_batch(const char *id)
{
	char *path = xasprintf("%s/%s", QUEUE_INCOMING, id);

	if (unlink(path) != 0 && errno != ENOENT)
		msg_warn("%s: counted, but cannot remove %s: %s; it will be "
			 "recognised and removed later",
			 id, path, strerror(errno));
	free(path);
}

/* Count one batch; return -1 if it must stay for a later retry. */
static int count_batch(struct aggregator *agg, const char *id)
{
	struct store_supplement *supplements = NULL;
	size_t supplement_count = 0;
	char today[UTC_DAY_LEN + 1];
	unsigned long long skipped;
	struct strbuf error;
	struct fold fold;
	int applied;
	int status = 0;

	fold_init_cached(&fold, &agg->policy_cache);
	if (read_batch(agg, id, &fold, &skipped) != 0) {
		fold_free(&fold);
		return 0;
	}
	fold_finish(&fold);

	strbuf_init(&error);
	utc_day_format(utc_now(), today);
	while ((applied = store_apply(agg->store, id, today, &fold,
				      &supplements, &supplement_count,
				      &error)) == 2)
		aggregator_checkpoint(agg);
	if (applied < 0) {
		msg_warn("%s: cannot count the batch: %s; it stays in %s/ for "
			 "a retry",
			 id, error.data, QUEUE_INCOMING);
		aggregator_check_store(agg);
		status = -1;
	} else if (applied == 1) {
		msg_info("%s: batch was counted before a restart; removing it",
			 id);
	} else {
		agg->batches++;
		agg->datagrams += fold.datagrams;
		agg->skipped += skipped;
		log_counted(id, &fold, skipped);
	}
	if (status == 0 && supplement_count > 0)
		status = write_supplements(agg, id, &fold, supplements,
					   supplement_count);
	if (status == 0)
		remove_batch(id);

	/* A long backlog must not fill db/ with log files before the round
	 * ends. */
	if (applied >= 0)
		aggregator_checkpoint(agg);
	free(supplements);
	strbuf_free(&error);
	fold_free(&fold);
	return status;
}

/* Return the creation time of a batch from its queue ID, shifted to the
 * clock of utc_now(), or 0 when the name is no queue ID. */
static time_t batch_created(const char *name)
{
	char seconds[QUEUE_ID_SECONDS_DIGITS + 1];

	if (!queue_id_valid(name))
		return 0;
	memcpy(seconds, name, QUEUE_ID_SECONDS_DIGITS);
	seconds[QUEUE_ID_SECONDS_DIGITS] = '\0';
	return (time_t)strtoull(seconds, NULL, 16) + (utc_now() - time(NULL));
}

static void note_backlog(struct incoming_backlog *left, char **names,
			 size_t count)
{
	size_t i;

	left->batches = count;
	left->oldest = 0;
	for (i = 0; i < count; i++) {
		time_t created = batch_created(names[i]);

		if (i == 0 || created < left->oldest)
			left->oldest = created;
	}
}

/* Count every batch listed; return the number that must be retried. */
static size_t count_listed(struct aggregator *agg, char **names, size_t count)
{
	size_t failed = 0;
	size_t i;

	for (i = 0; i < count && !worker_stop; i++) {
		if (!queue_id_valid(names[i]))
			move_to_corrupt(agg, names[i],
					"file name is not a "
					"queue ID");
		else if (count_batch(agg, names[i]) != 0)
			failed++;
	}
	return failed;
}

void incoming_drain(struct aggregator *agg, struct incoming_backlog *left)
{
	int round;

	for (round = 0;; round++) {
		char **names;
		size_t count;
		size_t failed;

		if (queue_list(QUEUE_INCOMING, &names, &count) != 0) {
			msg_warn("cannot list %s/: %s", QUEUE_INCOMING,
				 strerror(errno));
			left->batches = 1;
			left->oldest = 0;
			return;
		}
		note_backlog(left, names, count);
		if (count == 0 || round == INCOMING_ROUNDS || worker_stop) {
			queue_list_free(names, count);
			return;
		}
		failed = count_listed(agg, names, count);
		queue_list_free(names, count);

		/* A failed batch is retried in the next drain, not at once. */
		if (failed > 0)
			round = INCOMING_ROUNDS - 1;
	}
}

/* Log and drop every unfinished supplement whose batch file is gone,
 * because it can no longer be written. Run after a drain, so that every
 * batch that still has its file has been retried. */
void incoming_forget_lost_supplements(struct aggregator *agg)
{
	struct strbuf error;
	char **ids;
	size_t count;
	size_t i;

	strbuf_init(&error);
	if (store_supplement_batches(agg->store, &ids, &count, &error) != 0) {
		msg_warn("cannot list unfinished supplements: %s", error.data);
		aggregator_check_store(agg);
		strbuf_free(&error);
		return;
	}
	for (i = 0; i < count; i++) {
		char *path = xasprintf("%s/%s", QUEUE_INCOMING, ids[i]);

		if (access(path, F_OK) != 0 && errno == ENOENT) {
			msg_warn("%s: batch file was removed before its "
				 "supplement summaries were written; the "
				 "counters are in the database, run "
				 "\"tlsrptd report\" for the closed days it "
				 "touched",
				 ids[i]);
			strbuf_reset(&error);
			if (store_supplements_done(agg->store, ids[i],
						   &error) != 0)
				msg_warn("%s: %s", ids[i], error.data);
		}
		free(path);
	}
	queue_list_free(ids, count);
	strbuf_free(&error);
}
