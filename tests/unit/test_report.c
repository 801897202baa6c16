/*
 * Unit tests for report building. Summaries are made from the sample
 * datagrams the way the aggregator makes them: datagram keys, written with
 * summary_writer into a temporary queue directory and read back. Every
 * report is then checked for RFC 8460's required fields and for the
 * counts expected from the samples.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "datagram.h"
#include "gzip.h"
#include "queue_file.h"
#include "report.h"
#include "strbuf.h"
#include "summary_file.h"
#include "utc_time.h"
#include "xalloc.h"

#define TEST_DAY	"2026-03-01"
#define TEST_BEGIN	1772323200LL	/* 2026-03-01T00:00:00Z */

static char *data_dir;
static char *queue_dir;

static const char *const sample_files[] = {
	"datagrams/01-example1-no-policy-found-success.json",
	"datagrams/02-example2-tlsa-failure.json",
	"datagrams/03-example3-sts-failures-mx-patterns.json",
	"datagrams/04-example4-no-policy-found-failure.json",
	"datagrams/05-example5-two-policies-sts-fail-tlsa-fail.json",
	"datagrams/06-example6-sts-success-no-failures.json",
	"datagrams/07-example7-two-policies-success.json",
	"datagrams/08-example8-two-policies-sts-fail-tlsa-success.json",
	"datagrams/09-blaster-sts-success.json",
	"datagrams/10-blaster-tlsa-2-failures.json",
	"datagrams/11-blaster-no-policy-found.json",
	"datagrams/12-escaping-mixed-case-trailing-dot-domain.json",
	"postfix/01-tls-success-may.json",
	"postfix/03-no-starttls-encrypt.json",
	"postfix/08-dane-success.json",
	"postfix/09-dane-tlsa-mismatch.json",
	"postfix/10-sts-success.json",
	"postfix/11-sts-forced-policy-failure.json",
	"postfix/14-tls-handshake-failure-encrypt.json",
	"postfix/17-multistring-tlsrpt-record.json",
	"postfix/22-session-cache-first-handshake.json",
	"postfix/23-session-resumed-handshake.json",
};

#define SAMPLE_COUNT (sizeof(sample_files) / sizeof(sample_files[0]))

static void write_main_cf(const char *extra)
{
	char *path = xasprintf("%s/main.cf", queue_dir);
	FILE *fp = fopen(path, "w");
	struct strbuf error;

	assert_non_null(fp);
	fprintf(fp, "queue_directory = %s\nmyhostname = mx1.example.net\n%s",
		queue_dir, extra);
	assert_int_equal(fclose(fp), 0);
	free(path);
	strbuf_init(&error);
	if (config_load(queue_dir, &error) != 0)
		fail_msg("config_load: %s", error.data);
	strbuf_free(&error);
}

static const char *default_identity =
	"organization_name = Example Org\n"
	"contact_info = tlsrpt-noreply@Reports.Example.NET\n";

static int setup_queue(void **state)
{
	const char *base = getenv("TLSRPTD_TEST_DATA");
	char template[] = "/tmp/test_report.XXXXXX";
	char *tmp;

	(void)state;
	data_dir = realpath(base != NULL ? base : "tests/data", NULL);
	if (data_dir == NULL || mkdtemp(template) == NULL)
		return -1;
	queue_dir = xstrdup(template);
	tmp = xasprintf("%s/tmp", queue_dir);
	mkdir(tmp, 0700);
	free(tmp);
	tmp = xasprintf("%s/days", queue_dir);
	mkdir(tmp, 0700);
	free(tmp);
	write_main_cf(default_identity);
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
	free(data_dir);
	return status == 0 ? 0 : -1;
}

static struct datagram read_datagram(const char *relative)
{
	char *path = xasprintf("%s/%s", data_dir, relative);
	struct strbuf reason;
	struct datagram dg;
	size_t len;
	char *data;

	assert_int_equal(queue_read_file(path, 1 << 20, &data, &len), 0);
	strbuf_init(&reason);
	if (datagram_parse(data, len, &dg, &reason) != 0)
		fail_msg("%s rejected: %s", relative, reason.data);
	strbuf_free(&reason);
	free(data);
	free(path);
	return dg;
}

/* Add one datagram's counter lines: per policy one policy line and one
 * detail line per failure-detail, as the aggregator counts them. */
static void add_datagram(struct summary_writer *writer,
			 const struct datagram *dg)
{
	size_t i;
	size_t j;

	for (i = 0; i < dg->policy_count; i++) {
		const struct datagram_policy *policy = &dg->policies[i];
		char *key = datagram_policy_key(dg, i);

		assert_int_equal(summary_writer_add_policy(
			writer, dg->normalised_domain, dg->record, key,
			policy->failed ? 0 : 1, policy->failed ? 1 : 0), 0);
		for (j = 0; j < policy->detail_count; j++) {
			char *detail = datagram_detail_key(&policy->details[j]);

			assert_int_equal(summary_writer_add_detail(
				writer, dg->normalised_domain, dg->record, key,
				detail, 1), 0);
			free(detail);
		}
		free(key);
	}
}

static void read_back(struct summary_writer *writer, struct summary *summary)
{
	char *path;
	struct strbuf error;

	assert_int_equal(summary_writer_commit(writer, QUEUE_DAYS, NULL), 0);
	path = xasprintf("%s/%s", QUEUE_DAYS, writer->file.id);
	strbuf_init(&error);
	if (summary_read(path, summary, &error) != 0)
		fail_msg("summary_read %s: %s", path, error.data);
	strbuf_free(&error);
	unlink(path);
	free(path);
}

static void sample_summary(const char *day, struct summary *summary)
{
	struct summary_writer writer;
	size_t i;

	assert_int_equal(summary_writer_open(&writer, "test", day,
					     SUMMARY_FINAL), 0);
	for (i = 0; i < SAMPLE_COUNT; i++) {
		struct datagram dg = read_datagram(sample_files[i]);

		add_datagram(&writer, &dg);
		datagram_free(&dg);
	}
	read_back(&writer, summary);
}

static void load_identity(struct report_identity *identity)
{
	struct strbuf error;

	strbuf_init(&error);
	if (report_identity_from_config(identity, &error) != 0)
		fail_msg("report_identity_from_config: %s", error.data);
	strbuf_free(&error);
}

static void build(const struct summary *summary,
		  const struct report_identity *identity,
		  struct report **reports, size_t *count)
{
	struct strbuf error;

	strbuf_init(&error);
	if (report_build_all(summary, identity, reports, count, &error) != 0)
		fail_msg("report_build_all: %s", error.data);
	strbuf_free(&error);
}

