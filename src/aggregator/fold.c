/*
 * fold: add up the counters of one batch in memory; see fold.h.
 *
 * Every string of a counter (day, domain, record, policy key, detail key)
 * is interned, so a counter's key is five pointers and is found through a
 * hash index without comparing text.
 *
 * What a datagram adds is first described as a fold_line: its domain,
 * record, and each policy's key, result and detail keys, all interned.
 * A line that fold_add_line() saw before is added from its remembered
 * fold_line, without datagram_parse().
 *
 * Building the canonical policy key with cJSON is the costly step of a
 * new line. A new line often repeats a known policy (a failure after
 * many successes), so the key is also remembered per policy fingerprint.
 * The fingerprint is an exact encoding of every input of
 * datagram_policy_key() and must change whenever that function reads
 * another field. Detail keys are not remembered apart from their lines.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fold.h"
#include "xalloc.h"

#define FOLD_NO_COUNTER SIZE_MAX
#define FOLD_INITIAL_SLOTS 256

/* The contribution of one policy of a datagram. */
struct fold_line_policy {
	const char *key;
	bool failed;
	size_t detail_count;
	const char **details;
};

/* The contribution of one datagram, kept in the cache's line table. */
struct fold_line {
	const char *domain;
	const char *record;
	size_t policy_count;
	struct fold_line_policy *policies;
};

/* The key of a counter while it is looked up. */
struct counter_key {
	const char *day;
	uint64_t day_hash;
	const char *domain;
	const char *record;
	const char *policy;
	const char *detail;
};

void fold_cache_init(struct fold_cache *cache)
{
	intern_init(&cache->strings);
	intern_init(&cache->policies);
	intern_init(&cache->lines);
}

void fold_cache_free(struct fold_cache *cache)
{
	intern_free(&cache->strings);
	intern_free(&cache->policies);
	intern_free(&cache->lines);
}

static size_t cache_bytes(const struct fold_cache *cache)
{
	return cache->strings.bytes + cache->policies.bytes +
	       cache->lines.bytes;
}

void fold_init(struct fold *fold)
{
	memset(fold, 0, sizeof(*fold));
	fold_cache_init(&fold->own_cache);
	fold->cache = &fold->own_cache;
	strbuf_init(&fold->fingerprint);
}

/* No fold uses the cache now, so a full one can be emptied. */
void fold_init_cached(struct fold *fold, struct fold_cache *cache)
{
	if (cache_bytes(cache) > FOLD_CACHE_MAX_BYTES) {
		fold_cache_free(cache);
		fold_cache_init(cache);
	}
	fold_init(fold);
	fold->cache = cache;
}

