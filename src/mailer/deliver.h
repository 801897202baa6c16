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
 * Each attempt is logged as "ID: to=<...>, relay=..., delay=...,
 * status=sent|deferred|bounced (reason)", with orig_to=<...> when
 * delivery_redirect replaced the destination. delay is the time since
 * the report was queued, in seconds.
 */
#ifndef TLSRPTD_DELIVER_H
#define TLSRPTD_DELIVER_H

#include "delivery_file.h"

#define MAILER_OWNER	"mailer"	/* names tmp/mailer.* files */

struct mailer_counts {
	unsigned long sent;
	unsigned long deferred;
	unsigned long bounced;
	unsigned long corrupt;
};

void deliver_once(struct delivery *delivery, const char *dir, const char *id,
		  struct mailer_counts *counts);

#endif
