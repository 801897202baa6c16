/*
 * Golden report tests: every sample datagram under tests/data goes
 * through the real chain (datagram_parse, the canonical policy and detail
 * keys, a summary file, then the reports), and each report must equal
 * its golden file tests/golden/<report domain>.json as parsed JSON.
 *
 * The reports are built twice, with summary_read() and report_build_all()
 * as "tlsrptd report --dry-run" does, and with the stream reader and
 * report_build_group() as the reporter does. Both must give the same
 * bytes.
 *
 * To review a change, run the test with TLSRPTD_GOLDEN_OUTPUT=DIR: it
 * writes every report, pretty-printed, into DIR. Compare DIR with
 * tests/golden and copy the files over only after checking them against
 * RFC 8460.
 */
#include <dirent.h>
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

#include "config.h"
#include "datagram.h"
#include "queue_file.h"
#include "report.h"
#include "strbuf.h"
#include "summary_file.h"
#include "xalloc.h"

#define GOLDEN_DAY	"2026-03-01"

static char *data_dir;
static char *golden_dir;
static char *queue_dir;

static int setup_queue(void **state)
{
	const char *base = getenv("TLSRPTD_TEST_DATA");
	char template[] = "/tmp/test_report_golden.XXXXXX";
	struct strbuf error;
	char *path;
	FILE *fp;

	(void)state;
	data_dir = realpath(base != NULL ? base : "tests/data", NULL);
	if (data_dir == NULL || mkdtemp(template) == NULL)
		return -1;
	path = xasprintf("%s/../golden", data_dir);
	golden_dir = realpath(path, NULL);
	free(path);
	if (golden_dir == NULL)
		return -1;
	queue_dir = xstrdup(template);
	path = xasprintf("%s/tmp", queue_dir);
	mkdir(path, 0700);
	free(path);
	path = xasprintf("%s/days", queue_dir);
	mkdir(path, 0700);
	free(path);

	/* The identity of the end-to-end suite, so that its reports can be
	 * compared with the same files. */
	path = xasprintf("%s/main.cf", queue_dir);
	fp = fopen(path, "w");
	free(path);
	if (fp == NULL)
		return -1;
	fprintf(fp, "queue_directory = %s\nmyhostname = mx1.example.net\n"
		"organization_name = tlsrptd test suite\n"
		"contact_info = tlsrpt-noreply@reports.example.net\n",
		queue_dir);
	if (fclose(fp) != 0)
		return -1;
	strbuf_init(&error);
	if (config_load(queue_dir, &error) != 0) {
		fprintf(stderr, "config_load: %s\n", error.data);
		return -1;
	}
	strbuf_free(&error);
	return chdir(queue_dir);
}

static int teardown_queue(void **state)
{
	char *command = xasprintf("rm -rf '%s'", queue_dir);
	int status;

	(void)state;
	status = system(command);
	free(command);
	config_free();
	free(queue_dir);
	free(golden_dir);
	free(data_dir);
	return status == 0 ? 0 : -1;
}

static bool is_json_name(const char *name)
{
	size_t len = strlen(name);

	return name[0] != '.' && len > 5 && strcmp(name + len - 5, ".json")
		== 0;
}

static int compare_names(const void *left, const void *right)
{
	return strcmp(*(char *const *)left, *(char *const *)right);
}

/* The *.json files of a directory, sorted by name. */
static char **list_json(const char *dir, size_t *count)
{
	DIR *handle = opendir(dir);
	struct dirent *entry;
	char **names = NULL;

	*count = 0;
	if (handle == NULL)
		fail_msg("cannot open %s", dir);
	while ((entry = readdir(handle)) != NULL) {
		if (!is_json_name(entry->d_name))
			continue;
		names = xreallocarray(names, *count + 1, sizeof(*names));
		names[(*count)++] = xstrdup(entry->d_name);
	}
	closedir(handle);
	if (*count > 1)
		qsort(names, *count, sizeof(*names), compare_names);
	return names;
}