static const struct report *find_report(const struct report *reports,
					size_t count, const char *domain)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (strcmp(reports[i].report_domain, domain) == 0)
			return &reports[i];
	fail_msg("no report for %s", domain);
	return NULL;
}

static cJSON *parse_report(const struct report *report)
{
	cJSON *root = cJSON_Parse(report->json);

	if (root == NULL)
		fail_msg("report %s is not JSON", report->report_id);
	return root;
}

static const char *string_at(const cJSON *object, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);

	if (!cJSON_IsString(item))
		fail_msg("member \"%s\" is missing or not a string", name);
	return item->valuestring;
}

static double number_at(const cJSON *object, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);

	if (!cJSON_IsNumber(item))
		fail_msg("member \"%s\" is missing or not a number", name);
	return item->valuedouble;
}

static bool has_string(const cJSON *array, const char *text)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, array)
		if (cJSON_IsString(item) && strcmp(item->valuestring, text) == 0)
			return true;
	return false;
}

/* Find the policies[] entry with this type and policy-domain whose
 * policy-string contains the entry policy_string (NULL: any). */
static const cJSON *find_policy(const cJSON *root, const char *type,
				const char *domain, const char *policy_string)
{
	const cJSON *entry;

	cJSON_ArrayForEach(entry, cJSON_GetObjectItem(root, "policies")) {
		const cJSON *policy = cJSON_GetObjectItem(entry, "policy");

		if (strcmp(string_at(policy, "policy-type"), type) != 0
		    || strcmp(string_at(policy, "policy-domain"), domain) != 0)
			continue;
		if (policy_string == NULL
		    || has_string(cJSON_GetObjectItem(policy, "policy-string"),
				  policy_string))
			return entry;
	}
	fail_msg("no %s policy for %s", type, domain);
	return NULL;
}

static const cJSON *find_detail(const cJSON *entry, const char *result_type)
{
	const cJSON *detail;

	cJSON_ArrayForEach(detail, cJSON_GetObjectItem(entry,
						       "failure-details"))
		if (strcmp(string_at(detail, "result-type"), result_type) == 0)
			return detail;
	fail_msg("no failure-details row with result-type %s", result_type);
	return NULL;
}

static void assert_no_null(const cJSON *item)
{
	const cJSON *child;

	assert_false(cJSON_IsNull(item));
	for (child = item->child; child != NULL; child = child->next)
		assert_no_null(child);
}

static void assert_policy_shape(const cJSON *entry,
				unsigned long long *successes,
				unsigned long long *failures)
{
	const cJSON *policy = cJSON_GetObjectItem(entry, "policy");
	const cJSON *summary = cJSON_GetObjectItem(entry, "summary");
	const char *type = string_at(policy, "policy-type");
	const cJSON *detail;

	assert_true(strcmp(type, "tlsa") == 0 || strcmp(type, "sts") == 0
		    || strcmp(type, "no-policy-found") == 0);
	assert_true(string_at(policy, "policy-domain")[0] != '\0');
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(policy,
						      "policy-string")));
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(policy, "mx-host")));
	*successes += (unsigned long long)number_at(
		summary, "total-successful-session-count");
	*failures += (unsigned long long)number_at(
		summary, "total-failure-session-count");
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(entry,
						      "failure-details")));
	cJSON_ArrayForEach(detail, cJSON_GetObjectItem(entry,
						       "failure-details")) {
		assert_true(result_type_known(string_at(detail,
							"result-type")));
		assert_true(number_at(detail, "failed-session-count") >= 1);
	}
}

/* Every report has every required RFC 8460 field, never null. */
static void report_fields_complete(void **state)
{
	struct report_identity identity;
	struct summary summary;
	struct report *reports;
	size_t count;
	size_t i;

	(void)state;
	load_identity(&identity);
	sample_summary(TEST_DAY, &summary);
	build(&summary, &identity, &reports, &count);

	/* example.com, d000020.example, mixed-case.example and 8 Postfix
	 * test domains, each with a single record. */
	assert_int_equal(count, 11);
	for (i = 0; i < count; i++) {
		cJSON *root = parse_report(&reports[i]);
		const cJSON *range = cJSON_GetObjectItem(root, "date-range");
		const cJSON *entry;
		unsigned long long successes = 0;
		unsigned long long failures = 0;

		assert_no_null(root);
		assert_string_equal(string_at(root, "organization-name"),
				    "Example Org");
		assert_string_equal(string_at(root, "contact-info"),
				    "tlsrpt-noreply@Reports.Example.NET");
		assert_string_equal(string_at(root, "report-id"),
				    reports[i].report_id);
		assert_string_equal(string_at(range, "start-datetime"),
				    TEST_DAY "T00:00:00Z");
		assert_string_equal(string_at(range, "end-datetime"),
				    TEST_DAY "T23:59:59Z");
		assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(
			root, "policies")) >= 1);
		cJSON_ArrayForEach(entry, cJSON_GetObjectItem(root, "policies"))
			assert_policy_shape(entry, &successes, &failures);
		assert_int_equal(successes, reports[i].successes);
		assert_int_equal(failures, reports[i].failures);
		assert_string_equal(reports[i].day, TEST_DAY);
		cJSON_Delete(root);
	}
	report_free_all(reports, count);
	summary_free(&summary);
	report_identity_free(&identity);
}

