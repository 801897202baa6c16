/*
 * aggregator: the state that the aggregator's modules share.
 *
 * The counters are totals since the process started; they go to the
 * master in status lines.
 */
#ifndef TLSRPTD_AGGREGATOR_H
#define TLSRPTD_AGGREGATOR_H

#include <stdbool.h>

#include "fold.h"
#include "store.h"
#include "worker.h"

struct aggregator {
	struct worker worker;
	struct store *store;
	struct fold_cache policy_cache; /* policy keys, batch to batch */
	unsigned long long batches;	/* batches counted */
	unsigned long long datagrams;	/* datagrams counted */
	unsigned long long skipped;	/* invalid batch lines skipped */
	unsigned long long corrupt;	/* batches moved to corrupt/ */
	unsigned long long supplements; /* supplement summaries written */
	unsigned long long days_closed;
	unsigned long long requests; /* requests answered */
	bool wake_reporter;	     /* a summary went to days/ */
	bool retry_soon;	     /* a step failed: retry in a few seconds */
};

void aggregator_check_store(struct aggregator *agg);
void aggregator_checkpoint(struct aggregator *agg);

#endif
