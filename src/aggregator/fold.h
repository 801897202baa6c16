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
 * fold_add_line() takes a batch line's JSON text, validates it with
 * datagram_parse() and adds it, or returns -1 with the parser's reason.
 * The datagrams of a domain repeat byte
 * for byte, because a successful session carries nothing but the domain,
 * record and policies. So the fold remembers what each valid line added
 * and adds a repeated line without parsing it again, since equal bytes
 * parse alike. It also remembers the canonical key of each policy it has seen.
 * fold_init_cached() keeps both in a fold_cache that outlives the fold,
 * because the same domains send the same datagrams batch after batch. A
 * cache serves one fold at a time, and fold_init_cached() empties it
 * once it holds more than FOLD_CACHE_MAX_BYTES.
 *
 * Each counter is found in a hash index when a datagram adds to it, so a
 * batch costs memory for its distinct counters only. fold_finish() sorts
 * the counters in the order of the store's keys; only then may the
 * arrays be read, and no datagram may be added after it. Counts saturate
 * at ULLONG_MAX instead of wrapping.
 */
#ifndef TLSRPTD_FOLD_H
#define TLSRPTD_FOLD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "datagram.h"
#include "intern.h"
#include "strbuf.h"
#include "utc_time.h"

/* One counter. The strings are interned in the fold's cache. */
struct fold_counter {
	char day[UTC_DAY_LEN + 1];
	const char *domain;
	const char *record;
	const char *policy;
	const char *detail;	    /* NULL in a policy counter */
	unsigned long long success; /* policy counters only */
	unsigned long long failure; /* policy counters only */
	unsigned long long count;   /* detail counters only */
};

/* The datagrams of one UTC day in the batch. */
struct fold_day {
	char day[UTC_DAY_LEN + 1];
	unsigned long long datagrams;
};

/* The memory a cache may use before it is emptied. With the traffic
 * model of bench/aggregator_batches.py, 10,000 domains need about 5 MB;
 * for 100,000 domains, 8, 16, 32 and 64 MB took 4.05, 4.01, 3.92 and
 * 3.59 CPU seconds per 1,000,000 datagrams at a peak RSS of 69, 76, 97
 * and 131 MB.
 * NOTE: sized with that model, not with traffic seen in production. */
#define FOLD_CACHE_MAX_BYTES (16U * 1024 * 1024)

/* Remembered from batch to batch: every string of a counter, the
 * canonical key of each policy fingerprint, and what each line added. */
struct fold_cache {
	struct intern strings;
	struct intern policies;
	struct intern lines;
};

/* A hash index over one counter array: slots hold array positions. */
struct fold_index {
	size_t *slots; /* FOLD_NO_COUNTER when free */
	size_t capacity; /* a power of two */
};

struct fold {
	struct fold_counter *policies;
	size_t policy_count;
	struct fold_counter *details;
	size_t detail_count;
	struct fold_day *days; /* sorted by day */
	size_t day_count;
	unsigned long long datagrams;

	/* State while datagrams are added; see fold.c. */
	size_t policy_cap;
	size_t detail_cap;
	struct fold_index policy_index;
	struct fold_index detail_index;
	struct fold_cache own_cache; /* used without fold_init_cached() */
	struct fold_cache *cache;
	struct strbuf fingerprint;
	time_t day_start;     /* of day_text, which is NULL before the first */
	const char *day_text; /* interned */
	uint64_t day_hash;
};

void fold_init(struct fold *fold);
void fold_init_cached(struct fold *fold, struct fold_cache *cache);
void fold_add(struct fold *fold, time_t received, const struct datagram *dg);
int fold_add_line(struct fold *fold, time_t received, const char *json,
		  size_t len, struct strbuf *reason);
void fold_finish(struct fold *fold);
void fold_free(struct fold *fold);

void fold_cache_init(struct fold_cache *cache);
void fold_cache_free(struct fold_cache *cache);

int fold_counter_compare(const struct fold_counter *left,
			 const struct fold_counter *right);
unsigned long long fold_saturating_add(unsigned long long left,
				       unsigned long long right);

#endif
