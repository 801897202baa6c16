/*
 * Unit tests for the aggregator's in-memory fold: the UTC day of a
 * receive time around midnight, whatever TZ is set to, the success and
 * failure flag, and merging of counters whose datagrams differ only in
 * spelling: member order, white space, escapes, letter case, a trailing
 * dot, and U-labels against A-labels of an internationalised name. Lines
 * that repeat are counted from the fold's cache, which outlives a fold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "datagram.h"
#include "fold.h"
#include "utc_time.h"

#define STS_FAILURE                                                            \
	"{\"dpv\":\"1\",\"d\":\"example.com\",\"pr\":\"v=TLSRPTv1; "           \
	"rua=mailto:tlsrpt@example.com\",\"policies\":[{\"policy-type\":2,"    \
	"\"policy-domain\":\"example.com\",\"policy-string\":[\"version: "     \
	"STSv1\",\"mode: enforce\"],\"mx-host\":[\"mx.example.com\"],"         \
	"\"failure-details\":[{\"c\":202,\"s\":\"192.0.2.1\",\"n\":"           \
	"\"mx.example.com\",\"r\":\"198.51.100.2\"}],\"t\":1,\"f\":1}]}"

/* The same datagram with other member order, white space and case. */
#define STS_FAILURE_RESPELLED                                                  \
	"{ \"d\" : \"EXAMPLE.com.\", \"dpv\":\"1\", \"policies\":[{\"f\":1,"   \
	"\"t\":1, \"failure-details\":[{\"r\":\"198.51.100.2\",\"c\":202,"     \
	"\"n\":\"MX.example.com\",\"s\":\"192.0.2.1\"}],\"mx-host\":"          \
	"[\"mx.example.com\"],\"policy-string\":[\"version: STSv1\","          \
	"\"mode: enforce\"],\"policy-domain\":\"Example.Com\","                \
	"\"policy-type\":2}], \"pr\":\"v=TLSRPTv1; "                           \
	"rua=mailto:tlsrpt@example.com\"}"

#define NO_POLICY_SUCCESS                                                      \
	"{\"dpv\":\"1\",\"d\":\"example.org\",\"pr\":\"v=TLSRPTv1; "           \
	"rua=mailto:tlsrpt@example.org\",\"policies\":[{\"policy-type\":9,"    \
	"\"policy-domain\":\"example.org\",\"t\":0,\"f\":0}]}"

static void add_text(struct fold *fold, const char *when, const char *json)
{
	struct strbuf reason;
	struct datagram dg;
	time_t received;

	assert_int_equal(utc_time_parse(when, &received), 0);
	strbuf_init(&reason);
	if (datagram_parse(json, strlen(json), &dg, &reason) != 0)
		fail_msg("sample datagram rejected: %s", reason.data);
	fold_add(fold, received, &dg);
	datagram_free(&dg);
	strbuf_free(&reason);
}

static void fold_days_around_midnight(const char *tz)
{
	struct fold fold;

	setenv("TZ", tz, 1);
	tzset();
	fold_init(&fold);
	add_text(&fold, "2026-12-04T23:59:59Z", NO_POLICY_SUCCESS);
	add_text(&fold, "2026-12-05T00:00:00Z", NO_POLICY_SUCCESS);
	add_text(&fold, "2026-12-04T23:30:00Z", NO_POLICY_SUCCESS);
	add_text(&fold, "2026-12-05T00:30:00Z", NO_POLICY_SUCCESS);
	add_text(&fold, "2026-12-05T23:59:59Z", NO_POLICY_SUCCESS);
	fold_finish(&fold);

	assert_int_equal(fold.day_count, 2);
	assert_string_equal(fold.days[0].day, "2026-12-04");
	assert_int_equal(fold.days[0].datagrams, 2);
	assert_string_equal(fold.days[1].day, "2026-12-05");
	assert_int_equal(fold.days[1].datagrams, 3);
	assert_int_equal(fold.policy_count, 2);
	assert_string_equal(fold.policies[0].day, "2026-12-04");
	assert_int_equal(fold.policies[0].success, 2);
	assert_string_equal(fold.policies[1].day, "2026-12-05");
	assert_int_equal(fold.policies[1].success, 3);
	fold_free(&fold);
}