/* Counts of the libtlsrpt example datagrams 01-08 (all example.com). */
static void report_counts_per_policy(void **state)
{
	struct report_identity identity;
	struct summary summary;
	struct report *reports;
	const struct report *report;
	const cJSON *entry;
	const cJSON *summary_json;
	cJSON *root;
	size_t count;

	(void)state;
	load_identity(&identity);
	sample_summary(TEST_DAY, &summary);
	build(&summary, &identity, &reports, &count);
	report = find_report(reports, count, "example.com");
	assert_string_equal(report->record,
			    "v=TLSRPTv1;rua=mailto:reports@example.com");
	root = parse_report(report);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root,
								"policies")),
			 4);

	/* sts, mode testing: 07 succeeded; 03, 05 and 08 failed, each with
	 * one 302 and one 303 row. */
	entry = find_policy(root, "sts", "company-y.example", "mode: testing");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(
		cJSON_GetObjectItem(entry, "policy"), "mx-host")), 2);
	summary_json = cJSON_GetObjectItem(entry, "summary");
	assert_int_equal(number_at(summary_json,
				   "total-successful-session-count"), 1);
	assert_int_equal(number_at(summary_json,
				   "total-failure-session-count"), 3);
	assert_int_equal(number_at(find_detail(entry, "sts-policy-invalid"),
				   "failed-session-count"), 3);
	assert_int_equal(number_at(find_detail(entry, "sts-webpki-invalid"),
				   "failed-session-count"), 3);

	/* RFC 8460 section 4: one session may give several rows, so the rows
	 * add up to more than the failed sessions. That is kept as is. */
	assert_int_equal(number_at(find_detail(entry, "sts-policy-invalid"),
				   "failed-session-count")
			 + number_at(find_detail(entry, "sts-webpki-invalid"),
				     "failed-session-count"), 6);
	assert_string_equal(string_at(find_detail(entry, "sts-policy-invalid"),
				      "receiving-mx-helo"),
			    "test-ehlo.example.com");

	/* tlsa: 02 and 05 failed with the same 204 row, 07 and 08 passed. */
	entry = find_policy(root, "tlsa", "company-y.example", NULL);
	summary_json = cJSON_GetObjectItem(entry, "summary");
	assert_int_equal(number_at(summary_json,
				   "total-successful-session-count"), 2);
	assert_int_equal(number_at(summary_json,
				   "total-failure-session-count"), 2);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(
		entry, "failure-details")), 1);
	assert_int_equal(number_at(find_detail(entry, "certificate-expired"),
				   "failed-session-count"), 2);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(
		cJSON_GetObjectItem(entry, "policy"), "mx-host")), 0);

	/* no-policy-found without a policy-domain in the datagram: 01
	 * succeeded, 04 failed with a 205 row that has no MX name. */
	entry = find_policy(root, "no-policy-found", "example.com", NULL);
	summary_json = cJSON_GetObjectItem(entry, "summary");
	assert_int_equal(number_at(summary_json,
				   "total-successful-session-count"), 1);
	assert_int_equal(number_at(summary_json,
				   "total-failure-session-count"), 1);
	assert_null(cJSON_GetObjectItem(find_detail(entry,
						    "validation-failure"),
					"receiving-mx-hostname"));

	assert_int_equal(report->successes, 5);
	assert_int_equal(report->failures, 6);
	cJSON_Delete(root);
	report_free_all(reports, count);
	summary_free(&summary);
	report_identity_free(&identity);
}

/* Real Postfix datagrams: multi-line EHLO replies become the greeting
 * name, and a tlsa policy keeps the MX host's TLSA base domain. */
static void report_postfix_values(void **state)
{
	struct report_identity identity;
	struct summary summary;
	struct report *reports;
	const cJSON *detail;
	cJSON *root;
	size_t count;

	(void)state;
	load_identity(&identity);
	sample_summary(TEST_DAY, &summary);
	build(&summary, &identity, &reports, &count);

	root = parse_report(find_report(reports, count, "notls-enc.test"));
	detail = find_detail(find_policy(root, "no-policy-found",
					 "notls-enc.test", NULL),
			     "starttls-not-supported");
	assert_string_equal(string_at(detail, "receiving-mx-helo"),
			    "mx-127.0.0.12");
	assert_string_equal(string_at(detail, "receiving-mx-hostname"),
			    "mx.notls-enc.test");
	assert_string_equal(string_at(detail, "sending-mta-ip"), "127.0.0.1");
	assert_string_equal(string_at(detail, "receiving-ip"), "127.0.0.12");
	assert_null(strpbrk(find_report(reports, count,
					"notls-enc.test")->json, "\r\n"));
	cJSON_Delete(root);

	root = parse_report(find_report(reports, count, "dane-bad.test"));
	detail = find_detail(find_policy(root, "tlsa", "mx.dane-bad.test",
					 NULL), "certificate-not-trusted");
	assert_string_equal(string_at(detail, "receiving-mx-helo"),
			    "mx-127.0.0.11");
	cJSON_Delete(root);

	/* Three handshakes to tls-ok.test, all successful. */
	root = parse_report(find_report(reports, count, "tls-ok.test"));
	assert_int_equal(number_at(cJSON_GetObjectItem(find_policy(
		root, "no-policy-found", "tls-ok.test", NULL), "summary"),
		"total-successful-session-count"), 3);
	cJSON_Delete(root);

	/* Escapes survive the round trip byte-exact. */
	root = parse_report(find_report(reports, count, "mixed-case.example"));
	detail = find_detail(find_policy(root, "sts", "mixed-case.example",
					 NULL), "starttls-not-supported");
	assert_string_equal(string_at(detail, "additional-information"),
			    "quote\" backslash\\ tab\t newline\n cr\r "
			    "bell\a del\x7f utf8:\xc3\xbc\xe2\x82\xac");
	cJSON_Delete(root);

	report_free_all(reports, count);
	summary_free(&summary);
	report_identity_free(&identity);
}

/* Building the same day twice gives byte-identical reports. */
static void report_id_stable(void **state)
{
	struct report_identity identity;
	struct summary first_summary;
	struct summary second_summary;
	struct summary other_day;
	struct report *first;
	struct report *second;
	struct report *other;
	size_t first_count;
	size_t second_count;
	size_t other_count;
	size_t i;

	(void)state;
	load_identity(&identity);
	sample_summary(TEST_DAY, &first_summary);
	sample_summary(TEST_DAY, &second_summary);
	sample_summary("2026-03-02", &other_day);
	build(&first_summary, &identity, &first, &first_count);
	build(&second_summary, &identity, &second, &second_count);
	build(&other_day, &identity, &other, &other_count);
	assert_int_equal(first_count, second_count);
	for (i = 0; i < first_count; i++) {
		const struct report *again = find_report(
			second, second_count, first[i].report_domain);
		const struct report *next_day = find_report(
			other, other_count, first[i].report_domain);

		assert_string_equal(first[i].report_id, again->report_id);
		assert_string_equal(first[i].filename, again->filename);
		assert_string_equal(first[i].json, again->json);
		assert_int_equal(first[i].gzip_len, again->gzip_len);
		assert_memory_equal(first[i].gzip, again->gzip,
				    first[i].gzip_len);
		assert_string_not_equal(first[i].report_id,
					next_day->report_id);
	}
	report_free_all(first, first_count);
	report_free_all(second, second_count);
	report_free_all(other, other_count);
	summary_free(&first_summary);
	summary_free(&second_summary);
	summary_free(&other_day);
	report_identity_free(&identity);
}

static bool is_lower_hex(const char *text, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((text[i] >= '0' && text[i] <= '9')
		      || (text[i] >= 'a' && text[i] <= 'f')))
			return false;
	return true;
}

