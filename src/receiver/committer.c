/*
 * committer: the commit thread, and the hand-off between it and the
 * receive loop; see committer.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "committer.h"
#include "config.h"
#include "monotonic.h"
#include "queue_file.h"
#include "recovery.h"
#include "strbuf.h"
#include "trigger.h"
#include "xalloc.h"

#define COMMITTER_IDLE_MS 1000 /* longest sleep without work */
#define SPARE_RETRY_MS 1000    /* after a failed pre-open */
#define STATUS_INTERVAL_MS 1000 /* between status lines to the master */
#define COMMITTER_RETRY_MS 1000 /* between retries of pending batches */

/* Work that one round of the commit thread takes over from the shared
 * state. */
struct round {
	struct open_batch *closed;
	struct corrupt_datagram *corrupt;
	unsigned long long corrupt_overflow;
	bool reload;
	bool want_spare;
	bool stopping;
};

struct open_batch *open_batch_create(void)
{
	struct open_batch *batch = xcalloc(1, sizeof(*batch));

	if (batch_writer_open(&batch->writer, RECEIVER_BATCH_OWNER) != 0) {
		int saved = errno;

		batch_writer_abort(&batch->writer);
		free(batch);
		errno = saved;
		return NULL;
	}
	return batch;
}

/* Free the memory of a batch; its files stay where they are. */
static void open_batch_free(struct open_batch *batch)
{
	free(batch->writer.file.tmp_path);
	free(batch->writer.file.linked_path);
	free(batch);
}

void receiver_settings_load(struct receiver_settings *settings)
{
	atomic_store(&settings->batch_interval_ms,
		     config_time("receiver_batch_interval") * 1000);
	atomic_store(&settings->batch_size, config_int("receiver_batch_size"));
}

/* Wait for work, at most COMMITTER_IDLE_MS, and take all of it. */
static void take_round(struct committer *committer, long long spare_retry_ms,
		       struct round *round)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += COMMITTER_IDLE_MS / 1000;

	pthread_mutex_lock(&committer->lock);
	for (;;) {
		bool want_spare = committer->spare == NULL &&
				  monotonic_ms() >= spare_retry_ms;

		if (committer->closed != NULL || committer->corrupt != NULL ||
		    committer->reload || committer->stopping || want_spare)
			break;
		if (pthread_cond_timedwait(&committer->wake, &committer->lock,
					   &deadline) == ETIMEDOUT)
			break;
	}
	round->closed = committer->closed;
	round->corrupt = committer->corrupt;
	round->corrupt_overflow = committer->corrupt_overflow;
	round->reload = committer->reload;
	round->stopping = committer->stopping;
	round->want_spare = committer->spare == NULL;
	committer->closed = NULL;
	committer->closed_tail = &committer->closed;
	committer->corrupt = NULL;
	committer->corrupt_tail = &committer->corrupt;
	committer->corrupt_count = 0;
	committer->corrupt_bytes = 0;
	committer->corrupt_overflow = 0;
	committer->reload = false;
	pthread_mutex_unlock(&committer->lock);
}

/* The state of a closed batch after an attempt to commit it. */
enum batch_commit {
	BATCH_COMMITTED,  /* in incoming/ */
	BATCH_DROPPED,	  /* nothing to commit; removed */
	BATCH_PENDING,	  /* stays in tmp/; retried */
};

/* Repair a batch whose writes failed and commit the lines it kept. */
static enum batch_commit repair_batch(struct committer *committer,
				      struct open_batch *batch)
{
	struct batch_writer *writer = &batch->writer;
	struct recovery_outcome outcome;
	struct strbuf error;

