/*
 * Unit tests for the summary stream reader that the reporter builds its
 * reports from. Groups come out in (domain, record) order whatever the
 * line order of the file, with every line exactly once. Files with many
 * sorted runs go through the external sort. Bad files are rejected as
 * summary_read() rejects them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "domain.h"
#include "strbuf.h"
#include "summary_file.h"
#include "xalloc.h"

#define TEST_DAY	"2026-03-01"
#define SCRATCH		"scratch.XXXXXX"

static char *work_dir;

static const char *const policy_json =
	"{\"policy-type\":\"no-policy-found\",\"policy-string\":[],"
	"\"policy-domain\":\"%s\",\"mx-host\":[]}";

static int setup_dir(void **state)
{
	char template[] = "/tmp/test_report_stream.XXXXXX";

	(void)state;
	if (mkdtemp(template) == NULL)
		return -1;
	work_dir = xstrdup(template);
	return chdir(work_dir);
}

static int teardown_dir(void **state)
{
	char *command = xasprintf("rm -rf '%s'", work_dir);
	int status;

	(void)state;
	status = system(command);
	free(command);
	free(work_dir);
	return status == 0 ? 0 : -1;
}

static char *policy_line(const char *domain, const char *record,
			 unsigned long long success)
{
	char *policy = xasprintf(policy_json, domain);
	char *line = xasprintf("policy {\"domain\":\"%s\",\"record\":\"%s\","
			       "\"policy\":%s,\"success\":%llu,\"failure\":0}",
			       domain, record, policy, success);

	free(policy);
	return line;
}

static char *detail_line(const char *domain, const char *record,
			 const char *reason)
{
	char *policy = xasprintf(policy_json, domain);
	char *line = xasprintf("detail {\"domain\":\"%s\",\"record\":\"%s\","
			       "\"policy\":%s,\"detail\":{\"result-type\":"
			       "\"validation-failure\",\"failure-reason-code\":"
			       "\"%s\"},\"count\":1}", domain, record, policy,
			       reason);

	free(policy);
	return line;
}

/* Write a summary file with these body lines and the given end count. */
static void write_file(const char *path, char *const *lines, size_t count,
		       unsigned long long end_count)
{
	FILE *fp = fopen(path, "w");
	size_t i;

	assert_non_null(fp);
	fprintf(fp, "tlsrptd-summary 1\nday: %s\nkind: final\n"
		"created: %sT00:30:00Z\nhost: mx1.example.net\n\n", TEST_DAY,
		TEST_DAY);
	for (i = 0; i < count; i++)
		fprintf(fp, "%s\n", lines[i]);
	fprintf(fp, "end %llu\n", end_count);
	assert_int_equal(fclose(fp), 0);
}

static void free_lines(char **lines, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(lines[i]);
	free(lines);
}

static int compare_strings(const void *left, const void *right)
{
	return strcmp(*(char *const *)left, *(char *const *)right);
}

/* What a stream returned: each line re-printed as written, with the
 * number of its group. */
struct collected {
	char **lines;
	size_t *groups;
	size_t count;
	size_t group_count;
};

static void collect_free(struct collected *got)
{
	free_lines(got->lines, got->count);
	free(got->groups);
}

static char *normalised(const char *domain)
{
	struct strbuf why;
	char *result;

	strbuf_init(&why);
	if (domain_normalise(domain, false, &result, &why) != 0)
		result = xstrdup(domain);
	strbuf_free(&why);
	return result;
}

/* Read every group, checking the order of the groups and that every line
 * belongs to its group. */
