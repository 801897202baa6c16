/*
 * counters: format the receiver's counters as "name=value" pairs, the
 * shape of the status line and of the stop log line; see counters.h.
 */
#include <stdio.h>

#include "counters.h"

static unsigned long long get(const atomic_ullong *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

void counters_format(const struct receiver_counters *counters, char *out,
		     size_t size)
{
	snprintf(out, size,
		 "received=%llu accepted=%llu rejected=%llu "
		 "truncated=%llu bytes=%llu batches=%llu corrupt_dropped=%llu "
		 "count_mismatch=%llu lost=%llu",
		 get(&counters->received), get(&counters->accepted),
		 get(&counters->rejected), get(&counters->truncated),
		 get(&counters->bytes), get(&counters->batches),
		 get(&counters->corrupt_dropped),
		 get(&counters->count_mismatch), get(&counters->lost));
}
