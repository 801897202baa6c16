/*
 * queue_listing: one entry per delivery in "tlsrpt-queue list", even
 * while the mailer moves files.
 *
 * The listing reads outgoing/, deferred/, hold/, failed/ and sent/ one
 * after the other. A delivery that the mailer moves from a directory
 * not yet read to one already read is missed, which the next listing
 * shows; one that it moves the other way is seen twice, once in each
 * directory. queue_listing_dedupe() keeps one entry per queue ID: the
 * state whose file still exists, as exists() tells, or when that does
 * not decide (both or neither exist), the later state in the order a
 * delivery moves: outgoing, then deferred or hold, then sent or failed.
 */
#ifndef TLSRPTD_QUEUE_LISTING_H
#define TLSRPTD_QUEUE_LISTING_H

#include <stdbool.h>
#include <stddef.h>

struct queue_listing_item {
	const char *id;
	const char *state;	/* the directory name, e.g. "deferred" */
	bool duplicate;		/* set when another item keeps this ID */
};

/* Mark every item but one per ID as a duplicate; returns how many were
 * marked. The order of items does not change. */
size_t queue_listing_dedupe(struct queue_listing_item *items, size_t count,
			    bool (*exists)(const char *state,
					   const char *id));

#endif