static void collect(struct summary_stream *stream, struct collected *got)
{
	struct summary_group group;
	struct strbuf error;
	char *last_domain = NULL;
	char *last_record = NULL;
	int status;

	memset(got, 0, sizeof(*got));
	strbuf_init(&error);
	while ((status = summary_stream_next(stream, &group, &error)) == 1) {
		size_t i;

		assert_true(group.counter_count > 0);
		if (last_domain != NULL) {
			int order = strcmp(group.domain, last_domain);

			assert_true(order > 0 || (order == 0 && strcmp(
				group.record, last_record) > 0));
		}
		free(last_domain);
		free(last_record);
		last_domain = xstrdup(group.domain);
		last_record = xstrdup(group.record);
		for (i = 0; i < group.counter_count; i++) {
			const struct summary_counter *counter =
				&group.counters[i];
			char *domain = normalised(counter->domain);
			char *text = cJSON_PrintUnformatted(counter->tree);

			assert_string_equal(domain, group.domain);
			assert_string_equal(counter->record, group.record);
			got->lines = xreallocarray(got->lines, got->count + 1,
						   sizeof(*got->lines));
			got->groups = xreallocarray(got->groups, got->count + 1,
						    sizeof(*got->groups));
			got->lines[got->count] = xasprintf(
				"%s %s", counter->is_detail ? "detail"
				: "policy", text);
			got->groups[got->count++] = got->group_count;
			cJSON_free(text);
			free(domain);
		}
		got->group_count++;
	}
	if (status != 0)
		fail_msg("summary_stream_next: %s", error.data);
	free(last_domain);
	free(last_record);
	strbuf_free(&error);
}

/* The stream returned exactly the lines written, each once. */
static void assert_same_lines(struct collected *got, char **lines,
			      size_t count)
{
	char **expected = xcalloc(count + 1, sizeof(*expected));
	char **actual = xcalloc(got->count + 1, sizeof(*actual));
	size_t i;

	assert_int_equal(got->count, count);
	memcpy(expected, lines, count * sizeof(*lines));
	memcpy(actual, got->lines, count * sizeof(*actual));
	qsort(expected, count, sizeof(*expected), compare_strings);
	qsort(actual, count, sizeof(*actual), compare_strings);
	for (i = 0; i < count; i++)
		assert_string_equal(actual[i], expected[i]);
	free(expected);
	free(actual);
}

static void open_stream(struct summary_stream *stream, const char *path,
			const struct summary_stream_limits *limits)
{
	struct strbuf error;

	strbuf_init(&error);
	if (summary_stream_open(stream, path, SCRATCH, limits, &error) != 0)
		fail_msg("summary_stream_open %s: %s", path, error.data);
	strbuf_free(&error);
}

/* Lines for domains d0000..d(n-1), a policy line and a detail line each,
 * in the order the aggregator writes them: every policy line in key
 * order, then every detail line in key order. */
static char **aggregator_lines(size_t domains, size_t *count)
{
	char **lines = xcalloc(2 * domains + 1, sizeof(*lines));
	size_t i;

	for (i = 0; i < domains; i++) {
		char *domain = xasprintf("d%04zu.example", i);

		lines[i] = policy_line(domain, "v=TLSRPTv1;rua=mailto:r@"
				       "example.net", i + 1);
		lines[domains + i] = detail_line(domain, "v=TLSRPTv1;rua="
						 "mailto:r@example.net",
						 "reason");
		free(domain);
	}
	*count = 2 * domains;
	return lines;
}

/* The aggregator's two sorted runs are merged without sorting. */
static void stream_merges_runs(void **state)
{
	struct summary_stream stream;
	struct collected got;
	size_t count;
	char **lines = aggregator_lines(50, &count);
	size_t i;

	(void)state;
	write_file("runs", lines, count, count);
	open_stream(&stream, "runs", NULL);
	assert_string_equal(stream.day, TEST_DAY);
	assert_string_equal(stream.kind, "final");
	assert_string_equal(stream.host, "mx1.example.net");
	assert_int_equal(stream.counter_count, count);
	assert_int_equal(stream.run_count, 2);
	assert_false(stream.sorted);
	collect(&stream, &got);
	assert_int_equal(got.group_count, 50);

	/* Each group has its domain's policy line and detail line. */
	for (i = 0; i < got.count; i += 2)
		assert_int_equal(got.groups[i], got.groups[i + 1]);
	assert_same_lines(&got, lines, count);
	collect_free(&got);
	summary_stream_close(&stream);
	free_lines(lines, count);
}

