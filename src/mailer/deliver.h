/*
 * deliver: one delivery attempt for one queue file, and the move that
 * follows from its outcome.
 *
 * The destination is delivery_redirect when that is set, else the
 * file's own destination. The file is rewritten with the new attempt
 * count, times and last error and keeps its queue ID:
 *
 *	sent		to sent/
 *	deferred	to deferred/, next attempt after minimal_backoff_time
 *			doubled per earlier attempt, at most
 *			maximal_backoff_time, plus up to 10% random
 *			jitter; to failed/ instead once
 *			maximal_queue_lifetime has passed since the
 *			first attempt
 *	bounced		to failed/ at once
 *
 * When the updated file cannot be written (a full or failing disk), a
 * failed attempt leaves the file where it was, to be tried again. A sent
 * report's file is then moved to sent/ unchanged, which needs no new
 * space. If even that fails, the attempt ends as DELIVER_SENT_UNMOVED,
 * and the mailer retries the move without delivering the report again.
 *
 * During the attempt the file is locked with flock(LOCK_EX), and a file
 * that someone else has locked is left alone: tlsrpt-queue locks a file
 * before it changes one, and skips a file that is locked.
 *
 * Each attempt is logged as "ID: to=<...>, relay=..., delay=...,
 * status=sent|deferred|bounced (reason)", with orig_to=<...> when
 * delivery_redirect replaced the destination. delay is the time since
 * the report was queued, in seconds.
 */
#ifndef TLSRPTD_DELIVER_H
#define TLSRPTD_DELIVER_H

#include "delivery_file.h"
#include "keys.h"

#define MAILER_OWNER	"mailer"	/* names tmp/mailer.* files */

/* Outcome of one delivery process for a queue file. */
enum deliver_result {
	DELIVER_SENT,
	DELIVER_DEFERRED,
	DELIVER_BOUNCED,
	DELIVER_CORRUPT,	/* not a valid delivery: moved to corrupt/ */
	DELIVER_GONE,		/* removed by someone else meanwhile */
	DELIVER_BUSY,		/* locked by someone else: try later */
	DELIVER_SENT_UNMOVED,	/* sent, but still in its directory */
};

/*
 * Read dir/id into delivery, to be released with delivery_free().
 * Returns 0, or -1 with *failure set: DELIVER_CORRUPT for a file that
 * is not a valid delivery (moved to corrupt/ with a warning), or
 * DELIVER_GONE for one that has disappeared.
 */
int deliver_read(const char *dir, const char *id, struct delivery *delivery,
		 enum deliver_result *failure);

/* Lock and read dir/id, make one attempt and move the file by its
 * outcome. */
enum deliver_result deliver_file(const char *dir, const char *id,
				 const struct mailer_keys *keys);

/*
 * Record a failed attempt on dir/id with reason and defer it, for an
 * attempt whose delivery process ended without recording an outcome.
 */
void deliver_abandon(const char *dir, const char *id, const char *reason);

/*
 * Move dir/id, a delivery already sent, to sent/ unchanged, under its
 * lock: the retry for DELIVER_SENT_UNMOVED. Returns 0 when it moved or
 * is gone, or -1 with errno set.
 */
int deliver_move_sent(const char *dir, const char *id);

#endif
