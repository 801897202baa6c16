/*
 * fold: the counters of one batch, added up in memory before they are
 * applied to the store in one transaction.
 *
 * For every policy of a datagram, fold_add() adds one session to the
 * policy counter (day, domain, record, policy): a success when the
 * policy's "f" is 0, a failure when it is 1. Each failure-detail of that
 * policy adds one to the detail counter (day, domain, record, policy,
 * detail). The day is the UTC day of the receive time, the domain is the
 * normalised recipient domain, and the record is the TLSRPT record as
 * looked up. Policy and detail are the canonical JSON of
 * datagram_policy_key() and datagram_detail_key(), so key order and white
 * space in the datagram never split a counter.
 *
 * fold_finish() sorts the counters in the order of the store's keys and
 * merges duplicates; only then may the arrays be read. Counts saturate at
 * ULLONG_MAX instead of wrapping.
 */
#ifndef TLSRPTD_FOLD_H
#define TLSRPTD_FOLD_H

#include <stddef.h>
#include <time.h>

#include "datagram.h"
#include "utc_time.h"

/* One counter. The fold owns the strings. */
struct fold_counter {
	char day[UTC_DAY_LEN + 1];
	char *domain;
	char *record;
	char *policy;
	char *detail;		    /* NULL in a policy counter */
	unsigned long long success; /* policy counters only */
	unsigned long long failure; /* policy counters only */
	unsigned long long count;   /* detail counters only */
};

/* The datagrams of one UTC day in the batch. */
struct fold_day {
	char day[UTC_DAY_LEN + 1];
	unsigned long long datagrams;
};

struct fold {
	struct fold_counter *policies;
	size_t policy_count;
	size_t policy_cap;
	size_t policy_merged; /* sorted, unique prefix */
	struct fold_counter *details;
	size_t detail_count;
	size_t detail_cap;
	size_t detail_merged;  /* sorted, unique prefix */
	struct fold_day *days; /* sorted by day */
	size_t day_count;
	unsigned long long datagrams;
};

void fold_init(struct fold *fold);
void fold_add(struct fold *fold, time_t received, const struct datagram *dg);
void fold_finish(struct fold *fold);
void fold_free(struct fold *fold);

int fold_counter_compare(const struct fold_counter *left,
			 const struct fold_counter *right);
unsigned long long fold_saturating_add(unsigned long long left,
				       unsigned long long right);

#endif
