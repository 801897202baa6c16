/*
 * Unit tests for the table of "tlsrptd status --day": per-domain sums over
 * records and policies, the top failure types with ties broken by name,
 * and an empty day with the reason it is empty. Each summary is written here as text and read with
 * summary_read(), as the command reads the aggregator's summary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "admin_request.h"
#include "config.h"
#include "day_status.h"
#include "summary_file.h"
#include "xalloc.h"

#define HEADER                                                                 \
	"tlsrptd-summary 1\nday: 2026-12-04\nkind: preview\n"                  \
	"created: 2026-12-04T21:00:00Z\nhost: mx1.example.net\n\n"

#define STS(domain)                                                            \
	"{\"policy-type\":\"sts\",\"policy-string\":[\"version: STSv1\"],"     \
	"\"policy-domain\":\"" domain "\",\"mx-host\":[\"mx." domain "\"]}"
#define NONE(domain)                                                           \
	"{\"policy-type\":\"no-policy-found\",\"policy-string\":[],"           \
	"\"policy-domain\":\"" domain "\",\"mx-host\":[]}"

#define POLICY(domain, record, policy, success, failure)                       \
	"policy {\"domain\":\"" domain "\",\"record\":\"" record               \
	"\",\"policy\":" policy ",\"success\":" #success                       \
	",\"failure\":" #failure "}\n"
#define DETAIL(domain, record, policy, type, count)                            \
	"detail {\"domain\":\"" domain "\",\"record\":\"" record               \
	"\",\"policy\":" policy ",\"detail\":{\"result-type\":\"" type         \
	"\",\"receiving-mx-hostname\":\"mx." domain "\"},\"count\":" #count    \
	"}\n"

#define RECORD_A "v=TLSRPTv1; rua=mailto:a@example.com"
#define RECORD_B "v=TLSRPTv1; rua=mailto:b@example.com"
#define RECORD_C "v=TLSRPTv1; rua=mailto:r@example.org"

/* Read text as a summary file and return day_status_print()'s output. */
static char *print_summary(const char *text)
{
	char path[] = "/tmp/test_day_status.XXXXXX";
	struct summary summary;
	struct strbuf error;
	char *output = NULL;
	size_t size = 0;
	FILE *out;
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	strbuf_init(&error);
	if (summary_read(path, &summary, &error) != 0)
		fail_msg("summary_read: %s", error.data);
	unlink(path);

	out = open_memstream(&output, &size);
	assert_non_null(out);
	day_status_print(&summary, out);
	fclose(out);
	summary_free(&summary);
	strbuf_free(&error);
	return output;
}

static void domains_summed(void **state)
{
	char *output;

	(void)state;
	output = print_summary(
	    HEADER POLICY("example.com", RECORD_A, STS("example.com"), 100, 5)
		POLICY("example.com", RECORD_B, NONE("example.com"), 20, 1)
		    POLICY("example.org", RECORD_C, NONE("example.org"), 4, 0)
			DETAIL("example.com", RECORD_A, STS("example.com"),
			       "certificate-expired", 4)
			    DETAIL("example.com", RECORD_B,
				   NONE("example.com"),
				   "starttls-not-supported", 1)
				DETAIL("example.com", RECORD_A,
				       STS("example.com"),
				       "sts-policy-fetch-error", 1) "end 6\n");

	assert_string_equal(
	    output,
	    "day 2026-12-04: preview summary, 2 domains, 130 sessions, 6 "
	    "failures\n"
	    "domain                             sessions   failures  top "
	    "failure types\n"
	    "example.com                             126          6  "
	    "certificate-expired 4, starttls-not-supported 1, "
	    "sts-policy-fetch-error 1\n"
	    "example.org                               4          0  -\n");
	free(output);
}

static void top_types_limited(void **state)
{
	char *output;

	(void)state;
	output = print_summary(
	    HEADER POLICY("example.net", RECORD_A, STS("example.net"), 0, 9)
		DETAIL("example.net", RECORD_A, STS("example.net"),
		       "validation-failure", 2)
		    DETAIL("example.net", RECORD_A, STS("example.net"),
			   "certificate-expired", 2)
			DETAIL("example.net", RECORD_A, STS("example.net"),
			       "dnssec-invalid", 1)
			    DETAIL("example.net", RECORD_A, STS("example.net"),
				   "starttls-not-supported", 4) "end 5\n");

	assert_string_equal(
	    output,
	    "day 2026-12-04: preview summary, 1 domains, 9 sessions, 9 "
	    "failures\n"
	    "domain                             sessions   failures  top "
	    "failure types\n"
	    "example.net                               9          9  "
	    "starttls-not-supported 4, certificate-expired 2, "
	    "validation-failure 2\n");
	free(output);
}

static void empty_day(void **state)
{
	char *output;

	(void)state;
	output = print_summary(HEADER "end 0\n");
	assert_string_equal(output, "day 2026-12-04: preview summary, 0 "
				    "domains, 0 sessions, 0 failures\n");
	free(output);
}

/* The reason for day start + offset days, with keep_days = 10. */
static int reason_for(int offset, struct strbuf *reason)
{
	char day[UTC_DAY_LEN + 1];

	utc_day_format(utc_day_start(utc_now()) + offset * UTC_DAY_SECONDS,
		       day);
	strbuf_reset(reason);
	return admin_request_empty_reason(day, reason);
}

static void empty_day_explained(void **state)
{
	char dir[] = "/tmp/test_day_status.XXXXXX";
	struct strbuf reason;
	char *path;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/main.cf", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("keep_days = 10\n", fp);
	fclose(fp);
	strbuf_init(&reason);
	assert_int_equal(config_load(dir, &reason), 0);

	assert_int_equal(reason_for(1, &reason), 1);
	assert_string_equal(reason.data, "a day in the future");
	assert_int_equal(reason_for(0, &reason), 0);
	assert_string_equal(reason.data, "no datagrams counted that day");
	assert_int_equal(reason_for(-10, &reason), 0);
	assert_int_equal(reason_for(-11, &reason), 1);
	assert_string_equal(reason.data, "older than keep_days = 10: expired");

	strbuf_free(&reason);
	config_free();
	unlink(path);
	free(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(domains_summed),
	    cmocka_unit_test(top_types_limited),
	    cmocka_unit_test(empty_day),
	    cmocka_unit_test(empty_day_explained),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