static void free_names(char **names, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

/* Add one sample file's counter lines, as the aggregator counts them. */
static void add_sample(struct summary_writer *writer, const char *path)
{
	struct strbuf reason;
	struct datagram dg;
	size_t len;
	size_t i;
	size_t j;
	char *data;

	assert_int_equal(queue_read_file(path, 1 << 20, &data, &len), 0);
	strbuf_init(&reason);
	if (datagram_parse(data, len, &dg, &reason) != 0)
		fail_msg("%s rejected: %s", path, reason.data);
	for (i = 0; i < dg.policy_count; i++) {
		const struct datagram_policy *policy = &dg.policies[i];
		char *key = datagram_policy_key(&dg, i);

		assert_int_equal(summary_writer_add_policy(
			writer, dg.normalised_domain, dg.record, key,
			policy->failed ? 0 : 1, policy->failed ? 1 : 0), 0);
		for (j = 0; j < policy->detail_count; j++) {
			char *detail = datagram_detail_key(&policy->details[j]);

			assert_int_equal(summary_writer_add_detail(
				writer, dg.normalised_domain, dg.record, key,
				detail, 1), 0);
			free(detail);
		}
		free(key);
	}
	datagram_free(&dg);
	strbuf_free(&reason);
	free(data);
}

/* Write the summary of every sample datagram; return its path. */
static char *sample_summary(void)
{
	static const char *const subdirs[] = { "datagrams", "postfix" };
	struct summary_writer writer;
	size_t s;

	assert_int_equal(summary_writer_open(&writer, "test", GOLDEN_DAY,
					     SUMMARY_FINAL), 0);
	for (s = 0; s < sizeof(subdirs) / sizeof(subdirs[0]); s++) {
		char *dir = xasprintf("%s/%s", data_dir, subdirs[s]);
		size_t count;
		char **names = list_json(dir, &count);
		size_t i;

		assert_true(count > 0);
		for (i = 0; i < count; i++) {
			char *path = xasprintf("%s/%s", dir, names[i]);

			add_sample(&writer, path);
			free(path);
		}
		free_names(names, count);
		free(dir);
	}
	assert_int_equal(summary_writer_commit(&writer, QUEUE_DAYS, NULL), 0);
	return xasprintf("%s/%s", QUEUE_DAYS, writer.file.id);
}

static void load_identity(struct report_identity *identity)
{
	struct strbuf error;

	strbuf_init(&error);
	if (report_identity_from_config(identity, &error) != 0)
		fail_msg("report_identity_from_config: %s", error.data);
	strbuf_free(&error);
}

/* The reports of the summary at path, as "tlsrptd report" builds them. */
static void build_all(const char *path,
		      const struct report_identity *identity,
		      struct report **reports, size_t *count)
{
	struct summary summary;
	struct strbuf error;

	strbuf_init(&error);
	if (summary_read(path, &summary, &error) != 0)
		fail_msg("summary_read %s: %s", path, error.data);
	if (report_build_all(&summary, identity, reports, count, &error) != 0)
		fail_msg("report_build_all: %s", error.data);
	summary_free(&summary);
	strbuf_free(&error);
}

/* The reports of the summary at path, as the reporter builds them. */
static void build_streamed(const char *path,
			   const struct report_identity *identity,
			   struct report **reports, size_t *count)
{
	struct summary_stream stream;
	struct summary_group group;
	struct strbuf error;
	int status;

	*reports = NULL;
	*count = 0;
	strbuf_init(&error);
	if (summary_stream_open(&stream, path, "tmp/sort.XXXXXX", NULL,
				&error) != 0)
		fail_msg("summary_stream_open %s: %s", path, error.data);
	while ((status = summary_stream_next(&stream, &group, &error)) == 1) {
		*reports = xreallocarray(*reports, *count + 1,
					 sizeof(**reports));
		if (report_build_group(&group, stream.day, identity,
				       &(*reports)[*count]) == 0)
			(*count)++;
	}
	if (status != 0)
		fail_msg("summary_stream_next: %s", error.data);
	summary_stream_close(&stream);
	strbuf_free(&error);
}

static void write_review_copy(const char *dir, const struct report *report)
{
	cJSON *root = cJSON_Parse(report->json);
	char *text = cJSON_Print(root);
	char *path = xasprintf("%s/%s.json", dir, report->report_domain);
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		fail_msg("cannot write %s", path);
	fprintf(fp, "%s\n", text);
	assert_int_equal(fclose(fp), 0);
	free(path);
	cJSON_free(text);
	cJSON_Delete(root);
}

/* Compare a report with its golden file as parsed JSON. */
static void compare_golden(const struct report *report)
{
	char *path = xasprintf("%s/%s.json", golden_dir,
			       report->report_domain);
	cJSON *expected;
	cJSON *actual;
	size_t len;
	char *text;

	if (queue_read_file(path, 1 << 20, &text, &len) != 0)
		fail_msg("no golden file %s for the report of %s", path,
			 report->report_domain);
	expected = cJSON_Parse(text);
	actual = cJSON_Parse(report->json);
	assert_non_null(expected);
	assert_non_null(actual);
	if (!cJSON_Compare(expected, actual, true))
		fail_msg("the report of %s differs from %s:\n%s",
			 report->report_domain, path, report->json);
	cJSON_Delete(expected);
	cJSON_Delete(actual);
	free(text);
	free(path);
}

static const struct report *find_report(const struct report *reports,
					size_t count, const char *domain)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (strcmp(reports[i].report_domain, domain) == 0)
			return &reports[i];
	return NULL;
}

