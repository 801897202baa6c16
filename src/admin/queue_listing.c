/*
 * queue_listing: de-duplicate the entries of a queue listing; see
 * queue_listing.h.
 */
#include <stdlib.h>
#include <string.h>

#include "queue_file.h"
#include "queue_listing.h"
#include "xalloc.h"

/* The position of a state in the life of a delivery. */
static int state_rank(const char *state)
{
	if (strcmp(state, QUEUE_OUTGOING) == 0)
		return 0;
	if (strcmp(state, QUEUE_DEFERRED) == 0
	    || strcmp(state, QUEUE_HOLD) == 0)
		return 1;
	return 2;
}

static int compare_ids(const void *left, const void *right)
{
	const struct queue_listing_item *const *a = left;
	const struct queue_listing_item *const *b = right;

	return strcmp((*a)->id, (*b)->id);
}

/* Tell whether candidate should replace kept as the entry of their ID. */
static bool better(const struct queue_listing_item *candidate,
		   const struct queue_listing_item *kept,
		   bool (*exists)(const char *state, const char *id))
{
	bool candidate_exists = exists(candidate->state, candidate->id);
	bool kept_exists = exists(kept->state, kept->id);

	if (candidate_exists != kept_exists)
		return candidate_exists;
	return state_rank(candidate->state) > state_rank(kept->state);
}

size_t queue_listing_dedupe(struct queue_listing_item *items, size_t count,
			    bool (*exists)(const char *state,
					   const char *id))
{
	struct queue_listing_item **sorted;
	size_t marked = 0;
	size_t i;

	if (count < 2)
		return 0;

	/* Sorting pointers by ID puts the entries of one ID side by side
	 * without reordering the listing itself. */
	sorted = xcalloc(count, sizeof(*sorted));
	for (i = 0; i < count; i++)
		sorted[i] = &items[i];
	qsort(sorted, count, sizeof(*sorted), compare_ids);

	for (i = 1; i < count; i++) {
		struct queue_listing_item *kept = sorted[i - 1];
		struct queue_listing_item *candidate = sorted[i];

		if (strcmp(kept->id, candidate->id) != 0)
			continue;
		if (better(candidate, kept, exists)) {
			kept->duplicate = true;
		} else {
			candidate->duplicate = true;
			sorted[i] = kept;
		}
		marked++;
	}
	free(sorted);
	return marked;
}
