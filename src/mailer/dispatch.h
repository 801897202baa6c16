/*
 * dispatch: run deliveries in child processes, at most
 * delivery_concurrency at a time.
 *
 * Each delivery runs in a process of its own, forked from the mailer:
 * it calls deliver_file(), which makes the attempt and moves the queue
 * file, and exits with the result as its exit status. The parent keeps
 * the IDs in progress, so that no queue file is handed to two processes
 * at once, and counts the outcomes. A child that ends in any other way
 * (killed by a signal, a fatal error) has moved nothing. The parent then
 * records a deferred attempt for its file with deliver_abandon(), so a
 * file that crashes its process waits for its backoff instead of being
 * retried at once, again and again.
 *
 * A file that another process had locked (tlsrpt-queue while it moves
 * it) is tried again DISPATCH_BUSY_RETRY seconds later.
 *
 * Children inherit the keys (DKIM key, password, TLS contexts) from the
 * parent's memory; they open nothing that needs privilege.
 *
 * Stopping: dispatch_stop() waits up to DISPATCH_STOP_GRACE seconds for
 * the deliveries in progress, then ends the others with SIGTERM. Their
 * files stay where they are and are tried again after the next start,
 * so a report whose message the server had already accepted goes out
 * once more then.
 */
#ifndef TLSRPTD_DISPATCH_H
#define TLSRPTD_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "deliver.h"
#include "keys.h"
#include "queue_file.h"

#define DISPATCH_STOP_GRACE	5	/* seconds */
#define DISPATCH_EXIT_BASE	10	/* exit status of DELIVER_SENT */
#define DISPATCH_MAX_CLOSE	4	/* descriptors the children close */
#define DISPATCH_BUSY_RETRY	2	/* seconds until a locked file's retry */

struct mailer_counts {
	unsigned long sent;
	unsigned long deferred;
	unsigned long bounced;
	unsigned long corrupt;
};

/* A sent report whose file could not be moved to sent/ yet. */
struct dispatch_unmoved {
	const char *dir;	/* a QUEUE_* name */
	char id[QUEUE_ID_LEN + 1];
	unsigned tries;
};

/* A delivery in progress. */
struct dispatch_slot {
	pid_t pid;		/* 0 when the slot is free */
	const char *dir;	/* a QUEUE_* name */
	char id[QUEUE_ID_LEN + 1];
};

struct dispatcher {
	struct dispatch_slot *slots;
	size_t slot_count;		/* allocated */
	size_t running;
	const struct mailer_keys *keys;
	int close_fds[DISPATCH_MAX_CLOSE];	/* closed in each child */
	size_t close_count;
	struct mailer_counts counts;
	time_t next_due;	/* earliest retry of what ended, or 0 */
	struct dispatch_unmoved *unmoved;
	size_t unmoved_count;
};

void dispatch_init(struct dispatcher *pool, const struct mailer_keys *keys);
void dispatch_close_in_children(struct dispatcher *pool, int fd);

/* Tell whether id is being delivered, or was sent and waits for its
 * move to sent/; either way a scan must not start it. */
bool dispatch_busy(const struct dispatcher *pool, const char *id);

/* Try again to move the sent reports that are still in outgoing/ or
 * deferred/ (DELIVER_SENT_UNMOVED). The list lives in memory only: after
 * a restart such a report is delivered once more, with the same
 * content. */
void dispatch_move_unmoved(struct dispatcher *pool);

/*
 * Start the delivery of dir/id, first waiting for a free slot when
 * delivery_concurrency deliveries are running. Returns 0, or -1 when
 * the wait was cut short by a stop request or the fork failed (the file
 * stays for the next scan).
 */
int dispatch_start(struct dispatcher *pool, const char *dir, const char *id);

/* Collect the deliveries that have ended, without waiting. */
void dispatch_reap(struct dispatcher *pool);

/* End every delivery in progress, as described above. */
void dispatch_stop(struct dispatcher *pool);
void dispatch_free(struct dispatcher *pool);

#endif