	if (writer->file.fp != NULL) {
		fclose(writer->file.fp);
		writer->file.fp = NULL;
	}
	strbuf_init(&error);
	recovery_commit_batch(writer->file.tmp_path, writer->file.id, &outcome,
			      &error);
	/* The first failure of a batch is always logged, its retries at a
	 * limited rate. */
	if (outcome.result == RECOVERY_FAILED) {
		if (batch->retries == 0 ||
		    msg_rate_allow(&committer->retry_rate))
			msg_error("%s: cannot repair batch: %s; it stays in "
				  "%s/ and the repair is retried",
				  writer->file.id, error.data, QUEUE_TMP);
		strbuf_free(&error);
		return BATCH_PENDING;
	}
	recovery_log_outcome(writer->file.id, &outcome, error.data);
	strbuf_free(&error);
	if (writer->count > outcome.kept) {
		msg_error("%s: %llu of %llu datagrams of the batch lost: "
			  "they never reached %s whole because a write failed",
			  writer->file.id, writer->count - outcome.kept,
			  writer->count, writer->file.tmp_path);
		counter_add(&committer->counters->lost,
			    writer->count - outcome.kept);
	}
	if (outcome.result != RECOVERY_COMMITTED)
		return BATCH_DROPPED;
	counter_add(&committer->counters->batches, 1);
	return BATCH_COMMITTED;
}

/* Link a batch whose content is durable; only the link into incoming/ or
 * the directory fsync failed before. */
static enum batch_commit link_batch(struct committer *committer,
				    struct open_batch *batch)
{
	struct batch_writer *writer = &batch->writer;

	if (queue_file_commit(&writer->file, QUEUE_INCOMING, NULL) != 0) {
		if (msg_rate_allow(&committer->retry_rate))
			msg_error("%s: cannot commit batch into %s/: %s; it "
				  "stays in %s/ and the commit is retried, "
				  "datagrams=%llu",
				  writer->file.id, QUEUE_INCOMING,
				  strerror(errno), QUEUE_TMP, writer->count);
		return BATCH_PENDING;
	}
	counter_add(&committer->counters->batches, 1);
	if (batch->retries > 0)
		msg_info("%s: batch committed into %s/ after %u retries, "
			 "datagrams=%llu",
			 writer->file.id, QUEUE_INCOMING, batch->retries,
			 writer->count);
	else if (msg_verbose)
		msg_info("%s: batch committed into %s/, datagrams=%llu",
			 writer->file.id, QUEUE_INCOMING, writer->count);
	return BATCH_COMMITTED;
}

/* Commit one closed batch for the first time. */
static enum batch_commit commit_batch(struct committer *committer,
				      struct open_batch *batch)
{
	struct batch_writer *writer = &batch->writer;
	const char *id = writer->file.id;

	if (writer->count == 0 && !batch->write_failed) {
		batch_writer_abort(writer);
		return BATCH_DROPPED;
	}
	if (batch->write_failed)
		return repair_batch(committer, batch);

	/* The end record, the flush and the fsync come first. If one of
	 * them fails, what reached the file is repaired. Once the content
	 * is durable, a failed link or directory fsync is simply retried. */
	if (batch_writer_commit(writer) == 0) {
		counter_add(&committer->counters->batches, 1);
		if (msg_verbose)
			msg_info("%s: batch committed into %s/, datagrams=%llu",
				 id, QUEUE_INCOMING, writer->count);
		return BATCH_COMMITTED;
	}
	if (!writer->file.synced) {
		msg_error("%s: cannot write batch %s: %s; repairing it", id,
			  writer->file.tmp_path, strerror(errno));
		batch->write_failed = true;
		return repair_batch(committer, batch);
	}
	msg_error("%s: cannot commit batch into %s/: %s; it stays in %s/ and "
		  "the commit is retried, datagrams=%llu",
		  id, QUEUE_INCOMING, strerror(errno), QUEUE_TMP,
		  writer->count);
	return BATCH_PENDING;
}

/* Try a pending batch again: a link when its content is durable, else a
 * repair of what reached its file. */
static enum batch_commit retry_batch(struct committer *committer,
				     struct open_batch *batch)
{
	batch->retries++;
	if (batch->writer.file.synced)
		return link_batch(committer, batch);
	return repair_batch(committer, batch);
}

/* Handle one batch by its outcome: keep a pending one for the next retry,
 * free the others. Returns true if it went into incoming/. */