/* report-id "<day>.<domain>.<hex>@<submitter>" and the RFC 8460 file
 * name "<submitter>!<domain>!<begin>!<end>!<hex>.json.gz". */
static void report_names_shape(void **state)
{
	struct report_identity identity;
	struct summary summary;
	struct report *reports;
	const struct report *report;
	char *prefix;
	char *expected;
	size_t count;
	size_t i;

	(void)state;
	load_identity(&identity);
	assert_string_equal(identity.submitter, "reports.example.net");
	sample_summary(TEST_DAY, &summary);
	build(&summary, &identity, &reports, &count);
	report = find_report(reports, count, "example.com");

	prefix = xasprintf("%s.example.com.", TEST_DAY);
	assert_int_equal(strncmp(report->report_id, prefix, strlen(prefix)),
			 0);
	assert_true(is_lower_hex(report->report_id + strlen(prefix), 16));
	assert_string_equal(report->report_id + strlen(prefix) + 16,
			    "@reports.example.net");
	expected = xasprintf("reports.example.net!example.com!%lld!%lld!%.16s"
			     ".json.gz", TEST_BEGIN, TEST_BEGIN + 86399,
			     report->report_id + strlen(prefix));
	assert_string_equal(report->filename, expected);
	free(expected);
	free(prefix);

	/* No ':' or white space, so the id fits "<id-left@id-right>". */
	for (i = 0; i < count; i++) {
		assert_null(strpbrk(reports[i].report_id, ": \t<>"));
		assert_non_null(strchr(reports[i].report_id, '@'));
	}
	report_free_all(reports, count);
	summary_free(&summary);
	report_identity_free(&identity);
}

/* The payload is exactly one gzip member holding the JSON. */
static void report_gzip_one_member(void **state)
{
	struct report_identity identity;
	struct summary summary;
	struct report *reports;
	size_t count;
	size_t i;

	(void)state;
	load_identity(&identity);
	sample_summary(TEST_DAY, &summary);
	build(&summary, &identity, &reports, &count);
	for (i = 0; i < count; i++) {
		char *plain;
		size_t plain_len;

		assert_true(reports[i].gzip_len > 18);
		assert_int_equal(reports[i].gzip[0], 0x1f);
		assert_int_equal(reports[i].gzip[1], 0x8b);
		assert_int_equal(gzip_decompress(reports[i].gzip,
						 reports[i].gzip_len, 1 << 24,
						 &plain, &plain_len), 0);
		assert_int_equal(plain_len, strlen(reports[i].json));
		assert_memory_equal(plain, reports[i].json, plain_len);
		free(plain);
	}
	report_free_all(reports, count);
	summary_free(&summary);
	report_identity_free(&identity);
}

static const char *test_policy =
	"{\"policy-type\":\"sts\",\"policy-string\":[\"version: STSv1\"],"
	"\"policy-domain\":\"hand.example\",\"mx-host\":[\"mx.hand.example\"]}";

/* Lines written by hand, as a summary from another host may carry them. */
static void hand_summary(struct summary *summary, const char *const *details,
			 const unsigned long long *counts, size_t detail_count)
{
	struct summary_writer writer;
	size_t i;

	assert_int_equal(summary_writer_open(&writer, "test", TEST_DAY,
					     SUMMARY_FINAL), 0);
	assert_int_equal(summary_writer_add_policy(&writer, "hand.example",
						   "v=TLSRPTv1;rua=mailto:"
						   "r@hand.example",
						   test_policy, 7, 4), 0);
	for (i = 0; i < detail_count; i++)
		assert_int_equal(summary_writer_add_detail(
			&writer, "hand.example",
			"v=TLSRPTv1;rua=mailto:r@hand.example", test_policy,
			details[i], counts[i]), 0);
	read_back(&writer, summary);
}

static void unknown_result_type_mapped(void **state)
{
	static const char *const details[] = {
		"{\"result-type\":\"quantum-failure\",\"receiving-mx-helo\":"
		"\"250-mx.hand.example\\r\\n250 PIPELINING\"}",
		"{\"result-type\":\"certificate-expired\",\"sending-mta-ip\":"
		"\"\",\"receiving-mx-helo\":\"mx.hand.example\\n\"}",
	};
	static const unsigned long long counts[] = { 2, 1 };
	struct report_identity identity;
	struct summary summary;
	struct report *reports;
	const cJSON *entry;
	const cJSON *detail;
	cJSON *root;
	size_t count;

	(void)state;
	load_identity(&identity);
	hand_summary(&summary, details, counts, 2);
	build(&summary, &identity, &reports, &count);
	assert_int_equal(count, 1);
	root = parse_report(&reports[0]);
	entry = find_policy(root, "sts", "hand.example", NULL);
	detail = find_detail(entry, "validation-failure");
	assert_string_equal(string_at(detail, "failure-reason-code"),
			    "quantum-failure");
	assert_string_equal(string_at(detail, "receiving-mx-helo"),
			    "mx.hand.example");
	assert_int_equal(number_at(detail, "failed-session-count"), 2);

	/* Empty optional strings are left out, not sent as "". */
	detail = find_detail(entry, "certificate-expired");
	assert_null(cJSON_GetObjectItem(detail, "sending-mta-ip"));
	assert_string_equal(string_at(detail, "receiving-mx-helo"),
			    "mx.hand.example");
	assert_null(strpbrk(reports[0].json, "\r\n"));
	cJSON_Delete(root);
	report_free_all(reports, count);
	summary_free(&summary);
	report_identity_free(&identity);
}

static char **numbered_details(size_t count, const char *padding)
{
	char **details = xcalloc(count, sizeof(*details));
	size_t i;

	for (i = 0; i < count; i++)
		details[i] = xasprintf("{\"result-type\":\"validation-failure\","
				       "\"failure-reason-code\":\"%s-%zu-%zx\"}",
				       padding, i, i * 2654435761u);
	return details;
}

static void free_details(char **details, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(details[i]);
	free(details);
}

/* Sum the failed-session-count of a policy's rows, and count the rows
 * that hold nothing but result-type and failed-session-count. */
static double sum_rows(const cJSON *entry, int *bare_rows)
{
	const cJSON *row;
	double sum = 0;

	*bare_rows = 0;
	cJSON_ArrayForEach(row, cJSON_GetObjectItem(entry, "failure-details")) {
		sum += number_at(row, "failed-session-count");
		if (cJSON_GetArraySize(row) == 2)
			(*bare_rows)++;
	}
	return sum;
}

static int row_count(const cJSON *entry)
{
	return cJSON_GetArraySize(cJSON_GetObjectItem(entry,
						      "failure-details"));
}

