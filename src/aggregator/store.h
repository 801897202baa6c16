/*
 * store: the aggregator's counter database, a transactional Berkeley DB
 * 5.3 environment in the queue directory's db/.
 *
 * Databases (B-trees, one file each):
 *	policy.db	day\0domain\0record\0policy -> success, failure
 *	detail.db	day\0domain\0record\0policy\0detail -> count
 *	day.db		day -> state and the queue ID of its final summary
 *	batch.db	batch queue ID -> applied day, datagram count
 *	applied.db	applied day\0batch queue ID -> (empty), for expiry
 *	supplement.db	batch queue ID -> "day summary-ID" lines still to write
 *	meta.db		"expired-before" -> the day after the newest expired day
 * Counts are unsigned 64-bit, stored big-endian, and saturate at
 * ULLONG_MAX. Keys sort by day first, so a day's counters are one range.
 *
 * Contract:
 * - store_open() takes an exclusive lock on db/, then opens the
 *   environment with recovery, so a crash never leaves a half-applied
 *   batch. A second process that opens the store fails instead of
 *   running recovery under the first one.
 * - store_apply() adds a folded batch and records its queue ID in one
 *   transaction. A batch whose ID is already recorded changes nothing.
 *   Days of the batch that are already closed get a supplement summary
 *   ID, recorded in the same transaction, so the caller can write the
 *   supplement after the commit and redo it after a crash.
 * - A batch with more counters than one transaction can lock is applied
 *   in parts. Each call commits the next part with a progress record in
 *   meta.db and returns 2, so the caller calls again with the same fold.
 *   The last part records the batch ID and returns 0. After a crash the
 *   calls go on from the recorded part, so every counter is still added
 *   once, provided the batch file folds as before.
 *   store_set_apply_chunk() sets the counters per part (0: the default).
 * - A day's state only moves forward: open, closing (final summary ID
 *   chosen), closed. A day before "expired-before" that has no row is
 *   treated as closed: its counters were expired after it was closed.
 *
 * Functions return 0 on success and -1 with a message in error on
 * failure; store_apply() returns 1 for a batch counted before and 2 after
 * a part of a large batch. After a failure with DB_RUNRECOVERY,
 * store_needs_recovery() is true and the caller must exit so that the
 * next start runs recovery.
 */
#ifndef TLSRPTD_STORE_H
#define TLSRPTD_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "fold.h"
#include "queue_file.h"
#include "strbuf.h"
#include "utc_time.h"

enum store_day_state {
	STORE_DAY_NONE, /* nothing counted, never closed */
	STORE_DAY_OPEN,
	STORE_DAY_CLOSING, /* final summary chosen, maybe not written */
	STORE_DAY_CLOSED,
};

struct store_day {
	char day[UTC_DAY_LEN + 1];
	enum store_day_state state;
	char summary_id[QUEUE_ID_LEN + 1]; /* closing and closed days */
};

/* A supplement summary that a batch for a closed day needs. */
struct store_supplement {
	char day[UTC_DAY_LEN + 1];
	char summary_id[QUEUE_ID_LEN + 1];
};

/* Callbacks for store_export(); a non-zero return stops the export. */
struct store_visitor {
	int (*policy)(const char *domain, const char *record,
		      const char *policy, unsigned long long success,
		      unsigned long long failure, void *context);
	int (*detail)(const char *domain, const char *record,
		      const char *policy, const char *detail,
		      unsigned long long count, void *context);
};

/* Counts of the counters that store_expire_day() deleted. */
struct store_expiry {
	unsigned long long policies;
	unsigned long long details;
};

struct store;

struct store *store_open(const char *home, struct strbuf *error);
int store_close(struct store *store, struct strbuf *error);
bool store_needs_recovery(const struct store *store);
int store_checkpoint(struct store *store, bool force, struct strbuf *error);

int store_apply(struct store *store, const char *batch_id,
		const char *applied_day, const struct fold *fold,
		struct store_supplement **supplements, size_t *count,
		struct strbuf *error);
void store_set_apply_chunk(struct store *store, size_t counters);
int store_supplements_done(struct store *store, const char *batch_id,
			   struct strbuf *error);
int store_supplement_batches(struct store *store, char ***batch_ids,
			     size_t *count, struct strbuf *error);

int store_days(struct store *store, struct store_day **days, size_t *count,
	       struct strbuf *error);
int store_day_get(struct store *store, const char *day,
		  struct store_day *result, struct strbuf *error);
int store_day_closing(struct store *store, const char *day,
		      const char *summary_id, struct strbuf *error);
int store_day_closed(struct store *store, const char *day,
		     struct strbuf *error);

int store_export(struct store *store, const char *day,
		 const struct store_visitor *visitor, void *context,
		 struct strbuf *error);
int store_expire_day(struct store *store, const char *day,
		     struct store_expiry *expiry, struct strbuf *error);
int store_expire_batches(struct store *store, const char *before_day,
			 unsigned long long *count, struct strbuf *error);

#endif