static bool settle(struct committer *committer, struct open_batch *batch,
		   enum batch_commit result)
{
	if (result == BATCH_PENDING) {
		if (committer->pending == NULL)
			committer->retry_ms = monotonic_ms() +
					      COMMITTER_RETRY_MS;
		batch->next = committer->pending;
		committer->pending = batch;
		return false;
	}
	open_batch_free(batch);
	return result == BATCH_COMMITTED;
}

static size_t commit_batches(struct committer *committer,
			     struct open_batch *batch)
{
	size_t committed = 0;

	while (batch != NULL) {
		struct open_batch *next = batch->next;

		if (settle(committer, batch, commit_batch(committer, batch)))
			committed++;
		batch = next;
	}
	return committed;
}

/* Retry the pending batches, at most every COMMITTER_RETRY_MS, in the
 * order they failed. */
static size_t retry_pending(struct committer *committer)
{
	struct open_batch *batch;
	struct open_batch *reversed = NULL;
	size_t committed = 0;
	long long now = monotonic_ms();

	if (committer->pending == NULL || now < committer->retry_ms)
		return 0;
	committer->retry_ms = now + COMMITTER_RETRY_MS;

	/* The list is newest first; take it over oldest first. */
	while ((batch = committer->pending) != NULL) {
		committer->pending = batch->next;
		batch->next = reversed;
		reversed = batch;
	}
	while ((batch = reversed) != NULL) {
		reversed = batch->next;
		if (settle(committer, batch, retry_batch(committer, batch)))
			committed++;
	}
	return committed;
}

/* At a stop, leave the pending batches to the recovery at the next start
 * (recovery.h). */
static void leave_pending(struct committer *committer)
{
	struct open_batch *batch;

	while ((batch = committer->pending) != NULL) {
		committer->pending = batch->next;
		msg_warn("%s: stopping with the batch still uncommitted; it "
			 "stays as %s and is recovered at the next start, "
			 "datagrams=%llu",
			 batch->writer.file.id, batch->writer.file.tmp_path,
			 batch->writer.count);
		open_batch_free(batch);
	}
}

static void describe_peer(long long uid, char *out, size_t size)
{
	if (uid >= 0)
		snprintf(out, size, "uid %lld", uid);
	else
		snprintf(out, size, "an unknown uid");
}

/* Only the commit thread uses this. A limit of its own keeps the line
 * that reports corrupt/ as full from being crowded out, in a flood, by the
 * "saved as" lines that filled it. */
static struct msg_rate over_limit_rate =
	MSG_RATE_INIT("rejected datagram not saved, corrupt/ full", 1, 60);

static void save_one_corrupt(struct committer *committer,
			     const struct corrupt_datagram *datagram)
{
	char id[QUEUE_ID_LEN + 1];
	char peer[64];
	struct strbuf why;
	enum corrupt_result result;

	strbuf_init(&why);
	result = corrupt_store_save(&committer->store, datagram, id, &why);
	if (result != CORRUPT_SAVED)
		counter_add(&committer->counters->corrupt_dropped, 1);
	if (!msg_rate_allow(result == CORRUPT_OVER_LIMIT ? &over_limit_rate
			    : &committer->reject_rate)) {
		strbuf_free(&why);
		return;
	}

	describe_peer(datagram->peer_uid, peer, sizeof(peer));
	if (result == CORRUPT_SAVED) {
		msg_warn("rejected datagram from %s: %s; saved as %s/%s", peer,
			 datagram->reason, QUEUE_CORRUPT, id);
	} else if (result == CORRUPT_OVER_LIMIT) {
		corrupt_store_describe_limit(&committer->store, &why);
		msg_warn("rejected datagram from %s: %s; not saved because %s",
			 peer, datagram->reason, why.data);
	} else {
		msg_warn("rejected datagram from %s: %s; not saved: %s", peer,
			 datagram->reason, why.data);
	}
	strbuf_free(&why);
}

static void save_corrupt(struct committer *committer,
			 struct corrupt_datagram *datagram)
{
	while (datagram != NULL) {
		struct corrupt_datagram *next = datagram->next;

		save_one_corrupt(committer, datagram);
		corrupt_datagram_free(datagram);
		datagram = next;
	}
}