/* Lines in reverse order make one run per line: with more runs than
 * merge_runs, the file is sorted in chunks first. */
static void stream_sorts_many_runs(void **state)
{
	const struct summary_stream_limits limits = { 4, 2000 };
	struct summary_stream stream;
	struct collected got;
	size_t count;
	char **lines = aggregator_lines(300, &count);
	char **reversed = xcalloc(count, sizeof(*reversed));
	size_t i;

	(void)state;
	for (i = 0; i < count; i++)
		reversed[i] = lines[count - 1 - i];
	write_file("reversed", reversed, count, count);
	open_stream(&stream, "reversed", &limits);
	assert_true(stream.sorted);
	assert_true(stream.run_count > 4);
	collect(&stream, &got);
	assert_int_equal(got.group_count, 300);
	assert_same_lines(&got, lines, count);
	collect_free(&got);
	summary_stream_close(&stream);

	/* The same file with the default limits: 600 runs are more than
	 * SUMMARY_MERGE_RUNS, so it is sorted too, in one chunk. */
	open_stream(&stream, "reversed", NULL);
	assert_true(stream.sorted);
	collect(&stream, &got);
	assert_same_lines(&got, lines, count);
	collect_free(&got);
	summary_stream_close(&stream);

	/* No scratch file is left behind. */
	assert_int_equal(system("test \"$(ls | grep -c '^scratch')\" = 0"),
			 0);
	free(reversed);
	free_lines(lines, count);
}

/* Lines of one report group meet even when their domains are written
 * differently and other domains sort between them. */
static void stream_groups_normalised_domains(void **state)
{
	const char *record = "v=TLSRPTv1;rua=mailto:r@example.net";
	char *lines[] = {
		policy_line("Example.COM.", record, 1),
		policy_line("bad domain!", record, 1),
		policy_line("aaa.example", record, 1),
		policy_line("example.com", record, 2),
		policy_line("example.com",
			    "v=TLSRPTv1;rua=mailto:x@example.net", 3),
		detail_line("EXAMPLE.com", record, "r"),
	};
	size_t count = sizeof(lines) / sizeof(lines[0]);
	struct summary_group group;
	struct summary_stream stream;
	struct strbuf error;
	size_t i;

	(void)state;
	write_file("mixed", lines, count, count);
	open_stream(&stream, "mixed", NULL);
	strbuf_init(&error);

	assert_int_equal(summary_stream_next(&stream, &group, &error), 1);
	assert_string_equal(group.domain, "aaa.example");
	assert_null(group.invalid_reason);

	/* "bad domain!" sorts before "example.com" by its raw text. */
	assert_int_equal(summary_stream_next(&stream, &group, &error), 1);
	assert_string_equal(group.domain, "bad domain!");
	assert_non_null(strstr(group.invalid_reason, "invalid character"));

	assert_int_equal(summary_stream_next(&stream, &group, &error), 1);
	assert_string_equal(group.domain, "example.com");
	assert_string_equal(group.record, record);
	assert_int_equal(group.counter_count, 3);

	assert_int_equal(summary_stream_next(&stream, &group, &error), 1);
	assert_string_equal(group.domain, "example.com");
	assert_string_equal(group.record,
			    "v=TLSRPTv1;rua=mailto:x@example.net");
	assert_int_equal(group.counter_count, 1);
	assert_int_equal(group.counters[0].success, 3);

	assert_int_equal(summary_stream_next(&stream, &group, &error), 0);
	assert_int_equal(error.len, 0);
	strbuf_free(&error);
	summary_stream_close(&stream);
	for (i = 0; i < count; i++)
		free(lines[i]);
}

