/*
 * aggregator: count the receiver's batches into daily counters, close UTC
 * days into summary files, and write a day's counters on request.
 *
 *	aggregator [-c CONFIG_DIR] [-n SERVICE] [-s STATUS_FD] [-S] [-v]
 *
 * Started by the master (see worker.h for the options). Each round counts
 * every batch in incoming/ (incoming.h), handles the requests in
 * requests/ (requests.h), closes the days that are due and expires old
 * ones (days.h), and takes a database checkpoint. Checkpoints are also
 * taken between batches when the log has grown. A round starts on a
 * wakeup (TRIGGER_WAKEUP from the receiver or the master's periodic
 * wakeup, TRIGGER_REQUEST from "tlsrptd report") or after
 * AGGREGATOR_IDLE_SECONDS without one. When a step of the round failed
 * (a full or failing disk) or batches were left in incoming/, the next
 * round starts after AGGREGATOR_RETRY_SECONDS.
 *
 * Security: runs unprivileged as mail_owner. Batch files are validated
 * again line by line, because a file in incoming/ is still hostile input.
 * Only this process opens the database in db/ (store.h).
 *
 * Parameters: queue_directory, day_close_delay, keep_days, plus those of
 * every worker (worker.h). SIGHUP re-reads them.
 *
 * Signals: on SIGTERM or SIGINT the current transaction finishes, the
 * round stops at the next batch, request or day, the database
 * environment is closed with a checkpoint, and the process exits with
 * status 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aggregator.h"
#include "config.h"
#include "days.h"
#include "export.h"
#include "incoming.h"
#include "msg.h"
#include "queue_file.h"
#include "requests.h"
#include "trigger.h"
#include "worker.h"
#include "xalloc.h"

#define AGGREGATOR_IDLE_SECONDS 60
#define AGGREGATOR_RETRY_SECONDS 5 /* after a round with a failed step */

void aggregator_check_store(struct aggregator *agg)
{
	/* Only recovery at the next start can repair the environment; the
	 * master restarts the aggregator. */
	if (store_needs_recovery(agg->store))
		msg_fatal("the database in %s/ needs recovery; exiting so that "
			  "the next start runs it",
			  QUEUE_DB);
}

/* Remove temporary files that an earlier aggregator left unfinished. */
static void remove_stale_tmp(void)
{
	size_t prefix_len = strlen(EXPORT_TMP_OWNER ".");
	char **names;
	size_t count;
	size_t i;

	if (queue_list(QUEUE_TMP, &names, &count) != 0) {
		msg_warn("cannot list %s/: %s", QUEUE_TMP, strerror(errno));
		return;
	}
	for (i = 0; i < count; i++) {
		char *path;

		if (strncmp(names[i], EXPORT_TMP_OWNER ".", prefix_len) != 0)
			continue;
		path = xasprintf("%s/%s", QUEUE_TMP, names[i]);
		if (unlink(path) != 0 && errno != ENOENT)
			msg_warn("cannot remove stale %s: %s", path,
				 strerror(errno));
		else
			msg_info("removed stale temporary file %s", path);
		free(path);
	}
	queue_list_free(names, count);
}

static void open_store(struct aggregator *agg)
{
	struct strbuf error;

	strbuf_init(&error);
	agg->store = store_open(QUEUE_DB, &error);
	if (agg->store == NULL)
		msg_fatal("%s", error.data);
	strbuf_free(&error);
}

static void close_store(struct aggregator *agg)
{
	struct strbuf error;

	strbuf_init(&error);
	if (store_close(agg->store, &error) != 0)
		msg_warn("closing the database in %s/: %s", QUEUE_DB,
			 error.data);
	agg->store = NULL;
	strbuf_free(&error);
}

static void report_status(struct aggregator *agg)
{
	worker_status(&agg->worker,
		      "batches=%llu datagrams=%llu "
		      "days_open=%u skipped=%llu corrupt=%llu supplements=%llu "
		      "days_closed=%llu requests=%llu",
		      agg->batches, agg->datagrams, days_open(agg),
		      agg->skipped, agg->corrupt, agg->supplements,
		      agg->days_closed, agg->requests);
}

/* Take a checkpoint when enough log or time has passed since the last
 * one (store_checkpoint()). The call is cheap otherwise, so it runs after
 * every batch as well as after every round. */
void aggregator_checkpoint(struct aggregator *agg)
{
	struct strbuf error;

	strbuf_init(&error);
	if (store_checkpoint(agg->store, false, &error) != 0) {
		msg_warn("database checkpoint failed: %s", error.data);
		aggregator_check_store(agg);
	}
	strbuf_free(&error);
}

/* A reporter on another host has no wakeup FIFO here, so a failure is
 * only worth an occasional line. */
static void wake_reporter(void)
{
	static struct msg_rate rate =
	    MSG_RATE_INIT("cannot wake the reporter", 1, 3600);

	if (trigger_send("reporter", TRIGGER_WAKEUP) != 0 &&
	    msg_rate_allow(&rate))
		msg_warn("cannot wake the reporter through %s/reporter: %s; "
			 "it finds new summaries in %s/ at its next periodic "
			 "wakeup",
			 QUEUE_PRIVATE, strerror(errno), QUEUE_DAYS);
}

/* One round of work; incoming/ goes first, so that requests and closed
 * days see every batch that was waiting. */
static void run_round(struct aggregator *agg)
{
	struct incoming_backlog left;

	agg->wake_reporter = false;
	agg->retry_soon = false;
	incoming_drain(agg, &left);
	if (left.batches > 0)
		agg->retry_soon = true;
	if (!worker_stop)
		requests_process(agg);
	if (!worker_stop)
		days_close_due(agg, &left);
	if (!worker_stop)
		days_expire(agg);
	aggregator_checkpoint(agg);
	if (agg->wake_reporter)
		wake_reporter();
	report_status(agg);
}

int main(int argc, char **argv)
{
	struct aggregator agg;
	char codes[8];

	memset(&agg, 0, sizeof(agg));
	fold_cache_init(&agg.policy_cache);
	worker_setup(&agg.worker, argc, argv, "aggregator");
	worker_jail(&agg.worker);
	remove_stale_tmp();
	open_store(&agg);
	worker_listen(&agg.worker);
	worker_ready(&agg.worker);
	msg_info("started: database in %s/%s recovered and open",
		 config_str("queue_directory"), QUEUE_DB);

	/* A close that a crash interrupted is finished before any batch
	 * counts, so its final summary has the counters it was begun with. */
	days_finish_closing(&agg);
	run_round(&agg);
	incoming_forget_lost_supplements(&agg);

	while (!worker_stop) {
		worker_wait(&agg.worker,
			    (agg.retry_soon ? AGGREGATOR_RETRY_SECONDS
					    : AGGREGATOR_IDLE_SECONDS) * 1000,
			    codes, sizeof(codes));
		if (worker_reload)
			worker_reload_config(&agg.worker);
		if (worker_stop)
			break;
		run_round(&agg);
	}

	close_store(&agg);
	fold_cache_free(&agg.policy_cache);
	msg_info("stopped: batches=%llu datagrams=%llu days_closed=%llu",
		 agg.batches, agg.datagrams, agg.days_closed);
	return 0;
}