/* report_max_failure_details keeps the rows with the largest counts and
 * folds the others into one row per result-type; the totals stay. */
static void failure_details_capped(void **state)
{
	static const unsigned long long counts[] = { 1, 5, 3, 4, 2 };
	struct report_identity identity;
	struct summary summary;
	struct report *reports;
	const cJSON *entry;
	const cJSON *row;
	char **details = numbered_details(5, "reason");
	cJSON *root;
	size_t count;
	int bare_rows;

	(void)state;
	load_identity(&identity);
	identity.max_failure_details = 2;
	hand_summary(&summary, (const char *const *)details, counts, 5);
	build(&summary, &identity, &reports, &count);
	assert_int_equal(count, 1);
	root = parse_report(&reports[0]);
	entry = find_policy(root, "sts", "hand.example", NULL);
	assert_int_equal(row_count(entry), 2);
	assert_int_equal(sum_rows(entry, &bare_rows), 15);
	assert_int_equal(bare_rows, 1);

	/* The row kept in full is the one with count 5. */
	cJSON_ArrayForEach(row, cJSON_GetObjectItem(entry, "failure-details"))
		if (cJSON_GetObjectItem(row, "failure-reason-code") != NULL)
			assert_int_equal(number_at(row, "failed-session-count"),
					 5);
	assert_int_equal(number_at(cJSON_GetObjectItem(entry, "summary"),
				   "total-failure-session-count"), 4);
	assert_int_equal(number_at(cJSON_GetObjectItem(entry, "summary"),
				   "total-successful-session-count"), 7);
	cJSON_Delete(root);
	report_free_all(reports, count);
	summary_free(&summary);
	free_details(details, 5);
	report_identity_free(&identity);
}

/* Build one report from hand-written detail rows under a cap; return
 * its parsed JSON. */
static cJSON *capped_report(const char *const *details,
			    const unsigned long long *counts, size_t rows,
			    size_t cap)
{
	struct report_identity identity;
	struct summary summary;
	struct report *reports;
	cJSON *root;
	size_t count;

	load_identity(&identity);
	identity.max_failure_details = cap;
	hand_summary(&summary, details, counts, rows);
	build(&summary, &identity, &reports, &count);
	assert_int_equal(count, 1);
	root = parse_report(&reports[0]);
	report_free_all(reports, count);
	summary_free(&summary);
	report_identity_free(&identity);
	return root;
}

/* Folded rows join a kept row that already holds only its result-type,
 * so the cap is not spent on a second row of the same text. */
static void fold_joins_kept_bare_row(void **state)
{
	static const char *const details[] = {
		"{\"result-type\":\"certificate-expired\"}",
		"{\"result-type\":\"certificate-expired\",\"receiving-ip\":"
		"\"192.0.2.1\"}",
		"{\"result-type\":\"certificate-expired\",\"receiving-ip\":"
		"\"192.0.2.2\"}",
		"{\"result-type\":\"starttls-not-supported\",\"receiving-ip\":"
		"\"192.0.2.3\"}",
	};
	static const unsigned long long counts[] = { 20, 5, 4, 3 };
	cJSON *root = capped_report(details, counts, 4, 2);
	const cJSON *entry = find_policy(root, "sts", "hand.example", NULL);
	const cJSON *row;
	int bare_rows;

	(void)state;
	assert_int_equal(row_count(entry), 2);
	assert_int_equal(sum_rows(entry, &bare_rows), 32);
	assert_int_equal(bare_rows, 2);
	row = find_detail(entry, "certificate-expired");
	assert_int_equal(number_at(row, "failed-session-count"), 29);
	row = find_detail(entry, "starttls-not-supported");
	assert_int_equal(number_at(row, "failed-session-count"), 3);
	assert_null(cJSON_GetObjectItem(row, "receiving-ip"));
	cJSON_Delete(root);
}

/* A cap below the number of result-types keeps the types with the
 * largest totals; only then are rows left out. */
static void fold_below_type_count(void **state)
{
	static const char *const details[] = {
		"{\"result-type\":\"certificate-expired\",\"receiving-ip\":"
		"\"192.0.2.1\"}",
		"{\"result-type\":\"starttls-not-supported\",\"receiving-ip\":"
		"\"192.0.2.2\"}",
		"{\"result-type\":\"validation-failure\",\"receiving-ip\":"
		"\"192.0.2.3\"}",
		"{\"result-type\":\"certificate-expired\",\"receiving-ip\":"
		"\"192.0.2.4\"}",
	};
	static const unsigned long long counts[] = { 5, 4, 3, 2 };
	cJSON *root = capped_report(details, counts, 4, 1);
	const cJSON *entry = find_policy(root, "sts", "hand.example", NULL);
	int bare_rows;

	(void)state;
	assert_int_equal(row_count(entry), 1);
	assert_int_equal(sum_rows(entry, &bare_rows), 7);
	assert_int_equal(bare_rows, 1);
	assert_int_equal(number_at(find_detail(entry, "certificate-expired"),
				   "failed-session-count"), 7);
	assert_int_equal(number_at(cJSON_GetObjectItem(entry, "summary"),
				   "total-failure-session-count"), 4);
	cJSON_Delete(root);
}

/* A report over report_max_size keeps fewer rows in full until the gzip
 * fits; the others are folded, so no failed session is lost. */
static void size_limit_folds_rows(void **state)
{
	enum { ROWS = 400 };
	unsigned long long counts[ROWS];
	struct report_identity identity;
	struct summary summary;
	struct report *reports;
	const cJSON *entry;
	const cJSON *row;
	char **details = numbered_details(ROWS, "a-reason-that-takes-space");
	cJSON *root;
	size_t count;
	size_t i;
	int rows;
	int bare_rows;

	(void)state;
	for (i = 0; i < ROWS; i++)
		counts[i] = i + 1;
	load_identity(&identity);
	identity.max_failure_details = ROWS;
	identity.max_size = 2048;
	hand_summary(&summary, (const char *const *)details, counts, ROWS);
	build(&summary, &identity, &reports, &count);
	assert_int_equal(count, 1);
	assert_true(reports[0].gzip_len <= 2048);
	root = parse_report(&reports[0]);
	entry = find_policy(root, "sts", "hand.example", NULL);
	rows = row_count(entry);
	assert_true(rows > 1);
	assert_true(rows < ROWS);
	assert_int_equal(sum_rows(entry, &bare_rows), ROWS * (ROWS + 1) / 2);
	assert_int_equal(bare_rows, 1);

	/* The rows kept in full are those with the largest counts. */
	cJSON_ArrayForEach(row, cJSON_GetObjectItem(entry, "failure-details"))
		if (cJSON_GetArraySize(row) > 2)
			assert_true(number_at(row, "failed-session-count")
				    > ROWS - rows + 1);
	assert_int_equal(number_at(cJSON_GetObjectItem(entry, "summary"),
				   "total-failure-session-count"), 4);
	cJSON_Delete(root);
	report_free_all(reports, count);
	summary_free(&summary);
	free_details(details, ROWS);
	report_identity_free(&identity);
}