static void day_key_utc(void **state)
{
	(void)state;
	fold_days_around_midnight("UTC");
}

static void day_key_berlin(void **state)
{
	(void)state;
	fold_days_around_midnight("Europe/Berlin");
}

static void day_key_new_york(void **state)
{
	(void)state;
	fold_days_around_midnight("America/New_York");
}

static void spellings_merge(void **state)
{
	struct fold fold;

	(void)state;
	fold_init(&fold);
	add_text(&fold, "2026-12-04T10:00:00Z", STS_FAILURE);
	add_text(&fold, "2026-12-04T11:00:00Z", STS_FAILURE_RESPELLED);
	fold_finish(&fold);

	assert_int_equal(fold.datagrams, 2);
	assert_int_equal(fold.policy_count, 1);
	assert_string_equal(fold.policies[0].domain, "example.com");
	assert_int_equal(fold.policies[0].success, 0);
	assert_int_equal(fold.policies[0].failure, 2);
	assert_int_equal(fold.detail_count, 1);
	assert_int_equal(fold.details[0].count, 2);
	assert_non_null(
	    strstr(fold.details[0].detail,
		   "\"result-type\":\"certificate-host-mismatch\""));
	fold_free(&fold);
}

/* Add a no-policy-found success with the given spellings of the
 * recipient domain, policy-domain and mx-host; the record is fixed. */
static void add_spelled(struct fold *fold, const char *domain,
			const char *policy_domain, const char *mx)
{
	char json[512];

	snprintf(json, sizeof(json),
		 "{\"dpv\":\"1\",\"d\":\"%s\",\"pr\":\"v=TLSRPTv1; "
		 "rua=mailto:r@example.net\",\"policies\":[{\"policy-type\":"
		 "9,\"policy-domain\":\"%s\",\"mx-host\":[\"%s\"],\"f\":0}]}",
		 domain, policy_domain, mx);
	add_text(fold, "2026-12-04T10:00:00Z", json);
}

static void domain_spellings_merge(void **state)
{
	struct fold fold;

	(void)state;
	fold_init(&fold);
	add_spelled(&fold, "example.com", "example.com", "mx.example.com");
	add_spelled(&fold, "Example.COM.", "EXAMPLE.com.", "MX.Example.Com.");
	add_spelled(&fold, "EXAMPLE.COM", "example.com.", "mx.example.com");
	add_spelled(&fold, "\\u0065xample.com", "example.co\\u004d",
		    "mx.example.com");
	fold_finish(&fold);

	assert_int_equal(fold.datagrams, 4);
	assert_int_equal(fold.policy_count, 1);
	assert_string_equal(fold.policies[0].domain, "example.com");
	assert_int_equal(fold.policies[0].success, 4);
	assert_non_null(strstr(fold.policies[0].policy,
			       "\"policy-domain\":\"example.com\""));
	assert_non_null(
	    strstr(fold.policies[0].policy, "\"mx-host\":[\"mx.example.com\"]"));
	fold_free(&fold);
}

/* "b\u00fccher.example" in UTF-8, escaped, upper case, and as A-label. */
static void idn_spellings_merge(void **state)
{
	struct fold fold;

	(void)state;
	fold_init(&fold);
	add_spelled(&fold, "b\xc3\xbc" "cher.example", "b\xc3\xbc" "cher.example",
		    "mx.b\xc3\xbc" "cher.example");
	add_spelled(&fold, "B\xc3\x9c" "CHER.Example.", "b\\u00fccher.example",
		    "MX.xn--bcher-kva.example.");
	add_spelled(&fold, "xn--bcher-kva.example", "XN--BCHER-KVA.example",
		    "mx.xn--bcher-kva.example");
	add_spelled(&fold, "XN--BCHER-KVA.EXAMPLE.", "xn--bcher-kva.example",
		    "mx.B\xc3\x9c" "CHER.example");
	fold_finish(&fold);

	assert_int_equal(fold.datagrams, 4);
	assert_int_equal(fold.policy_count, 1);
	assert_string_equal(fold.policies[0].domain, "xn--bcher-kva.example");
	assert_int_equal(fold.policies[0].success, 4);
	assert_non_null(strstr(fold.policies[0].policy,
			       "\"policy-domain\":\"xn--bcher-kva.example\""));
	assert_non_null(strstr(fold.policies[0].policy,
			       "\"mx-host\":[\"mx.xn--bcher-kva.example\"]"));
	fold_free(&fold);
}

