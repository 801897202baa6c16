/*
 * fold: add up the counters of one batch in memory; see fold.h.
 *
 * Counters are appended unsorted and compacted (sorted and merged) when
 * the unmerged tail grows as long as the merged part, so a batch of many
 * datagrams to few domains stays small while it is read.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fold.h"
#include "xalloc.h"

/* Compaction waits for at least this many unmerged counters. */
#define FOLD_COMPACT_MIN 4096

void fold_init(struct fold *fold)
{
	memset(fold, 0, sizeof(*fold));
}

unsigned long long fold_saturating_add(unsigned long long left,
				       unsigned long long right)
{
	return left > ULLONG_MAX - right ? ULLONG_MAX : left + right;
}

static int compare_text(const char *left, const char *right)
{
	if (left == NULL || right == NULL)
		return (left != NULL) - (right != NULL);
	return strcmp(left, right);
}

/* Order by day, domain, record, policy, detail: the store's key order. */
int fold_counter_compare(const struct fold_counter *left,
			 const struct fold_counter *right)
{
	int order = strcmp(left->day, right->day);

	if (order == 0)
		order = strcmp(left->domain, right->domain);
	if (order == 0)
		order = strcmp(left->record, right->record);
	if (order == 0)
		order = strcmp(left->policy, right->policy);
	if (order == 0)
		order = compare_text(left->detail, right->detail);
	return order;
}

static int compare_for_qsort(const void *left, const void *right)
{
	return fold_counter_compare(left, right);
}

static void counter_free(struct fold_counter *counter)
{
	free(counter->domain);
	free(counter->record);
	free(counter->policy);
	free(counter->detail);
}

/* Sort counters[0..*count) and merge equal keys; return the new count. */
static size_t compact(struct fold_counter *counters, size_t count)
{
	size_t kept = 0;
	size_t i;

	if (count == 0)
		return 0;
	qsort(counters, count, sizeof(*counters), compare_for_qsort);
	for (i = 1; i < count; i++) {
		struct fold_counter *last = &counters[kept];

		if (fold_counter_compare(last, &counters[i]) == 0) {
			last->success = fold_saturating_add(
			    last->success, counters[i].success);
			last->failure = fold_saturating_add(
			    last->failure, counters[i].failure);
			last->count =
			    fold_saturating_add(last->count, counters[i].count);
			counter_free(&counters[i]);
		} else {
			counters[++kept] = counters[i];
		}
	}
	return kept + 1;
}

static struct fold_counter *append(struct fold_counter **counters,
				   size_t *count, size_t *cap, size_t *merged)
{
	struct fold_counter *counter;

	if (*count - *merged >= FOLD_COMPACT_MIN &&
	    *count - *merged >= *merged) {
		*count = compact(*counters, *count);
		*merged = *count;
	}
	if (*count == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*counters = xreallocarray(*counters, *cap, sizeof(**counters));
	}
	counter = &(*counters)[(*count)++];
	memset(counter, 0, sizeof(*counter));
	return counter;
}

static void count_day(struct fold *fold, const char *day)
{
	size_t i;

	for (i = 0; i < fold->day_count; i++) {
		int order = strcmp(day, fold->days[i].day);

		if (order == 0) {
			fold->days[i].datagrams++;
			return;
		}
		if (order < 0)
			break;
	}
	fold->days =
	    xreallocarray(fold->days, fold->day_count + 1, sizeof(*fold->days));
	memmove(&fold->days[i + 1], &fold->days[i],
		(fold->day_count - i) * sizeof(*fold->days));
	memcpy(fold->days[i].day, day, sizeof(fold->days[i].day));
	fold->days[i].datagrams = 1;
	fold->day_count++;
}

static void add_details(struct fold *fold, const char *day,
			const struct datagram *dg, size_t index,
			const char *policy_key)
{
	const struct datagram_policy *policy = &dg->policies[index];
	size_t i;

	for (i = 0; i < policy->detail_count; i++) {
		struct fold_counter *counter =
		    append(&fold->details, &fold->detail_count,
			   &fold->detail_cap, &fold->detail_merged);

		memcpy(counter->day, day, sizeof(counter->day));
		counter->domain = xstrdup(dg->normalised_domain);
		counter->record = xstrdup(dg->record);
		counter->policy = xstrdup(policy_key);
		counter->detail = datagram_detail_key(&policy->details[i]);
		counter->count = 1;
	}
}

void fold_add(struct fold *fold, time_t received, const struct datagram *dg)
{
	char day[UTC_DAY_LEN + 1];
	size_t i;

	utc_day_format(received, day);
	count_day(fold, day);
	fold->datagrams++;

	for (i = 0; i < dg->policy_count; i++) {
		struct fold_counter *counter =
		    append(&fold->policies, &fold->policy_count,
			   &fold->policy_cap, &fold->policy_merged);

		memcpy(counter->day, day, sizeof(counter->day));
		counter->domain = xstrdup(dg->normalised_domain);
		counter->record = xstrdup(dg->record);
		counter->policy = datagram_policy_key(dg, i);
		if (dg->policies[i].failed)
			counter->failure = 1;
		else
			counter->success = 1;
		add_details(fold, day, dg, i, counter->policy);
	}
}

void fold_finish(struct fold *fold)
{
	fold->policy_count = compact(fold->policies, fold->policy_count);
	fold->policy_merged = fold->policy_count;
	fold->detail_count = compact(fold->details, fold->detail_count);
	fold->detail_merged = fold->detail_count;
}

void fold_free(struct fold *fold)
{
	size_t i;

	for (i = 0; i < fold->policy_count; i++)
		counter_free(&fold->policies[i]);
	for (i = 0; i < fold->detail_count; i++)
		counter_free(&fold->details[i]);
	free(fold->policies);
	free(fold->details);
	free(fold->days);
	memset(fold, 0, sizeof(*fold));
}