/* Printable text that gzip cannot shrink much. */
static char *noise(size_t len, unsigned *seed)
{
	char *text = xmalloc(len + 1);
	size_t i;

	for (i = 0; i < len; i++) {
		*seed = *seed * 1103515245u + 12345u;
		text[i] = (char)('a' + (*seed >> 16) % 26);
	}
	text[len] = '\0';
	return text;
}

/* A report larger than report_max_size without any row is not built:
 * no gzip over the limit ever leaves. */
static void oversized_report_not_built(void **state)
{
	struct report_identity identity;
	struct summary_writer writer;
	struct summary summary;
	struct report *reports;
	unsigned seed = 1;
	size_t count;
	int i;

	(void)state;
	load_identity(&identity);
	identity.max_size = 1024;
	assert_int_equal(summary_writer_open(&writer, "test", TEST_DAY,
					     SUMMARY_FINAL), 0);
	for (i = 0; i < 20; i++) {
		char *text = noise(200, &seed);
		char *policy = xasprintf("{\"policy-type\":\"sts\","
					 "\"policy-string\":[\"%s\"],"
					 "\"policy-domain\":\"big.example\","
					 "\"mx-host\":[]}", text);

		assert_int_equal(summary_writer_add_policy(
			&writer, "big.example", "v=TLSRPTv1;rua=mailto:r@"
			"big.example", policy, 1, 0), 0);
		free(policy);
		free(text);
	}
	read_back(&writer, &summary);
	build(&summary, &identity, &reports, &count);
	assert_int_equal(count, 0);
	report_free_all(reports, count);
	summary_free(&summary);
	report_identity_free(&identity);
}

/* report_success_only_days = no skips reports without failures. */
static void success_only_days_skipped(void **state)
{
	struct report_identity identity;
	struct summary summary;
	struct report *reports;
	size_t count;
	size_t i;

	(void)state;
	load_identity(&identity);
	identity.success_only_days = false;
	sample_summary(TEST_DAY, &summary);
	build(&summary, &identity, &reports, &count);

	/* Failures: example.com, d000020, mixed-case, notls-enc, dane-bad,
	 * sts-fail, hsfail. */
	assert_int_equal(count, 7);
	for (i = 0; i < count; i++) {
		assert_true(reports[i].failures > 0);
		assert_string_not_equal(reports[i].report_domain,
					"tls-ok.test");
	}
	report_free_all(reports, count);
	summary_free(&summary);
	report_identity_free(&identity);
}

/* Lines with the same key add up (summaries merged from two hosts), and
 * a line with an invalid domain costs only its own report. */
static void lines_summed_and_isolated(void **state)
{
	struct report_identity identity;
	struct summary_writer writer;
	struct summary summary;
	struct report *reports;
	const char *record = "v=TLSRPTv1;rua=mailto:r@hand.example";
	cJSON *root;
	size_t count;

	(void)state;
	load_identity(&identity);
	assert_int_equal(summary_writer_open(&writer, "test", TEST_DAY,
					     SUMMARY_FINAL), 0);
	assert_int_equal(summary_writer_add_policy(&writer, "Hand.Example.",
						   record, test_policy, 3, 1),
			 0);
	assert_int_equal(summary_writer_add_policy(&writer, "hand.example",
						   record, test_policy, 2, 5),
			 0);
	assert_int_equal(summary_writer_add_policy(&writer, "bad domain!",
						   record, test_policy, 1, 0),
			 0);
	read_back(&writer, &summary);
	build(&summary, &identity, &reports, &count);
	assert_int_equal(count, 1);
	assert_string_equal(reports[0].report_domain, "hand.example");
	root = parse_report(&reports[0]);
	assert_int_equal(number_at(cJSON_GetObjectItem(find_policy(
		root, "sts", "hand.example", NULL), "summary"),
		"total-successful-session-count"), 5);
	assert_int_equal(number_at(cJSON_GetObjectItem(find_policy(
		root, "sts", "hand.example", NULL), "summary"),
		"total-failure-session-count"), 6);
	cJSON_Delete(root);
	report_free_all(reports, count);
	summary_free(&summary);
	report_identity_free(&identity);
}

static void expect_identity_error(const char *main_cf, const char *first,
				  const char *second)
{
	struct report_identity identity;
	struct strbuf error;

	write_main_cf(main_cf);
	strbuf_init(&error);
	assert_int_equal(report_identity_from_config(&identity, &error), -1);
	if (strstr(error.data, first) == NULL
	    || strstr(error.data, second) == NULL)
		fail_msg("error \"%s\" lacks \"%s\" or \"%s\"", error.data,
			 first, second);
	strbuf_free(&error);
}

static void identity_checked(void **state)
{
	(void)state;
	expect_identity_error("organization_name = Example Org\n",
			      "contact_info is not set", "main.cf");
	expect_identity_error("contact_info = tlsrpt@example.net\n",
			      "organization_name is not set", "main.cf");
	expect_identity_error("organization_name = Example Org\n"
			      "contact_info = postmaster\n",
			      "contact_info \"postmaster\"", "no '@'");
	expect_identity_error("organization_name = Example Org\n"
			      "contact_info = tlsrpt@bad..example\n",
			      "invalid domain", "main.cf");
	expect_identity_error("organization_name = Example Org\n"
			      "contact_info = a@b@example.net\n",
			      "invalid local part", "main.cf");
	expect_identity_error("organization_name = Example Org\n"
			      "contact_info = .tlsrpt@example.net\n",
			      "invalid local part", "main.cf");
	expect_identity_error("organization_name = Example Org\n"
			      "contact_info = \"tls rpt\"@example.net\n",
			      "invalid local part", "main.cf");
	write_main_cf(default_identity);
}

/* The submitter is the domain of contact_info, whatever organization_name
 * is set to. */