static void reload(struct committer *committer)
{
	worker_reload_config(committer->worker);
	receiver_settings_load(committer->settings);
	committer->store.file_limit = config_int("receiver_corrupt_limit");
	committer->store.size_limit = config_size("receiver_corrupt_size_"
						  "limit");

	/* User names are resolved before the privileges are dropped, so a
	 * new list needs a new receiver. */
	if (strcmp(config_str("receiver_authorized_users"),
		   committer->settings->authorized_value) != 0)
		msg_warn("receiver_authorized_users changed; the running "
			 "receiver keeps \"%s\" until it is restarted (tlsrptd "
			 "stop, then tlsrptd start)",
			 committer->settings->authorized_value);
}

/* Pre-open the next batch; returns false if that failed. */
static bool open_spare(struct committer *committer)
{
	struct open_batch *batch = open_batch_create();

	if (batch == NULL) {
		if (msg_rate_allow(&committer->spare_rate))
			msg_error("cannot create a batch file in %s/: %s; "
				  "the open batch stays open until this "
				  "works",
				  QUEUE_TMP, strerror(errno));
		return false;
	}
	pthread_mutex_lock(&committer->lock);
	committer->spare = batch;
	pthread_mutex_unlock(&committer->lock);
	return true;
}

static void wake_aggregator(struct committer *committer)
{
	if (trigger_send("aggregator", TRIGGER_WAKEUP) != 0 &&
	    msg_rate_allow(&committer->trigger_rate))
		msg_warn("cannot wake the aggregator through %s/aggregator: "
			 "%s; it finds new batches at its next periodic scan",
			 QUEUE_PRIVATE, strerror(errno));
}

/* Send the counters to the master when they changed, at most once per
 * STATUS_INTERVAL_MS. A round starts at least every COMMITTER_IDLE_MS, so
 * a change is sent within about two seconds. */
static void report_status(struct committer *committer)
{
	char line[COUNTERS_LINE_MAX];
	long long now = monotonic_ms();

	if (now - committer->status_sent_ms < STATUS_INTERVAL_MS)
		return;
	counters_format(committer->counters, line, sizeof(line));
	if (strcmp(line, committer->status_line) == 0)
		return;
	worker_status(committer->worker, "%s", line);
	memcpy(committer->status_line, line, sizeof(line));
	committer->status_sent_ms = now;
}

static void discard_spare(struct committer *committer)
{
	struct open_batch *spare;

	pthread_mutex_lock(&committer->lock);
	spare = committer->spare;
	committer->spare = NULL;
	pthread_mutex_unlock(&committer->lock);
	if (spare != NULL) {
		batch_writer_abort(&spare->writer);
		open_batch_free(spare);
	}
}

static void *run(void *context)
{
	struct committer *committer = context;
	long long spare_retry_ms = 0;
	struct round round;

	for (;;) {
		take_round(committer, spare_retry_ms, &round);

		/* The next batch file comes first: the receive loop may fill
		 * its batch again while this round fsyncs the last one. */
		if (round.want_spare && !round.stopping &&
		    monotonic_ms() >= spare_retry_ms && !open_spare(committer))
			spare_retry_ms = monotonic_ms() + SPARE_RETRY_MS;
		if (round.reload)
			reload(committer);
		if (commit_batches(committer, round.closed) +
			retry_pending(committer) > 0)
			wake_aggregator(committer);
		save_corrupt(committer, round.corrupt);
		if (round.corrupt_overflow > 0 &&
		    msg_rate_allow(&committer->overflow_rate))
			msg_warn("%llu rejected datagrams not saved: the "
				 "queue of datagrams waiting to be written to "
				 "%s/ was full",
				 round.corrupt_overflow, QUEUE_CORRUPT);
		report_status(committer);

		/* The receive loop hands in its last batch before it sets
		 * stopping, so this round has taken everything. */
		if (round.stopping)
			break;
	}
	leave_pending(committer);
	discard_spare(committer);
	return NULL;
}

