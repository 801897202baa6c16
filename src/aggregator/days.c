/*
 * days: close due days and expire old ones; see days.h.
 *
 * Closing a day takes three steps, so that a crash at any point leaves a
 * state the next start finishes without closing the day twice:
 *
 *	1. A transaction marks the day "closing" with a new queue ID X.
 *	   From here on, batches for the day are supplements, and the
 *	   day's counters in the store no longer change before step 3.
 *	2. The final summary is written from the store as days/X (temp
 *	   file, fsync, no-clobber link). A days/X that exists already was
 *	   written before a crash and is kept.
 *	3. A transaction marks the day "closed"; the reporter is woken.
 *
 * days_finish_closing() redoes steps 2 and 3 for every day still marked
 * "closing" at start, before any batch is counted, so the summary it
 * writes has the same counters as the one a crash interrupted.
 *
 * NOTE: if the reporter consumed days/X and the aggregator then crashed
 * before step 3, the redo writes days/X again and the day is reported
 * twice with the same report-ids. The window is one transaction commit
 * long; a duplicate report was preferred to a lost one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "days.h"
#include "export.h"
#include "msg.h"
#include "summary_file.h"
#include "utc_time.h"

/* A batch created this long after a day ended holds none of its
 * datagrams: the receiver opens a batch file before it reads the
 * datagrams it writes there, so a batch's queue ID is never younger than
 * its lines. The margin allows for clock steps between processes. */
#define DAYS_BACKLOG_MARGIN 60

static struct msg_rate waiting_rate =
    MSG_RATE_INIT("day closing waits", 1, 600);

static void store_failed(struct aggregator *agg, const char *what,
			 const char *day, const struct strbuf *error)
{
	msg_warn("day %s: cannot %s: %s; will retry", day, what, error->data);
	agg->retry_soon = true;
	aggregator_check_store(agg);
}

/* Steps 2 and 3 for a day marked closing with summary_id. */
static int finish_close(struct aggregator *agg, const char *day,
			const char *summary_id)
{
	unsigned long long lines;
	struct strbuf error;
	int written;

	strbuf_init(&error);
	written = export_store_day(agg->store, day, SUMMARY_FINAL, QUEUE_DAYS,
				   summary_id, &lines, &error);
	if (written < 0) {
		msg_warn("day %s: cannot write final summary %s/%s: %s; will "
			 "retry",
			 day, QUEUE_DAYS, summary_id, error.data);
		agg->retry_soon = true;
		strbuf_free(&error);
		return -1;
	}
	if (store_day_closed(agg->store, day, &error) != 0) {
		store_failed(agg, "mark the day closed", day, &error);
		strbuf_free(&error);
		return -1;
	}
	if (written == 0)
		msg_info("day %s closed: final summary %s/%s (%llu counters)",
			 day, QUEUE_DAYS, summary_id, lines);
	else
		msg_info("day %s closed: final summary %s/%s was written "
			 "before a restart",
			 day, QUEUE_DAYS, summary_id);
	agg->days_closed++;
	agg->wake_reporter = true;
	strbuf_free(&error);
	return 0;
}

static int close_day(struct aggregator *agg, const char *day)
{
	char summary_id[QUEUE_ID_LEN + 1];
	struct strbuf error;

	queue_id_new(summary_id);
	strbuf_init(&error);
	if (store_day_closing(agg->store, day, summary_id, &error) != 0) {
		store_failed(agg, "mark the day closing", day, &error);
		strbuf_free(&error);
		return -1;
	}
	strbuf_free(&error);
	return finish_close(agg, day, summary_id);
}

static int list_days(struct aggregator *agg, struct store_day **days,
		     size_t *count)
{
	struct strbuf error;

	strbuf_init(&error);
	if (store_days(agg->store, days, count, &error) != 0) {
		msg_warn("cannot list the days in the database: %s",
			 error.data);
		aggregator_check_store(agg);
		strbuf_free(&error);
		return -1;
	}
	strbuf_free(&error);
	return 0;
}

