/*
 * counters: what the receiver has seen since it started.
 *
 * The receive loop and the commit thread both update these. Relaxed
 * atomic additions are enough because no counter is ever checked against
 * another: they are only sent to the master as a status line and logged
 * at stop.
 */
#ifndef TLSRPTD_RECEIVER_COUNTERS_H
#define TLSRPTD_RECEIVER_COUNTERS_H

#include <stdatomic.h>
#include <stddef.h>

struct receiver_counters {
	atomic_ullong received;	       /* datagrams read from the socket */
	atomic_ullong accepted;	       /* valid, appended to a batch */
	atomic_ullong rejected;	       /* invalid or truncated */
	atomic_ullong truncated;       /* larger than DATAGRAM_MAX_SIZE */
	atomic_ullong bytes;	       /* datagram bytes read */
	atomic_ullong batches;	       /* batches committed into incoming/ */
	atomic_ullong corrupt_dropped; /* rejected, but not saved in corrupt/ */
	atomic_ullong count_mismatch;  /* "t" differs from failure-details */
	atomic_ullong lost; /* accepted, then lost to a write error */
};

static inline void counter_add(atomic_ullong *counter,
			       unsigned long long amount)
{
	atomic_fetch_add_explicit(counter, amount, memory_order_relaxed);
}

void counters_format(const struct receiver_counters *counters, char *out,
		     size_t size);

#endif