static const char *intern_text(struct fold *fold, const char *text)
{
	return intern_string(&fold->cache->strings, text, strlen(text));
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

/* Combine interned pointers into a hash; equal keys have equal pointers,
 * so the pointer values are enough. */
static uint64_t mix(uint64_t hash, const void *pointer)
{
	hash ^= (uint64_t)(uintptr_t)pointer;
	hash *= 0x9e3779b97f4a7c15ULL;
	return hash ^ (hash >> 29);
}

static uint64_t key_hash(const struct counter_key *key)
{
	uint64_t hash = key->day_hash;

	hash = mix(hash, key->domain);
	hash = mix(hash, key->record);
	hash = mix(hash, key->policy);
	return mix(hash, key->detail);
}

static struct counter_key key_of(const struct fold_counter *counter)
{
	struct counter_key key = {counter->day,
				  intern_hash(counter->day, UTC_DAY_LEN),
				  counter->domain,
				  counter->record,
				  counter->policy,
				  counter->detail};

	return key;
}

static bool key_matches(const struct fold_counter *counter,
			const struct counter_key *key)
{
	return counter->domain == key->domain &&
	       counter->record == key->record &&
	       counter->policy == key->policy &&
	       counter->detail == key->detail &&
	       memcmp(counter->day, key->day, UTC_DAY_LEN) == 0;
}

/* Return the slot of key: the one holding its counter, or a free one. */
static size_t *find_slot(const struct fold_index *index,
			 const struct fold_counter *counters,
			 const struct counter_key *key)
{
	size_t mask = index->capacity - 1;
	size_t slot = (size_t)key_hash(key) & mask;

	while (index->slots[slot] != FOLD_NO_COUNTER &&
	       !key_matches(&counters[index->slots[slot]], key))
		slot = (slot + 1) & mask;
	return &index->slots[slot];
}

static void index_grow(struct fold_index *index,
		       const struct fold_counter *counters, size_t count)
{
	size_t i;

	free(index->slots);
	index->capacity =
	    index->capacity ? index->capacity * 2 : FOLD_INITIAL_SLOTS;
	index->slots = xreallocarray(NULL, index->capacity,
				     sizeof(*index->slots));
	for (i = 0; i < index->capacity; i++)
		index->slots[i] = FOLD_NO_COUNTER;
	for (i = 0; i < count; i++) {
		struct counter_key key = key_of(&counters[i]);

		*find_slot(index, counters, &key) = i;
	}
}

/* Return the counter of key, adding a zero one if it is new. */
static struct fold_counter *
find_counter(struct fold_counter **counters, size_t *count, size_t *cap,
	     struct fold_index *index, const struct counter_key *key)
{
	struct fold_counter *counter;
	size_t *slot;

	if ((*count + 1) * 2 > index->capacity)
		index_grow(index, *counters, *count);
	slot = find_slot(index, *counters, key);
	if (*slot != FOLD_NO_COUNTER)
		return &(*counters)[*slot];

	if (*count == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*counters = xreallocarray(*counters, *cap, sizeof(**counters));
	}
	*slot = *count;
	counter = &(*counters)[(*count)++];
	memset(counter, 0, sizeof(*counter));
	memcpy(counter->day, key->day, sizeof(counter->day));
	counter->domain = key->domain;
	counter->record = key->record;
	counter->policy = key->policy;
	counter->detail = key->detail;
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

/* Set the current day from a receive time; batches rarely span two. */
static void set_day(struct fold *fold, time_t received)
{
	char day[UTC_DAY_LEN + 1];

	if (fold->day_text != NULL && received >= fold->day_start &&
	    received - fold->day_start < UTC_DAY_SECONDS)
		return;
	utc_day_format(received, day);
	fold->day_text = intern_text(fold, day);
	fold->day_start = utc_day_start(received);
	fold->day_hash = intern_hash(day, UTC_DAY_LEN);
}

/* Append a number in binary; the fingerprint is never printed. */
static void put_number(struct strbuf *buf, size_t number)
{
	strbuf_append(buf, &number, sizeof(number));
}

/* Append text, or its absence, so that no two inputs encode alike: a
 * length prefix, never a separator that the text could contain. */
static void put_field(struct strbuf *buf, const char *text)
{
	size_t len;

	if (text == NULL) {
		put_number(buf, SIZE_MAX);
		return;
	}
	len = strlen(text);
	put_number(buf, len);
	strbuf_append(buf, text, len);
}

static void put_array(struct strbuf *buf, const cJSON *array)
{
	const cJSON *item;

	if (array == NULL) {
		put_number(buf, SIZE_MAX);
		return;
	}
	put_number(buf, (size_t)cJSON_GetArraySize(array));
	cJSON_ArrayForEach(item, array)
		put_field(buf, item->valuestring);
}

/* Encode every input of datagram_policy_key(dg, index). */
static void policy_fingerprint(struct strbuf *buf, const struct datagram *dg,
			       size_t index)
{
	const struct datagram_policy *policy = &dg->policies[index];

	strbuf_reset(buf);
	put_number(buf, (size_t)policy->type);
	put_field(buf, policy->policy_domain);
	if (policy->policy_domain == NULL)
		put_field(buf, dg->normalised_domain);
	put_array(buf, policy->policy_strings);
	put_array(buf, policy->mx_hosts);
}

/* Return the interned canonical key of a policy, built once per
 * fingerprint. */
static const char *policy_key(struct fold *fold, const struct datagram *dg,
			      size_t index)
{
	struct strbuf *print = &fold->fingerprint;
	struct intern_entry *entry;
	const char *key;
	char *text;

	policy_fingerprint(print, dg, index);
	entry = intern_find(&fold->cache->policies, print->data, print->len);
	if (entry != NULL)
		return entry->value;

	text = datagram_policy_key(dg, index);
	key = intern_text(fold, text);
	free(text);
	intern_add(&fold->cache->policies, print->data, print->len)->value =
	    key;
	return key;
}

/* Describe what a parsed datagram adds, in memory of the cache. */
static const struct fold_line *describe(struct fold *fold,
					const struct datagram *dg)
{
	struct intern *lines = &fold->cache->lines;
	struct fold_line *line = intern_alloc(lines, sizeof(*line));
	size_t i;

	line->domain = intern_text(fold, dg->normalised_domain);
	line->record = intern_text(fold, dg->record);
	line->policy_count = dg->policy_count;
	line->policies =
	    intern_alloc(lines, dg->policy_count * sizeof(*line->policies));
	for (i = 0; i < dg->policy_count; i++) {
		const struct datagram_policy *policy = &dg->policies[i];
		struct fold_line_policy *entry = &line->policies[i];
		size_t j;

		entry->key = policy_key(fold, dg, i);
		entry->failed = policy->failed;
		entry->detail_count = policy->detail_count;
		entry->details = intern_alloc(
		    lines, policy->detail_count * sizeof(*entry->details));
		for (j = 0; j < policy->detail_count; j++) {
			char *text = datagram_detail_key(&policy->details[j]);

			entry->details[j] = intern_text(fold, text);
			free(text);
		}
	}
	return line;
}

static void add_described(struct fold *fold, time_t received,
			  const struct fold_line *line)
{
	struct counter_key key;
	size_t i;
	size_t j;

	set_day(fold, received);
	count_day(fold, fold->day_text);
	fold->datagrams++;

	key.day = fold->day_text;
	key.day_hash = fold->day_hash;
	key.domain = line->domain;
	key.record = line->record;
	for (i = 0; i < line->policy_count; i++) {
		const struct fold_line_policy *policy = &line->policies[i];
		struct fold_counter *counter;

		key.policy = policy->key;
		key.detail = NULL;
		counter = find_counter(&fold->policies, &fold->policy_count,
				       &fold->policy_cap, &fold->policy_index,
				       &key);
		if (policy->failed)
			counter->failure = fold_saturating_add(counter->failure, 1);
		else
			counter->success = fold_saturating_add(counter->success, 1);

		for (j = 0; j < policy->detail_count; j++) {
			key.detail = policy->details[j];
			counter = find_counter(
			    &fold->details, &fold->detail_count,
			    &fold->detail_cap, &fold->detail_index, &key);
			counter->count = fold_saturating_add(counter->count, 1);
		}
	}
}

void fold_add(struct fold *fold, time_t received, const struct datagram *dg)
{
	add_described(fold, received, describe(fold, dg));
}

int fold_add_line(struct fold *fold, time_t received, const char *json,
		  size_t len, struct strbuf *reason)
{
	struct intern_entry *entry;
	const struct fold_line *line;
	struct datagram dg;

	entry = intern_find(&fold->cache->lines, json, len);
	if (entry != NULL) {
		add_described(fold, received, entry->value);
		return 0;
	}
	if (datagram_parse(json, len, &dg, reason) != 0) {
		datagram_free(&dg);
		return -1;
	}
	line = describe(fold, &dg);
	datagram_free(&dg);
	intern_add(&fold->cache->lines, json, len)->value = line;
	add_described(fold, received, line);
	return 0;
}

static void index_free(struct fold_index *index)
{
	free(index->slots);
	memset(index, 0, sizeof(*index));
}

void fold_finish(struct fold *fold)
{
	index_free(&fold->policy_index);
	index_free(&fold->detail_index);
	/* qsort() must not see the NULL array of an empty fold. */
	if (fold->policy_count > 0)
		qsort(fold->policies, fold->policy_count,
		      sizeof(*fold->policies), compare_for_qsort);
	if (fold->detail_count > 0)
		qsort(fold->details, fold->detail_count,
		      sizeof(*fold->details), compare_for_qsort);
}

void fold_free(struct fold *fold)
{
	index_free(&fold->policy_index);
	index_free(&fold->detail_index);
	free(fold->policies);
	free(fold->details);
	free(fold->days);
	fold_cache_free(&fold->own_cache);
	strbuf_free(&fold->fingerprint);
	memset(fold, 0, sizeof(*fold));
}