void days_finish_closing(struct aggregator *agg)
{
	struct store_day *days;
	size_t count;
	size_t i;

	if (list_days(agg, &days, &count) != 0)
		return;
	for (i = 0; i < count; i++) {
		if (days[i].state != STORE_DAY_CLOSING)
			continue;
		msg_info("day %s: finishing a close that a restart "
			 "interrupted",
			 days[i].day);
		finish_close(agg, days[i].day, days[i].summary_id);
	}
	free(days);
}

static time_t day_end(const char *day)
{
	time_t start;

	if (utc_day_parse(day, &start) != 0)
		return 0;
	return start + UTC_DAY_SECONDS;
}

void days_close_due(struct aggregator *agg, const struct incoming_backlog *left)
{
	time_t now = utc_now();
	time_t delay = (time_t)config_time("day_close_delay");
	struct store_day *days;
	size_t count;
	size_t i;

	if (list_days(agg, &days, &count) != 0)
		return;
	for (i = 0; i < count && !worker_stop; i++) {
		time_t end = day_end(days[i].day);

		if (days[i].state == STORE_DAY_CLOSED || end == 0 ||
		    now < end + delay)
			continue;
		if (days[i].state == STORE_DAY_CLOSING) {
			finish_close(agg, days[i].day, days[i].summary_id);
			continue;
		}
		if (left->batches > 0 &&
		    left->oldest < end + DAYS_BACKLOG_MARGIN) {
			if (msg_rate_allow(&waiting_rate))
				msg_info("day %s: closing waits until %zu "
					 "batches in %s/ are counted",
					 days[i].day, left->batches,
					 QUEUE_INCOMING);
			continue;
		}
		close_day(agg, days[i].day);
	}
	free(days);
}

static void expire_day(struct aggregator *agg, const char *day)
{
	struct store_expiry expiry;
	struct strbuf error;

	strbuf_init(&error);
	if (store_expire_day(agg->store, day, &expiry, &error) != 0)
		store_failed(agg, "expire the day", day, &error);
	else
		msg_info("day %s expired: deleted %llu policy and %llu "
			 "failure-detail counters (keep_days = %lld)",
			 day, expiry.policies, expiry.details,
			 config_int("keep_days"));
	strbuf_free(&error);
}

void days_expire(struct aggregator *agg)
{
	time_t horizon = utc_day_start(utc_now()) -
			 (time_t)config_int("keep_days") * UTC_DAY_SECONDS;
	char horizon_day[UTC_DAY_LEN + 1];
	unsigned long long batches;
	struct store_day *days;
	struct strbuf error;
	size_t count;
	size_t i;

	utc_day_format(horizon, horizon_day);
	if (list_days(agg, &days, &count) != 0)
		return;

	/* An old day that is not closed yet keeps its counters until its
	 * final summary is written. */
	for (i = 0; i < count && !worker_stop; i++)
		if (strcmp(days[i].day, horizon_day) < 0 &&
		    days[i].state == STORE_DAY_CLOSED)
			expire_day(agg, days[i].day);
	free(days);

	strbuf_init(&error);
	if (store_expire_batches(agg->store, horizon_day, &batches, &error) !=
	    0) {
		msg_warn("cannot expire old batch IDs: %s; will retry",
			 error.data);
		aggregator_check_store(agg);
	} else if (batches > 0) {
		msg_info("expired %llu batch IDs counted before %s", batches,
			 horizon_day);
	}
	strbuf_free(&error);
}

unsigned days_open(struct aggregator *agg)
{
	struct store_day *days;
	size_t count;
	unsigned open = 0;
	size_t i;

	if (list_days(agg, &days, &count) != 0)
		return 0;
	for (i = 0; i < count; i++)
		if (days[i].state != STORE_DAY_CLOSED)
			open++;
	free(days);
	return open;
}