static void stream_empty_body(void **state)
{
	struct summary_stream stream;
	struct summary_group group;
	struct strbuf error;

	(void)state;
	write_file("empty", NULL, 0, 0);
	open_stream(&stream, "empty", NULL);
	assert_int_equal(stream.run_count, 0);
	strbuf_init(&error);
	assert_int_equal(summary_stream_next(&stream, &group, &error), 0);
	strbuf_free(&error);
	summary_stream_close(&stream);
}

/* Write raw file text and expect both readers to reject it. */
static void expect_rejected(const char *text, size_t len,
			    const char *expected_error)
{
	struct summary_stream stream;
	struct summary summary;
	struct strbuf error;
	FILE *fp = fopen("bad", "w");

	if (len == (size_t)-1)
		len = strlen(text);
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);

	strbuf_init(&error);
	if (summary_stream_open(&stream, "bad", SCRATCH, NULL, &error) != -1)
		fail_msg("stream accepted a file with %s", expected_error);
	if (strstr(error.data, expected_error) == NULL)
		fail_msg("stream error \"%s\" lacks \"%s\"", error.data,
			 expected_error);
	strbuf_reset(&error);
	if (summary_read("bad", &summary, &error) != -1)
		fail_msg("summary_read accepted a file with %s",
			 expected_error);
	strbuf_free(&error);
}