static void submitter_from_contact_info(void **state)
{
	struct report_identity identity;
	struct summary summary;
	struct report *reports;
	const struct report *report;
	size_t count;

	(void)state;
	write_main_cf("organization_name = reports.example.org\n"
		      "contact_info = tlsrpt+daily@B\xc3\xbc" "cher.Example\n");
	load_identity(&identity);
	assert_string_equal(identity.organization_name, "reports.example.org");
	assert_string_equal(identity.submitter, "xn--bcher-kva.example");
	sample_summary(TEST_DAY, &summary);
	build(&summary, &identity, &reports, &count);
	report = find_report(reports, count, "tls-ok.test");
	assert_non_null(strstr(report->report_id, "@xn--bcher-kva.example"));
	assert_int_equal(strncmp(report->filename, "xn--bcher-kva.example!",
				 22), 0);
	assert_null(strstr(report->filename, "reports.example.org"));
	assert_null(strstr(report->report_id, "reports.example.org"));
	report_free_all(reports, count);
	summary_free(&summary);
	report_identity_free(&identity);
	write_main_cf(default_identity);
}

/* One report per (domain, record): a record that changed during the day
 * gets its own report, with its own report-id and file name. */
static void two_records_two_reports(void **state)
{
	struct report_identity identity;
	struct summary_writer writer;
	struct summary summary;
	struct report *reports;
	size_t count;

	(void)state;
	load_identity(&identity);
	assert_int_equal(summary_writer_open(&writer, "test", TEST_DAY,
					     SUMMARY_FINAL), 0);
	assert_int_equal(summary_writer_add_policy(&writer, "hand.example",
						   "v=TLSRPTv1;rua=mailto:"
						   "a@hand.example",
						   test_policy, 1, 0), 0);
	assert_int_equal(summary_writer_add_policy(&writer, "hand.example",
						   "v=TLSRPTv1;rua=mailto:"
						   "b@hand.example",
						   test_policy, 2, 0), 0);
	read_back(&writer, &summary);
	build(&summary, &identity, &reports, &count);
	assert_int_equal(count, 2);
	assert_string_equal(reports[0].report_domain, "hand.example");
	assert_string_equal(reports[1].report_domain, "hand.example");
	assert_string_not_equal(reports[0].record, reports[1].record);
	assert_string_not_equal(reports[0].report_id, reports[1].report_id);
	assert_string_not_equal(reports[0].filename, reports[1].filename);
	assert_int_equal(reports[0].successes + reports[1].successes, 3);
	report_free_all(reports, count);
	summary_free(&summary);
	report_identity_free(&identity);
}

/* An internationalised report domain appears as A-labels in the file
 * name, the report-id and the policy-domain. */
static void idn_domain_in_names(void **state)
{
	struct report_identity identity;
	struct summary_writer writer;
	struct summary summary;
	struct report *reports;
	const char *policy = "{\"policy-type\":\"no-policy-found\","
			     "\"policy-string\":[],\"policy-domain\":\"\","
			     "\"mx-host\":[]}";
	cJSON *root;
	size_t count;

	(void)state;
	load_identity(&identity);
	assert_int_equal(summary_writer_open(&writer, "test", TEST_DAY,
					     SUMMARY_FINAL), 0);
	assert_int_equal(summary_writer_add_policy(&writer,
						   "B\xc3\xbc" "cher.Example.",
						   "v=TLSRPTv1;rua=mailto:r@"
						   "xn--bcher-kva.example",
						   policy, 1, 0), 0);
	read_back(&writer, &summary);
	build(&summary, &identity, &reports, &count);
	assert_int_equal(count, 1);
	assert_string_equal(reports[0].report_domain, "xn--bcher-kva.example");
	assert_non_null(strstr(reports[0].filename,
			       "!xn--bcher-kva.example!"));
	assert_non_null(strstr(reports[0].report_id,
			       ".xn--bcher-kva.example."));
	root = parse_report(&reports[0]);
	find_policy(root, "no-policy-found", "xn--bcher-kva.example", NULL);
	cJSON_Delete(root);
	report_free_all(reports, count);
	summary_free(&summary);
	report_identity_free(&identity);
}

/* The day's boundaries are UTC whatever the host's time zone is. */
static void date_range_ignores_tz(void **state)
{
	static const char *const zones[] = {
		"America/Los_Angeles", "Asia/Kolkata", "Pacific/Kiritimati",
	};
	const char *saved = getenv("TZ");
	char *restore = saved != NULL ? xstrdup(saved) : NULL;
	struct report_identity identity;
	size_t i;

	(void)state;
	load_identity(&identity);
	for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		struct summary summary;
		struct report *reports;
		const cJSON *range;
		cJSON *root;
		char *expected;
		size_t count;

		setenv("TZ", zones[i], 1);
		tzset();
		sample_summary(TEST_DAY, &summary);
		build(&summary, &identity, &reports, &count);
		root = parse_report(find_report(reports, count, "tls-ok.test"));
		range = cJSON_GetObjectItem(root, "date-range");
		assert_string_equal(string_at(range, "start-datetime"),
				    TEST_DAY "T00:00:00Z");
		assert_string_equal(string_at(range, "end-datetime"),
				    TEST_DAY "T23:59:59Z");
		expected = xasprintf("!%lld!%lld!", TEST_BEGIN,
				     TEST_BEGIN + 86399);
		assert_non_null(strstr(find_report(reports, count,
						   "tls-ok.test")->filename,
				       expected));
		free(expected);
		cJSON_Delete(root);
		report_free_all(reports, count);
		summary_free(&summary);
	}
	if (restore != NULL)
		setenv("TZ", restore, 1);
	else
		unsetenv("TZ");
	tzset();
	free(restore);
	report_identity_free(&identity);
}

/* Counts stop at 2^53 - 1, the largest integer I-JSON carries exactly,
 * and are printed as plain integers. */
static void counts_capped_for_ijson(void **state)
{
	struct report_identity identity;
	struct summary_writer writer;
	struct summary summary;
	struct report *reports;
	const char *record = "v=TLSRPTv1;rua=mailto:r@hand.example";
	size_t count;

	(void)state;
	load_identity(&identity);
	assert_int_equal(summary_writer_open(&writer, "test", TEST_DAY,
					     SUMMARY_FINAL), 0);
	assert_int_equal(summary_writer_add_policy(&writer, "hand.example",
						   record, test_policy,
						   SUMMARY_MAX_COUNT, 0), 0);
	assert_int_equal(summary_writer_add_policy(&writer, "hand.example",
						   record, test_policy,
						   SUMMARY_MAX_COUNT, 1), 0);
	read_back(&writer, &summary);
	build(&summary, &identity, &reports, &count);
	assert_int_equal(count, 1);
	assert_int_equal(reports[0].successes, SUMMARY_MAX_COUNT);
	assert_non_null(strstr(reports[0].json,
			       "\"total-successful-session-count\":"
			       "9007199254740991,"));
	assert_non_null(strstr(reports[0].json,
			       "\"total-failure-session-count\":1}"));
	report_free_all(reports, count);
	summary_free(&summary);
	report_identity_free(&identity);
}