/* Line breaks and tabs between tokens are JSON white space too. */
static void white_space_merges(void **state)
{
	struct fold fold;

	(void)state;
	fold_init(&fold);
	add_text(&fold, "2026-12-04T10:00:00Z", NO_POLICY_SUCCESS);
	add_text(&fold, "2026-12-04T10:00:01Z",
		 "{\n\t\"policies\" :\n\t[ {\"f\" : 0 , \"t\" : 0 ,"
		 " \"policy-domain\" : \"example.org\" , \"policy-type\""
		 " : 9 } ] ,\r\n \"pr\" : \"v=TLSRPTv1; "
		 "rua=mailto:tlsrpt@example.org\" , \"d\" : \"example.org\","
		 "\n\"dpv\" : \"1\"\n}\n");
	fold_finish(&fold);

	assert_int_equal(fold.datagrams, 2);
	assert_int_equal(fold.policy_count, 1);
	assert_int_equal(fold.policies[0].success, 2);
	fold_free(&fold);
}

/* The record is kept as looked up, so two different records are two
 * counters even for one domain. */
static void records_stay_apart(void **state)
{
	struct fold fold;

	(void)state;
	fold_init(&fold);
	add_text(&fold, "2026-12-04T10:00:00Z", NO_POLICY_SUCCESS);
	add_text(&fold, "2026-12-04T10:00:00Z",
		 "{\"dpv\":\"1\",\"d\":\"example.org\",\"pr\":\"v=TLSRPTv1; "
		 "rua=mailto:other@example.org\",\"policies\":[{"
		 "\"policy-type\":9,\"policy-domain\":\"example.org\","
		 "\"t\":0,\"f\":0}]}");
	fold_finish(&fold);

	assert_int_equal(fold.policy_count, 2);
	assert_int_equal(fold.policies[0].success, 1);
	assert_int_equal(fold.policies[1].success, 1);
	fold_free(&fold);
}

static void success_and_failure_counted(void **state)
{
	struct fold fold;
	size_t i;

	(void)state;
	fold_init(&fold);
	for (i = 0; i < 3; i++)
		add_text(&fold, "2026-12-04T10:00:00Z", NO_POLICY_SUCCESS);
	add_text(&fold, "2026-12-04T10:00:00Z", STS_FAILURE);
	fold_finish(&fold);

	/* Sorted by domain: example.com before example.org. */
	assert_int_equal(fold.policy_count, 2);
	assert_string_equal(fold.policies[0].domain, "example.com");
	assert_int_equal(fold.policies[0].success, 0);
	assert_int_equal(fold.policies[0].failure, 1);
	assert_string_equal(fold.policies[1].domain, "example.org");
	assert_int_equal(fold.policies[1].success, 3);
	assert_int_equal(fold.policies[1].failure, 0);
	assert_int_equal(fold.detail_count, 1);
	fold_free(&fold);
}

/* Many distinct and repeated counters: the index grows several times,
 * and the counters come out unique and in key order. */
static void large_fold_sorted(void **state)
{
	struct fold fold;
	char json[512];
	size_t i;

	(void)state;
	fold_init(&fold);
	for (i = 0; i < 20000; i++) {
		snprintf(json, sizeof(json),
			 "{\"dpv\":\"1\",\"d\":\"d%zu.example\",\"pr\":\"v="
			 "TLSRPTv1; "
			 "rua=mailto:r@example.net\",\"policies\":[{"
			 "\"policy-type\":9,\"f\":%zu}]}",
			 i % 3000, i % 2);
		add_text(&fold, "2026-12-04T10:00:00Z", json);
	}
	fold_finish(&fold);

	assert_int_equal(fold.datagrams, 20000);
	assert_int_equal(fold.policy_count, 3000);
	for (i = 1; i < fold.policy_count; i++)
		assert_true(fold_counter_compare(&fold.policies[i - 1],
						 &fold.policies[i]) < 0);
	for (i = 0; i < fold.policy_count; i++) {
		unsigned long long sessions =
		    fold.policies[i].success + fold.policies[i].failure;

		assert_true(sessions == 6 || sessions == 7);
	}
	fold_free(&fold);
}