static void stream_rejects_bad_files(void **state)
{
	const char *header = "tlsrptd-summary 1\nday: " TEST_DAY
			     "\nkind: final\n\n";
	char *good = policy_line("example.com", "v=TLSRPTv1;rua=mailto:r@"
				 "example.net", 1);
	/* What follows the first, valid line. */
	struct {
		const char *rest;
		const char *why;
	} cases[] = {
		{"", "missing end record"},
		{"end 1", "torn file"},
		{"end 2\n", "end record counts 2 lines, file has 1"},
		{"end 1\nmore\n", "data after the end record"},
		{"policy {\"domain\":1}\nend 2\n",
		 "line 2: missing domain or record"},
		{"summary x\nend 2\n", "line 2: line is neither"},
		{"policy {oops\nend 2\n", "line 2: invalid JSON"},
		{"end x\n", "invalid end record"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf text;

		strbuf_init(&text);
		strbuf_printf(&text, "%s%s\n%s", header, good, cases[i].rest);
		expect_rejected(text.data, text.len, cases[i].why);
		strbuf_free(&text);
	}
	expect_rejected("tlsrptd-summary 2\nday: " TEST_DAY "\nkind: final\n"
			"\nend 0\n", -1, "invalid format version line");
	expect_rejected("tlsrptd-summary 1\nday: 2026-13-01\nkind: final\n"
			"\nend 0\n", -1, "missing or invalid day header");
	expect_rejected("tlsrptd-summary 1\nday: " TEST_DAY "\nkind: odd\n"
			"\nend 0\n", -1, "missing or invalid kind header");
	expect_rejected("tlsrptd-summary 1\nday: " TEST_DAY "\n",
			-1, "missing blank line after header");
	free(good);
}

/* NUL bytes and over-long lines are rejected by the stream. */
static void stream_rejects_nul_and_long_lines(void **state)
{
	char *good = policy_line("example.com", "v=TLSRPTv1;rua=mailto:r@"
				 "example.net", 1);
	struct summary_stream stream;
	struct strbuf text;
	struct strbuf error;
	FILE *fp;

	(void)state;
	strbuf_init(&text);
	strbuf_puts(&text, "tlsrptd-summary 1\nday: " TEST_DAY
		    "\nkind: final\n\npolicy {");
	strbuf_putc(&text, '\0');
	strbuf_puts(&text, "}\nend 1\n");
	fp = fopen("nul", "w");
	assert_int_equal(fwrite(text.data, 1, text.len, fp), text.len);
	assert_int_equal(fclose(fp), 0);
	strbuf_init(&error);
	assert_int_equal(summary_stream_open(&stream, "nul", SCRATCH, NULL,
					     &error), -1);
	assert_non_null(strstr(error.data, "line 1: NUL byte"));

	/* NUL bytes after the count of the end record:
	 * both readers reject the file. */
	strbuf_reset(&text);
	strbuf_reset(&error);
	strbuf_printf(&text, "tlsrptd-summary 1\nday: " TEST_DAY
		      "\nkind: final\n\n%s\nend 1", good);
	strbuf_append(&text, "\0\0\0\n", 4);
	expect_rejected(text.data, text.len, "invalid end record");

	strbuf_reset(&text);
	strbuf_reset(&error);
	strbuf_puts(&text, "tlsrptd-summary 1\nday: " TEST_DAY
		    "\nkind: final\n\npolicy ");
	while (text.len < SUMMARY_MAX_LINE + 100)
		strbuf_puts(&text, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	strbuf_puts(&text, "\nend 1\n");
	fp = fopen("long", "w");
	assert_int_equal(fwrite(text.data, 1, text.len, fp), text.len);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(summary_stream_open(&stream, "long", SCRATCH, NULL,
					     &error), -1);
	assert_non_null(strstr(error.data, "longer than"));
	free(good);
	strbuf_free(&error);
	strbuf_free(&text);
}

/* A valid counter line over SUMMARY_MAX_LINE is rejected by both
 * readers, so that "tlsrptd report" and the reporter agree on a file. */
static void long_valid_line_rejected(void **state)
{
	struct strbuf record;
	struct strbuf text;
	char *line;

	(void)state;
	strbuf_init(&record);
	strbuf_init(&text);
	strbuf_puts(&record, "v=TLSRPTv1;rua=mailto:r@example.net;x=");
	while (record.len <= SUMMARY_MAX_LINE)
		strbuf_puts(&record, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	line = policy_line("example.com", record.data, 1);
	strbuf_printf(&text, "tlsrptd-summary 1\nday: " TEST_DAY
		      "\nkind: final\n\n%s\nend 1\n", line);
	expect_rejected(text.data, text.len, "is longer than");
	free(line);
	strbuf_free(&record);
	strbuf_free(&text);
}

/* A file cut short after the check is reported, not half-read. */
static void stream_notices_changed_file(void **state)
{
	struct summary_stream stream;
	struct summary_group group;
	struct strbuf error;
	size_t count;
	char **lines = aggregator_lines(3000, &count);
	int status;

	(void)state;
	write_file("changing", lines, count, count);
	open_stream(&stream, "changing", NULL);
	assert_int_equal(truncate("changing", 200000), 0);
	strbuf_init(&error);
	while ((status = summary_stream_next(&stream, &group, &error)) == 1)
		continue;
	assert_int_equal(status, -1);
	assert_non_null(strstr(error.data, "shorter"));
	strbuf_free(&error);
	summary_stream_close(&stream);
	free_lines(lines, count);
}

static void stream_missing_file(void **state)
{
	struct summary_stream stream;
	struct strbuf error;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(summary_stream_open(&stream, "no-such-file", SCRATCH,
					     NULL, &error), -1);
	assert_non_null(strstr(error.data, "cannot read no-such-file"));
	strbuf_free(&error);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stream_merges_runs),
		cmocka_unit_test(stream_sorts_many_runs),
		cmocka_unit_test(stream_groups_normalised_domains),
		cmocka_unit_test(stream_empty_body),
		cmocka_unit_test(stream_rejects_bad_files),
		cmocka_unit_test(stream_rejects_nul_and_long_lines),
		cmocka_unit_test(long_valid_line_rejected),
		cmocka_unit_test(stream_notices_changed_file),
		cmocka_unit_test(stream_missing_file),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