/* Every report equals its golden file, and every golden file has its
 * report. */
static void samples_match_golden(void **state)
{
	const char *review = getenv("TLSRPTD_GOLDEN_OUTPUT");
	struct report_identity identity;
	struct report *reports;
	char *summary = sample_summary();
	char **golden;
	size_t golden_count;
	size_t count;
	size_t i;

	(void)state;
	load_identity(&identity);
	build_all(summary, &identity, &reports, &count);
	for (i = 0; review != NULL && i < count; i++)
		write_review_copy(review, &reports[i]);
	for (i = 0; i < count; i++)
		compare_golden(&reports[i]);

	golden = list_json(golden_dir, &golden_count);
	assert_int_equal(golden_count, count);
	for (i = 0; i < golden_count; i++) {
		golden[i][strlen(golden[i]) - 5] = '\0';
		if (find_report(reports, count, golden[i]) == NULL)
			fail_msg("golden file %s.json has no report",
				 golden[i]);
	}
	free_names(golden, golden_count);
	report_free_all(reports, count);
	report_identity_free(&identity);
	unlink(summary);
	free(summary);
}

/* The reporter's streaming path builds the same bytes as report_build_all
 * for every report. */
static void streamed_equals_loaded(void **state)
{
	struct report_identity identity;
	struct report *loaded;
	struct report *streamed;
	char *summary = sample_summary();
	size_t loaded_count;
	size_t streamed_count;
	size_t i;

	(void)state;
	load_identity(&identity);
	build_all(summary, &identity, &loaded, &loaded_count);
	build_streamed(summary, &identity, &streamed, &streamed_count);
	assert_int_equal(streamed_count, loaded_count);
	for (i = 0; i < loaded_count; i++) {
		assert_string_equal(streamed[i].report_domain,
				    loaded[i].report_domain);
		assert_string_equal(streamed[i].record, loaded[i].record);
		assert_string_equal(streamed[i].report_id, loaded[i].report_id);
		assert_string_equal(streamed[i].filename, loaded[i].filename);
		assert_string_equal(streamed[i].json, loaded[i].json);
		assert_int_equal(streamed[i].gzip_len, loaded[i].gzip_len);
		assert_memory_equal(streamed[i].gzip, loaded[i].gzip,
				    loaded[i].gzip_len);
	}
	report_free_all(loaded, loaded_count);
	report_free_all(streamed, streamed_count);
	report_identity_free(&identity);
	unlink(summary);
	free(summary);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(samples_match_golden),
		cmocka_unit_test(streamed_equals_loaded),
	};

	return cmocka_run_group_tests(tests, setup_queue, teardown_queue);
}
