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

static unsigned long long rejected(const struct receiver_counters *counters,
				   enum datagram_error error)
{
	return get(&counters->rejected_class[error]);
}

void counters_format(const struct receiver_counters *counters, char *out,
		     size_t size)
{
	snprintf(out, size,
		 "received=%llu accepted=%llu rejected=%llu bytes=%llu "
		 "batches=%llu rejected_size=%llu rejected_json=%llu "
		 "rejected_utf8=%llu rejected_limit=%llu "
		 "rejected_schema=%llu rejected_unauthorized=%llu "
		 "truncated=%llu corrupt_dropped=%llu count_mismatch=%llu "
		 "lost=%llu recovered=%llu torn=%llu",
		 get(&counters->received), get(&counters->accepted),
		 get(&counters->rejected), get(&counters->bytes),
		 get(&counters->batches),
		 rejected(counters, DATAGRAM_ERROR_SIZE),
		 rejected(counters, DATAGRAM_ERROR_JSON),
		 rejected(counters, DATAGRAM_ERROR_UTF8),
		 rejected(counters, DATAGRAM_ERROR_LIMIT),
		 rejected(counters, DATAGRAM_ERROR_SCHEMA),
		 get(&counters->unauthorized), get(&counters->truncated),
		 get(&counters->corrupt_dropped),
		 get(&counters->count_mismatch), get(&counters->lost),
		 get(&counters->recovered), get(&counters->torn));
}
