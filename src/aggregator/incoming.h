/*
 * incoming: count the batches in incoming/, oldest first.
 *
 * Each batch is read whole and every line is validated again with
 * datagram_parse(), because a batch file is still hostile input. A line
 * equal byte for byte to one validated before is recognised instead
 * (fold_add_line() in fold.h). The
 * batch's counters are folded in memory and applied to the store in one
 * transaction together with its queue ID; only after the commit is the
 * file removed. A crash between the two leaves the file behind, and the
 * next run finds its ID in the store and only removes it.
 *
 * - A batch that batch_read() rejects (torn, malformed, wrong end count)
 *   moves to corrupt/ with a warning and is never counted. A file whose
 *   name is not a queue ID moves there too.
 * - A line that datagram_parse() rejects is skipped with a rate-limited
 *   warning; the rest of the batch counts.
 * - Lines for a day already closed are counted in the store and written
 *   to days/ as a supplement summary. The supplement IDs are recorded in
 *   the same transaction, and the batch file stays until the supplements
 *   are written, so a crash in between redoes them.
 * - A batch that the store fails to count stays in incoming/ for the
 *   next round.
 */
#ifndef TLSRPTD_INCOMING_H
#define TLSRPTD_INCOMING_H

#include <stddef.h>
#include <time.h>

#include "aggregator.h"

/* The batches a drain left in incoming/: new arrivals and failures. */
struct incoming_backlog {
	size_t batches;
	time_t oldest; /* creation of the oldest, on utc_now()'s clock */
};

void incoming_drain(struct aggregator *agg, struct incoming_backlog *left);
void incoming_forget_lost_supplements(struct aggregator *agg);

#endif
