/*
 * day_status: per-domain totals of one day's summary; see day_status.h.
 *
 * collect_entries() sorts the counter lines by domain, so that each domain
 * is one run of lines. The failure types of a run are added up per result
 * type, and the largest ones are printed.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "admin_request.h"
#include "day_status.h"
#include "xalloc.h"

/* One counter line reduced to what the table shows. */
struct status_entry {
	const char *domain;
	const char *type; /* result type of a detail line, else NULL */
	unsigned long long sessions;
	unsigned long long failures;
	unsigned long long count; /* failure-details of a detail line */
};

/* The totals of one domain. */
struct domain_totals {
	unsigned long long sessions;
	unsigned long long failures;
};

static unsigned long long add_capped(unsigned long long left,
				     unsigned long long right)
{
	return left > ULLONG_MAX - right ? ULLONG_MAX : left + right;
}

static int compare_entries(const void *left, const void *right)
{
	const struct status_entry *a = left;
	const struct status_entry *b = right;
	int order = strcmp(a->domain, b->domain);

	if (order != 0)
		return order;
	if (a->type == NULL || b->type == NULL)
		return (a->type != NULL) - (b->type != NULL);
	return strcmp(a->type, b->type);
}

/* Order by count, largest first, then by name. */
static int compare_by_count(const void *left, const void *right)
{
	const struct status_entry *a = left;
	const struct status_entry *b = right;

	if (a->count != b->count)
		return a->count < b->count ? 1 : -1;
	return strcmp(a->type, b->type);
}

static const char *result_type_of(const struct summary_counter *counter)
{
	const cJSON *type =
	    cJSON_GetObjectItemCaseSensitive(counter->detail, "result-type");

	return cJSON_IsString(type) ? type->valuestring : "(no result-type)";
}

/* Return the entries of a summary, sorted by domain and result type. */
static struct status_entry *collect_entries(const struct summary *summary)
{
	struct status_entry *entries =
	    xcalloc(summary->counter_count + 1, sizeof(*entries));
	size_t i;

	for (i = 0; i < summary->counter_count; i++) {
		const struct summary_counter *counter = &summary->counters[i];
		struct status_entry *entry = &entries[i];

		entry->domain = counter->domain;
		if (counter->is_detail) {
			entry->type = result_type_of(counter);
			entry->count = counter->count;
		} else {
			entry->sessions =
			    add_capped(counter->success, counter->failure);
			entry->failures = counter->failure;
		}
	}
	qsort(entries, summary->counter_count, sizeof(*entries),
	      compare_entries);
	return entries;
}

static void add_totals(struct domain_totals *totals,
		       const struct status_entry *entry)
{
	totals->sessions = add_capped(totals->sessions, entry->sessions);
	totals->failures = add_capped(totals->failures, entry->failures);
}

/* Merge the detail entries of one domain per result type, in place;
 * return how many types remain at the front of types. */
static size_t merge_types(struct status_entry *types, size_t count)
{
	size_t kept = 0;
	size_t i;

	for (i = 0; i < count; i++) {
		if (types[i].type == NULL)
			continue;
		if (kept > 0 && strcmp(types[kept - 1].type, types[i].type) == 0)
			types[kept - 1].count =
			    add_capped(types[kept - 1].count, types[i].count);
		else
			types[kept++] = types[i];
	}
	return kept;
}

/* Print one domain's row from its entries, which it may reorder. */
static void print_row(FILE *out, struct status_entry *run, size_t count)
{
	struct domain_totals totals = {0, 0};
	const char *domain = run[0].domain;
	size_t types;
	size_t i;

	for (i = 0; i < count; i++)
		add_totals(&totals, &run[i]);
	types = merge_types(run, count);
	qsort(run, types, sizeof(*run), compare_by_count);

	fprintf(out, "%-32s %10llu %10llu  ", domain, totals.sessions,
		totals.failures);
	if (types == 0)
		fputs("-", out);
	for (i = 0; i < types && i < DAY_STATUS_TOP_TYPES; i++)
		fprintf(out, "%s%s %llu", i > 0 ? ", " : "", run[i].type,
			run[i].count);
	fputc('\n', out);
}

/* Return the length of the run of entries that share entries[0]'s
 * domain. */
static size_t run_length(const struct status_entry *entries, size_t count)
{
	size_t length = 1;

	while (length < count &&
	       strcmp(entries[length].domain, entries[0].domain) == 0)
		length++;
	return length;
}

void day_status_print(const struct summary *summary, FILE *out)
{
	struct status_entry *entries = collect_entries(summary);
	struct domain_totals totals = {0, 0};
	size_t count = summary->counter_count;
	size_t domains = 0;
	size_t length;
	size_t start;

	/* The first line has the totals, so they are added up first. */
	for (start = 0; start < count; start += length) {
		length = run_length(entries + start, count - start);
		domains++;
	}
	for (start = 0; start < count; start++)
		add_totals(&totals, &entries[start]);
	fprintf(out,
		"day %s: %s summary, %zu domains, %llu sessions, %llu "
		"failures\n",
		summary->day, summary->kind, domains, totals.sessions,
		totals.failures);
	if (count > 0)
		fprintf(out, "%-32s %10s %10s  %s\n", "domain", "sessions",
			"failures", "top failure types");

	for (start = 0; start < count; start += length) {
		length = run_length(entries + start, count - start);
		print_row(out, entries + start, length);
	}
	free(entries);
}

int day_status_command(const char *text)
{
	char day[UTC_DAY_LEN + 1];
	struct summary summary;

	if (admin_request_parse_day(text, day) != 0) {
		fprintf(stderr,
			"tlsrptd: invalid day \"%s\": expected YYYY-MM-DD, "
			"today or yesterday\n",
			text);
		return 2;
	}
	if (admin_request_enter_queue() != 0)
		return 1;
	if (admin_request_fetch(day, &summary) != 0)
		return 1;
	day_status_print(&summary, stdout);
	if (summary.counter_count == 0) {
		struct strbuf reason;

		strbuf_init(&reason);
		admin_request_empty_reason(day, &reason);
		printf("nothing counted for %s (%s)\n", day, reason.data);
		strbuf_free(&reason);
	}
	summary_free(&summary);
	return 0;
}
