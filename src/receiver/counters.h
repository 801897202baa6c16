/*
 * counters: what the receiver has seen since it started.
 *
 * The receive loop and the commit thread both update these. Relaxed
 * atomic additions are enough because no counter is ever checked against
 * another: they are only sent to the master as a status line, which
 * "tlsrptd status" shows, and logged at stop.
 *
 * "rejected" counts every datagram that was not accepted, and the
 * rejected_* counters split it by reason: the classes of
 * datagram_parse() (size, json, utf8, limit, schema) and unauthorized,
 * for a sender that receiver_authorized_users does not admit.
 */
#ifndef TLSRPTD_RECEIVER_COUNTERS_H
#define TLSRPTD_RECEIVER_COUNTERS_H

#include <stdatomic.h>
#include <stddef.h>

#include "datagram.h"

/* Room for every counter at its largest value; far below PIPE_BUF, so
 * that the status line is one atomic write to the master. */
#define COUNTERS_LINE_MAX 640

struct receiver_counters {
	atomic_ullong received;	       /* datagrams read from the socket */
	atomic_ullong accepted;	       /* valid, appended to a batch */
	atomic_ullong rejected;	       /* not accepted, for any reason */
	atomic_ullong bytes;	       /* datagram bytes read */
	atomic_ullong batches;	       /* batches committed into incoming/ */

	/* rejected, by class: indexed by enum datagram_error */
	atomic_ullong rejected_class[DATAGRAM_ERROR_SCHEMA + 1];
	atomic_ullong unauthorized; /* sender not admitted */

	atomic_ullong truncated;       /* larger than DATAGRAM_MAX_SIZE */
	atomic_ullong corrupt_dropped; /* rejected, but not saved in corrupt/ */
	atomic_ullong count_mismatch;  /* "t" differs from failure-details */
	atomic_ullong lost; /* accepted, then lost to a write error */
	atomic_ullong recovered; /* in unfinished batches found at start */
	atomic_ullong torn;	 /* lines of those batches dropped: cut
				  * short or damaged */
};

static inline void counter_add(atomic_ullong *counter,
			       unsigned long long amount)
{
	atomic_fetch_add_explicit(counter, amount, memory_order_relaxed);
}

void counters_format(const struct receiver_counters *counters, char *out,
		     size_t size);

#endif
