/*
 * fuzz_summary_file: libFuzzer target for day summary files (days/,
 * export/), which the reporter treats as untrusted input because they
 * may come from other hosts.
 *
 * Each input is read by both readers and built into reports as their
 * callers do. "tlsrptd report" uses summary_read() and
 * report_build_all(); the reporter uses the stream reader and
 * report_build_group(). The stream runs twice: with the default limits,
 * and with limits so small that it must sort the file into scratch
 * space. Besides the sanitizers, the target
 * checks these properties and aborts when one fails:
 * - both readers accept or reject the same files, and see the same
 *   number of counter lines;
 * - every counter line carries what summary_file.h promises (domain,
 *   record, policy object, detail object for detail lines, counts within
 *   SUMMARY_MAX_COUNT);
 * - the stream returns groups in strictly increasing (domain, record)
 *   order, each key once, and the sorting stream returns the same groups
 *   as the merging one;
 * - every report built has JSON that parses and a gzip member that
 *   decompresses to exactly that JSON.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "gzip.h"
#include "report.h"
#include "strbuf.h"
#include "summary_file.h"
#include "xalloc.h"

/* Fixed values in place of main.cf, so the target needs no config. */
static const struct report_identity identity = {
    .organization_name = "Example Fuzzing Org",
    .contact_info = "mailto:tlsrpt@example.net",
    .submitter = "example.net",
    .max_failure_details = 100,
    .max_size = 5 * 1024 * 1024,
    .success_only_days = true,
};

/* Small enough that a few lines out of order force the sort. */
static const struct summary_stream_limits sorting_limits = {
    .merge_runs = 2,
    .sort_chunk = 256,
};

/* What one pass of the stream returned, for comparing two passes. */
struct groups_seen {
	struct strbuf keys; /* "domain\trecord\tcount\n" per group */
	unsigned long long counters;
};

static char *scratch_template;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logs();
	scratch_template = xasprintf("%s/sort.XXXXXX", fuzz_directory());
	return 0;
}

static _Noreturn void broken(const char *problem, size_t index)
{
	fprintf(stderr, "fuzz_summary_file: %s (item %zu)\n", problem, index);
	abort();
}

static void check_counter(const struct summary_counter *counter, size_t index)
{
	if (counter->domain == NULL || counter->record == NULL ||
	    !cJSON_IsObject(counter->policy))
		broken("counter without domain, record or policy", index);
	if (counter->is_detail && !cJSON_IsObject(counter->detail))
		broken("detail line without a detail object", index);
	if (counter->success > SUMMARY_MAX_COUNT ||
	    counter->failure > SUMMARY_MAX_COUNT ||
	    counter->count > SUMMARY_MAX_COUNT)
		broken("count above SUMMARY_MAX_COUNT", index);
}

static void check_report(const struct report *report, size_t index)
{
	cJSON *tree = cJSON_Parse(report->json);
	size_t len = strlen(report->json);
	char *json;
	size_t json_len;

	if (!cJSON_IsObject(tree))
		broken("report JSON is not an object", index);
	cJSON_Delete(tree);
	if (gzip_decompress(report->gzip, report->gzip_len, len, &json,
			    &json_len) != 0)
		broken("report gzip does not decompress", index);
	if (json_len != len || memcmp(json, report->json, len) != 0)
		broken("report gzip differs from its JSON", index);
	free(json);
}

/* Read path with summary_read() and build its reports; return the
 * number of counter lines, or -1 when the file is rejected. */
static long long read_whole(const char *path)
{
	struct report *reports = NULL;
	struct summary summary;
	struct strbuf error;
	size_t count = 0;
	long long lines;
	size_t i;

	strbuf_init(&error);
	if (summary_read(path, &summary, &error) != 0) {
		if (error.len == 0)
			broken("summary_read() rejects without a reason", 0);
		strbuf_free(&error);
		return -1;
	}
	for (i = 0; i < summary.counter_count; i++)
		check_counter(&summary.counters[i], i);
	if (report_build_all(&summary, &identity, &reports, &count, &error) ==
	    0)
		for (i = 0; i < count; i++)
			check_report(&reports[i], i);
	report_free_all(reports, count);
	lines = (long long)summary.counter_count;
	summary_free(&summary);
	strbuf_free(&error);
	return lines;
}

/* Check one group against the one before it and note it in seen. */
static void note_group(const struct summary_group *group,
		       struct groups_seen *seen, char **last_domain,
		       char **last_record, size_t index)
{
	struct report report;
	size_t i;

	if (*last_domain != NULL) {
		int order = strcmp(*last_domain, group->domain);

		if (order > 0 ||
		    (order == 0 && strcmp(*last_record, group->record) >= 0))
			broken("groups out of order or repeated", index);
	}
	free(*last_domain);
	free(*last_record);
	*last_domain = xstrdup(group->domain);
	*last_record = xstrdup(group->record);
	for (i = 0; i < group->counter_count; i++)
		check_counter(&group->counters[i], i);
	strbuf_printf(&seen->keys, "%s\t%s\t%zu\n", group->domain,
		      group->record, group->counter_count);
	seen->counters += group->counter_count;
	if (report_build_group(group, "2026-12-04", &identity, &report) == 0) {
		check_report(&report, index);
		report_free(&report);
	}
}

/* Read path with the stream reader; return -1 when it is rejected. */
static int read_stream(const char *path,
		       const struct summary_stream_limits *limits,
		       struct groups_seen *seen)
{
	struct summary_stream stream;
	struct summary_group group;
	struct strbuf error;
	char *last_domain = NULL;
	char *last_record = NULL;
	size_t index = 0;
	int status;

	strbuf_init(&error);
	if (summary_stream_open(&stream, path, scratch_template, limits,
				&error) != 0) {
		if (error.len == 0)
			broken("summary_stream_open() rejects without a "
			       "reason",
			       0);
		strbuf_free(&error);
		return -1;
	}
	while ((status = summary_stream_next(&stream, &group, &error)) == 1)
		note_group(&group, seen, &last_domain, &last_record, index++);
	if (status != 0)
		broken("summary_stream_next() fails on a checked file", index);
	if (seen->counters != stream.counter_count)
		broken("groups do not hold every counter line", index);
	summary_stream_close(&stream);
	free(last_domain);
	free(last_record);
	strbuf_free(&error);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = fuzz_write_file("summary", data, size);
	struct groups_seen merged = {.counters = 0};
	struct groups_seen sorted = {.counters = 0};
	long long lines = read_whole(path);
	int merged_status;
	int sorted_status;

	strbuf_init(&merged.keys);
	strbuf_init(&sorted.keys);
	merged_status = read_stream(path, NULL, &merged);
	sorted_status = read_stream(path, &sorting_limits, &sorted);
	if ((lines < 0) != (merged_status < 0) ||
	    merged_status != sorted_status)
		broken("the readers disagree on whether the file is valid", 0);
	if (lines >= 0 && (merged.counters != (unsigned long long)lines ||
			   sorted.counters != merged.counters))
		broken("the readers see different numbers of lines", 0);
	if (strcmp(merged.keys.data, sorted.keys.data) != 0)
		broken("sorting changes the groups", 0);
	strbuf_free(&merged.keys);
	strbuf_free(&sorted.keys);
	free(path);
	return 0;
}