/* Lines a summary from another host may carry: a tlsa policy without
 * policy-domain is skipped (it cannot be derived), values whose syntax
 * RFC 8460 fixes are normalised or left out, never sent broken. */
static void foreign_values_checked(void **state)
{
	static const char *const details[] = {
		"{\"result-type\":\"certificate-expired\",\"sending-mta-ip\":"
		"\"2001:DB8:0:0:0:0:0:1\",\"receiving-ip\":\"999.1.1.1\","
		"\"receiving-mx-hostname\":\"MX.Hand.Example.\","
		"\"additional-information\":\"bad \xff UTF-8\"}",
		"{\"result-type\":\"starttls-not-supported\","
		"\"receiving-mx-hostname\":\"bad host\","
		"\"receiving-mx-helo\":\"250 mx.hand.example\"}",
	};
	static const unsigned long long counts[] = { 1, 1 };
	const char *record = "v=TLSRPTv1;rua=mailto:r@hand.example";
	const char *tlsa = "{\"policy-type\":\"tlsa\",\"policy-string\":"
			   "[\"3 1 1 AB\"],\"policy-domain\":\"\","
			   "\"mx-host\":[]}";
	const char *sts = "{\"policy-type\":\"sts\",\"policy-string\":"
			  "[],\"policy-domain\":\"Hand.Example\","
			  "\"mx-host\":[\"*.MX.hand.example\",\"a b\"]}";
	struct report_identity identity;
	struct summary_writer writer;
	struct summary summary;
	struct report *reports;
	const cJSON *entry;
	const cJSON *detail;
	cJSON *root;
	size_t count;

	(void)state;
	load_identity(&identity);
	assert_int_equal(summary_writer_open(&writer, "test", TEST_DAY,
					     SUMMARY_FINAL), 0);
	assert_int_equal(summary_writer_add_policy(&writer, "hand.example",
						   record, tlsa, 5, 5), 0);
	assert_int_equal(summary_writer_add_policy(&writer, "hand.example",
						   record, sts, 1, 2), 0);
	assert_int_equal(summary_writer_add_detail(&writer, "hand.example",
						   record, sts, details[0],
						   counts[0]), 0);
	assert_int_equal(summary_writer_add_detail(&writer, "hand.example",
						   record, sts, details[1],
						   counts[1]), 0);
	read_back(&writer, &summary);
	build(&summary, &identity, &reports, &count);
	assert_int_equal(count, 1);
	assert_int_equal(reports[0].successes, 1);
	root = parse_report(&reports[0]);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root,
								"policies")),
			 1);
	entry = find_policy(root, "sts", "hand.example", NULL);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(
		cJSON_GetObjectItem(entry, "policy"), "mx-host")), 1);
	assert_true(has_string(cJSON_GetObjectItem(cJSON_GetObjectItem(
		entry, "policy"), "mx-host"), "*.mx.hand.example"));

	detail = find_detail(entry, "certificate-expired");
	assert_string_equal(string_at(detail, "sending-mta-ip"),
			    "2001:db8::1");
	assert_string_equal(string_at(detail, "receiving-mx-hostname"),
			    "mx.hand.example");
	assert_null(cJSON_GetObjectItem(detail, "receiving-ip"));
	assert_null(cJSON_GetObjectItem(detail, "additional-information"));

	detail = find_detail(entry, "starttls-not-supported");
	assert_null(cJSON_GetObjectItem(detail, "receiving-mx-hostname"));
	assert_string_equal(string_at(detail, "receiving-mx-helo"),
			    "mx.hand.example");
	cJSON_Delete(root);
	report_free_all(reports, count);
	summary_free(&summary);
	report_identity_free(&identity);
}

/* A policy that ended in success may still list failure-details rows
 * (failures it recovered from); such a report is not success-only. */
static void recovered_failures_reported(void **state)
{
	static const char *const details[] = {
		"{\"result-type\":\"certificate-expired\"}",
	};
	static const unsigned long long counts[] = { 1 };
	struct report_identity identity;
	struct summary_writer writer;
	struct summary summary;
	struct report *reports;
	const char *record = "v=TLSRPTv1;rua=mailto:r@hand.example";
	size_t count;

	(void)state;
	load_identity(&identity);
	identity.success_only_days = false;
	assert_int_equal(summary_writer_open(&writer, "test", TEST_DAY,
					     SUMMARY_FINAL), 0);
	assert_int_equal(summary_writer_add_policy(&writer, "hand.example",
						   record, test_policy, 3, 0),
			 0);
	assert_int_equal(summary_writer_add_detail(&writer, "hand.example",
						   record, test_policy,
						   details[0], counts[0]), 0);
	read_back(&writer, &summary);
	build(&summary, &identity, &reports, &count);
	assert_int_equal(count, 1);
	assert_int_equal(reports[0].failures, 0);
	assert_non_null(strstr(reports[0].json, "certificate-expired"));
	report_free_all(reports, count);
	summary_free(&summary);
	report_identity_free(&identity);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(report_fields_complete),
		cmocka_unit_test(report_counts_per_policy),
		cmocka_unit_test(report_postfix_values),
		cmocka_unit_test(report_id_stable),
		cmocka_unit_test(report_names_shape),
		cmocka_unit_test(report_gzip_one_member),
		cmocka_unit_test(unknown_result_type_mapped),
		cmocka_unit_test(failure_details_capped),
		cmocka_unit_test(fold_joins_kept_bare_row),
		cmocka_unit_test(fold_below_type_count),
		cmocka_unit_test(size_limit_folds_rows),
		cmocka_unit_test(oversized_report_not_built),
		cmocka_unit_test(success_only_days_skipped),
		cmocka_unit_test(lines_summed_and_isolated),
		cmocka_unit_test(identity_checked),
		cmocka_unit_test(submitter_from_contact_info),
		cmocka_unit_test(two_records_two_reports),
		cmocka_unit_test(idn_domain_in_names),
		cmocka_unit_test(date_range_ignores_tz),
		cmocka_unit_test(counts_capped_for_ijson),
		cmocka_unit_test(foreign_values_checked),
		cmocka_unit_test(recovered_failures_reported),
	};

	return cmocka_run_group_tests(tests, setup_queue, teardown_queue);
}