static void add_line(struct fold *fold, const char *json, int expected)
{
	struct strbuf reason;
	time_t received;

	assert_int_equal(utc_time_parse("2026-12-04T10:00:00Z", &received), 0);
	strbuf_init(&reason);
	assert_int_equal(
	    fold_add_line(fold, received, json, strlen(json), &reason),
	    expected);
	if (expected != 0)
		assert_true(reason.len > 0);
	strbuf_free(&reason);
}

/* A repeated line counts every time, and only valid lines are kept. */
static void repeated_lines_counted(void **state)
{
	struct fold_cache cache;
	struct fold fold;

	(void)state;
	fold_cache_init(&cache);
	fold_init_cached(&fold, &cache);
	add_line(&fold, STS_FAILURE, 0);
	add_line(&fold, STS_FAILURE, 0);
	add_line(&fold, "{\"dpv\":\"1\"}", -1);
	add_line(&fold, STS_FAILURE_RESPELLED, 0);
	add_line(&fold, "{\"dpv\":\"1\"}", -1);
	add_line(&fold, STS_FAILURE, 0);
	fold_finish(&fold);

	assert_int_equal(fold.datagrams, 4);
	assert_int_equal(fold.policy_count, 1);
	assert_int_equal(fold.policies[0].failure, 4);
	assert_int_equal(fold.detail_count, 1);
	assert_int_equal(fold.details[0].count, 4);
	assert_int_equal(cache.lines.count, 2);
	fold_free(&fold);
	fold_cache_free(&cache);
}

/* Folds one after another share a cache; a full cache is emptied. */
static void cache_outlives_folds(void **state)
{
	struct fold_cache cache;
	struct fold fold;
	int round;

	(void)state;
	fold_cache_init(&cache);
	for (round = 0; round < 3; round++) {
		/* The last round starts with a cache that counts as full. */
		if (round == 2)
			cache.lines.bytes = FOLD_CACHE_MAX_BYTES + 1;
		fold_init_cached(&fold, &cache);
		if (round == 2)
			assert_int_equal(cache.lines.count, 0);
		add_line(&fold, NO_POLICY_SUCCESS, 0);
		add_line(&fold, STS_FAILURE, 0);
		add_line(&fold, NO_POLICY_SUCCESS, 0);
		fold_finish(&fold);

		assert_int_equal(fold.policy_count, 2);
		assert_string_equal(fold.policies[0].domain, "example.com");
		assert_int_equal(fold.policies[0].failure, 1);
		assert_string_equal(fold.policies[1].domain, "example.org");
		assert_int_equal(fold.policies[1].success, 2);
		assert_int_equal(cache.lines.count, 2);
		fold_free(&fold);
	}
	fold_cache_free(&cache);
}

static void saturating_add_caps(void **state)
{
	(void)state;
	assert_int_equal(fold_saturating_add(1, 2), 3);
	assert_true(fold_saturating_add(~0ULL - 1, 5) == ~0ULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(day_key_utc),
	    cmocka_unit_test(day_key_berlin),
	    cmocka_unit_test(day_key_new_york),
	    cmocka_unit_test(spellings_merge),
	    cmocka_unit_test(domain_spellings_merge),
	    cmocka_unit_test(idn_spellings_merge),
	    cmocka_unit_test(white_space_merges),
	    cmocka_unit_test(records_stay_apart),
	    cmocka_unit_test(success_and_failure_counted),
	    cmocka_unit_test(large_fold_sorted),
	    cmocka_unit_test(repeated_lines_counted),
	    cmocka_unit_test(cache_outlives_folds),
	    cmocka_unit_test(saturating_add_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
