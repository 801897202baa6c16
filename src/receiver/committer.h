/*
 * committer: the receiver's second thread, which does every step that
 * may wait on the disk so that the receive loop never does.
 *
 * The receive loop only reads, validates and appends, and hands each
 * closed batch and each rejected datagram to the commit thread. That
 * thread commits batches (end record, fsync, link into incoming/,
 * directory fsync) and wakes the aggregator. It also writes corrupt
 * files, pre-opens the next batch file and reloads the configuration on
 * request. The lock guards
 * only pointer swaps: neither thread does I/O while holding it.
 *
 * If the commit thread falls behind, the receive loop finds no spare
 * batch and keeps appending to its open one (the batch size and interval
 * are then exceeded) instead of waiting. Rejected datagrams wait in a
 * queue of at most COMMITTER_MAX_CORRUPT entries and
 * COMMITTER_MAX_CORRUPT_BYTES bytes; beyond that they are counted in
 * corrupt_dropped and not saved.
 *
 * A batch whose writes failed is not committed as it is: its file is
 * repaired the way start-up recovery repairs one, so every whole line
 * that reached the file is kept. A batch whose content is durable but
 * whose link into incoming/ failed (a full or failing disk) stays in
 * tmp/ and is linked again every COMMITTER_RETRY_MS; so is a repair that
 * failed. Batches still pending at a stop are left in tmp/, where the
 * recovery at the next start commits them. Datagrams that never reached
 * the file, because a write failed, are counted as lost.
 */
#ifndef TLSRPTD_RECEIVER_COMMITTER_H
#define TLSRPTD_RECEIVER_COMMITTER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "authorized_users.h"
#include "batch_file.h"
#include "corrupt.h"
#include "counters.h"
#include "msg.h"
#include "worker.h"

#define COMMITTER_MAX_CORRUPT 256
#define COMMITTER_MAX_CORRUPT_BYTES (1024 * 1024)

/* Parameters the receive loop reads. The commit thread sets the batch
 * ones at start and after a reload; the authorized users are resolved
 * once, at start. */
struct receiver_settings {
	atomic_llong batch_interval_ms;
	atomic_llong batch_size;
	struct authorized_users authorized;
	char *authorized_value; /* receiver_authorized_users at start */
};

/* A batch file and its state in the receive loop. */
struct open_batch {
	struct batch_writer writer;
	struct open_batch *next; /* in the queue of closed batches */
	bool write_failed;	 /* repair instead of commit */
	unsigned retries;	 /* commits tried again */
};

struct committer {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;

	/* Shared, under lock. */
	struct open_batch *spare;  /* pre-opened, or NULL */
	struct open_batch *closed; /* oldest first */
	struct open_batch **closed_tail;
	struct corrupt_datagram *corrupt;
	struct corrupt_datagram **corrupt_tail;
	size_t corrupt_count;
	size_t corrupt_bytes;
	unsigned long long corrupt_overflow; /* refused: the queue was full */
	bool reload;
	bool stopping;

	/* The commit thread's own. */
	struct worker *worker;
	struct receiver_counters *counters;
	struct receiver_settings *settings;
	struct corrupt_store store;
	struct msg_rate reject_rate;
	struct msg_rate overflow_rate;
	struct msg_rate trigger_rate;
	struct msg_rate spare_rate;
	struct msg_rate retry_rate;
	struct open_batch *pending; /* failed to commit; newest first */
	long long retry_ms;	    /* monotonic time of the next retry */
	char status_line[COUNTERS_LINE_MAX]; /* the last one sent */
	long long status_sent_ms;
};

struct open_batch *open_batch_create(void);
void receiver_settings_load(struct receiver_settings *settings);

void committer_start(struct committer *committer, struct worker *worker,
		     struct receiver_counters *counters,
		     struct receiver_settings *settings);
struct open_batch *committer_take_spare(struct committer *committer);
void committer_close_batch(struct committer *committer,
			   struct open_batch *batch);
bool committer_queue_corrupt(struct committer *committer,
			     struct corrupt_datagram *datagram);
void committer_request_reload(struct committer *committer);
void committer_stop(struct committer *committer);

#endif