static void init_shared_state(struct committer *committer)
{
	pthread_condattr_t attributes;

	pthread_mutex_init(&committer->lock, NULL);
	pthread_condattr_init(&attributes);
	pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
	pthread_cond_init(&committer->wake, &attributes);
	pthread_condattr_destroy(&attributes);
	committer->closed_tail = &committer->closed;
	committer->corrupt_tail = &committer->corrupt;
}

void committer_start(struct committer *committer, struct worker *worker,
		     struct receiver_counters *counters,
		     struct receiver_settings *settings)
{
	struct msg_rate reject_rate =
	    MSG_RATE_INIT("rejected datagram", 10, 60);
	struct msg_rate overflow_rate =
	    MSG_RATE_INIT("datagrams not saved", 1, 60);
	struct msg_rate trigger_rate = MSG_RATE_INIT("cannot wake the "
						     "aggregator",
						     1, 3600);
	struct msg_rate spare_rate = MSG_RATE_INIT("cannot create a batch "
						   "file",
						   1, 60);
	struct msg_rate retry_rate = MSG_RATE_INIT("batch commit retry", 1, 60);
	sigset_t all;
	sigset_t saved;
	int error;

	memset(committer, 0, sizeof(*committer));
	init_shared_state(committer);
	committer->worker = worker;
	committer->counters = counters;
	committer->settings = settings;
	committer->reject_rate = reject_rate;
	committer->overflow_rate = overflow_rate;
	committer->trigger_rate = trigger_rate;
	committer->spare_rate = spare_rate;
	committer->retry_rate = retry_rate;
	if (corrupt_store_init(&committer->store,
			       config_int("receiver_corrupt_limit"),
			       config_size("receiver_corrupt_size_limit")) != 0)
		msg_fatal("cannot list %s/ in the queue directory: %s",
			  QUEUE_CORRUPT, strerror(errno));

	/* Signals go to the receive loop, whose ppoll() waits for them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	error = pthread_create(&committer->thread, NULL, run, committer);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (error != 0)
		msg_fatal("cannot start the commit thread: %s",
			  strerror(error));
}

struct open_batch *committer_take_spare(struct committer *committer)
{
	struct open_batch *spare;

	pthread_mutex_lock(&committer->lock);
	spare = committer->spare;
	committer->spare = NULL;
	if (spare != NULL)
		pthread_cond_signal(&committer->wake);
	pthread_mutex_unlock(&committer->lock);
	return spare;
}

void committer_close_batch(struct committer *committer,
			   struct open_batch *batch)
{
	batch->next = NULL;
	pthread_mutex_lock(&committer->lock);
	*committer->closed_tail = batch;
	committer->closed_tail = &batch->next;
	pthread_cond_signal(&committer->wake);
	pthread_mutex_unlock(&committer->lock);
}

bool committer_queue_corrupt(struct committer *committer,
			     struct corrupt_datagram *datagram)
{
	bool queued = false;

	datagram->next = NULL;
	pthread_mutex_lock(&committer->lock);
	if (committer->corrupt_count < COMMITTER_MAX_CORRUPT &&
	    committer->corrupt_bytes + datagram->data_len <=
		COMMITTER_MAX_CORRUPT_BYTES) {
		*committer->corrupt_tail = datagram;
		committer->corrupt_tail = &datagram->next;
		committer->corrupt_count++;
		committer->corrupt_bytes += datagram->data_len;
		pthread_cond_signal(&committer->wake);
		queued = true;
	} else {
		committer->corrupt_overflow++;
	}
	pthread_mutex_unlock(&committer->lock);
	return queued;
}

void committer_request_reload(struct committer *committer)
{
	pthread_mutex_lock(&committer->lock);
	committer->reload = true;
	pthread_cond_signal(&committer->wake);
	pthread_mutex_unlock(&committer->lock);
}

void committer_stop(struct committer *committer)
{
	pthread_mutex_lock(&committer->lock);
	committer->stopping = true;
	pthread_cond_signal(&committer->wake);
	pthread_mutex_unlock(&committer->lock);
	pthread_join(committer->thread, NULL);
	pthread_cond_destroy(&committer->wake);
	pthread_mutex_destroy(&committer->lock);
}
