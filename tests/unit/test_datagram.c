/*
 * Unit tests for datagram validation and canonical keys: every captured
 * sample is accepted, hostile variants are rejected with a reason that
 * names the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "datagram.h"
#include "queue_file.h"
#include "strbuf.h"
#include "xalloc.h"

static char *read_sample(const char *relative, size_t *len)
{
	const char *base = getenv("TLSRPTD_TEST_DATA");
	char *path = xasprintf("%s/%s", base ? base : "tests/data", relative);
	char *data;

	assert_int_equal(queue_read_file(path, 1 << 20, &data, len), 0);
	free(path);
	return data;
}

static int parse_text(const char *text, struct strbuf *reason)
{
	struct datagram dg;
	int status = datagram_parse(text, strlen(text), &dg, reason);

	datagram_free(&dg);
	return status;
}

static void samples_all_accepted(void **state)
{
	static const char *const files[] = {
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
		"postfix/14-tls-handshake-failure-encrypt.json",
		"postfix/17-multistring-tlsrpt-record.json",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct strbuf reason;
		struct datagram dg;
		size_t len;
		char *data = read_sample(files[i], &len);
		int status;

		strbuf_init(&reason);
		status = datagram_parse(data, len, &dg, &reason);
		if (status != 0)
			fail_msg("%s rejected: %s", files[i], reason.data);
		datagram_free(&dg);
		strbuf_free(&reason);
		free(data);
	}
}

static void sample_fields_parsed(void **state)
{
	struct strbuf reason;
	struct datagram dg;
	size_t len;
	char *data = read_sample("datagrams/05-example5-two-policies-sts-fail-"
				 "tlsa-fail.json", &len);

	(void)state;
	strbuf_init(&reason);
	assert_int_equal(datagram_parse(data, len, &dg, &reason), 0);
	assert_string_equal(dg.version, "1");
	assert_string_equal(dg.normalised_domain, "example.com");
	assert_int_equal(dg.policy_count, 2);
	assert_int_equal(dg.policies[0].type, POLICY_STS);
	assert_true(dg.policies[0].failed);
	assert_int_equal(dg.policies[0].detail_count, 2);
	assert_int_equal(dg.policies[0].details[1].code, 303);
	assert_string_equal(dg.policies[0].details[1].receiving_ip,
			    "11.22.33.55");
	assert_int_equal(dg.policies[1].type, POLICY_TLSA);
	assert_int_equal(dg.policies[1].declared_details, 1);
	datagram_free(&dg);
	strbuf_free(&reason);
	free(data);
}

static void policy_key_normalised(void **state)
{
	struct strbuf reason;
	struct datagram dg;
	size_t len;
	char *data = read_sample("datagrams/12-escaping-mixed-case-trailing-"
				 "dot-domain.json", &len);
	char *key;

	(void)state;
	strbuf_init(&reason);
	assert_int_equal(datagram_parse(data, len, &dg, &reason), 0);
	assert_string_equal(dg.normalised_domain, "mixed-case.example");
	key = datagram_policy_key(&dg, 0);
	assert_string_equal(key, "{\"policy-type\":\"sts\",\"policy-string\":"
			    "[\"version: STSv1\",\"mode: enforce\"],"
			    "\"policy-domain\":\"mixed-case.example\","
			    "\"mx-host\":[\"*.mx.mixed-case.example\"]}");
	free(key);
	datagram_free(&dg);
	strbuf_free(&reason);
	free(data);
}

static void policy_key_fills_missing_domain(void **state)
{
	struct strbuf reason;
	struct datagram dg;
	const char *text = "{\"dpv\":\"1\",\"d\":\"Example.COM.\",\"pr\":\"\","
			   "\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}";
	char *key;

	(void)state;
	strbuf_init(&reason);
	assert_int_equal(datagram_parse(text, strlen(text), &dg, &reason), 0);
	key = datagram_policy_key(&dg, 0);
	assert_string_equal(key, "{\"policy-type\":\"no-policy-found\","
			    "\"policy-string\":[],\"policy-domain\":"
			    "\"example.com\",\"mx-host\":[]}");
	free(key);
	datagram_free(&dg);
	strbuf_free(&reason);
}

static void detail_key_from_postfix(void **state)
{
	struct strbuf reason;
	struct datagram dg;
	size_t len;
	char *data = read_sample("postfix/03-no-starttls-encrypt.json", &len);
	char *key;

	(void)state;
	strbuf_init(&reason);
	assert_int_equal(datagram_parse(data, len, &dg, &reason), 0);
	key = datagram_detail_key(&dg.policies[0].details[0]);
	assert_string_equal(key, "{\"result-type\":\"starttls-not-supported\","
			    "\"sending-mta-ip\":\"127.0.0.1\","
			    "\"receiving-mx-hostname\":\"mx.notls-enc.test\","
			    "\"receiving-mx-helo\":\"mx-127.0.0.12\","
			    "\"receiving-ip\":\"127.0.0.12\"}");
	free(key);
	datagram_free(&dg);
	strbuf_free(&reason);
	free(data);
}

static void detail_key_ipv6_canonical(void **state)
{
	struct datagram_detail detail = {
		.code = 204,
		.sending_ip = "2001:DB8:0:0:0:0:0:10",
		.receiving_ip = "not an address",
	};
	char *key = datagram_detail_key(&detail);

	(void)state;
	assert_string_equal(key, "{\"result-type\":\"certificate-expired\","
			    "\"sending-mta-ip\":\"2001:db8::10\"}");
	free(key);
}

static void helo_strips_reply_code(void **state)
{
	char *helo = helo_from_reply("250-mx.example.net\r\n250-PIPELINING"
				     "\r\n250 SMTPUTF8");

	(void)state;
	assert_string_equal(helo, "mx.example.net");
	free(helo);
	helo = helo_from_reply("mx.example.net");
	assert_string_equal(helo, "mx.example.net");
	free(helo);
	assert_null(helo_from_reply("250 \r\n"));
}

struct rejection {
	const char *text;
	const char *reason;	/* expected substring of the reason */
};

static void hostile_inputs_rejected(void **state)
{
	static const struct rejection cases[] = {
		{"", "empty datagram"},
		{"{\"dpv\":\"1\"", "invalid JSON"},
		{"[]", "not a JSON object"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":[]}",
		 "expected 1 to"},
		{"{\"dpv\":1,\"d\":\"a.example\",\"pr\":\"\",\"policies\":[]}",
		 "dpv: expected a string"},
		{"{\"dpv\":\"1\",\"pr\":\"\",\"policies\":[]}", "d: missing"},
		{"{\"dpv\":\"1\",\"d\":\"\",\"pr\":\"\",\"policies\":[]}",
		 "d: invalid domain"},
		{"{\"dpv\":\"1\",\"d\":\"a..example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":9,\"f\":0}]}", "d: invalid domain"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":3,\"f\":0}]}", "unknown policy type 3"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":9,\"f\":2}]}", "policies[0].f: expected"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":9,\"f\":-1}]}", "policies[0].f: expected"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":9,\"f\":0.5}]}", "policies[0].f: expected"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":9,\"f\":true}]}", "policies[0].f: expected"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":9,\"f\":1e400}]}", "policies[0].f: expected"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":1,\"f\":0}]}", "missing for a tlsa"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":9,\"f\":1,\"failure-details\":[{\"c\":999}]}]}",
		 "unknown failure code 999"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":9,\"f\":1,\"failure-details\":[{\"s\":\"x\"}]}]}",
		 "failure-details[0].c: missing"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":9,\"f\":1,\"failure-details\":[{\"c\":201,"
		 "\"a\":\"x\\u0000y\"}]}]}", "\\u0000"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":9,\"f\":1,\"failure-details\":[{\"c\":201,"
		 "\"a\":\"\xff\xfe\"}]}]}", "invalid UTF-8"},
		{"{\"dpv\":\"1\",\"dpv\":\"2\",\"d\":\"a.example\",\"pr\":\"\","
		 "\"policies\":[{\"policy-type\":9,\"f\":0}]}", "duplicate member"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":9,\"f\":0}]} x", "trailing data"},
		{"{\"a\":[[[[[[[[[[1]]]]]]]]]]}", "nested deeper"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":2,\"f\":0,\"mx-host\":\"mx.a.example\"}]}",
		 "mx-host: expected an array"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf reason;

		strbuf_init(&reason);
		if (parse_text(cases[i].text, &reason) == 0)
			fail_msg("case %zu accepted: %s", i, cases[i].text);
		if (strstr(reason.data, cases[i].reason) == NULL)
			fail_msg("case %zu: reason \"%s\" lacks \"%s\"", i,
				 reason.data, cases[i].reason);
		strbuf_free(&reason);
	}
}

static void nul_byte_rejected(void **state)
{
	static const char text[] = "{\"dpv\":\"1\"\0}";
	struct strbuf reason;
	struct datagram dg;

	(void)state;
	strbuf_init(&reason);
	assert_int_equal(datagram_parse(text, sizeof(text) - 1, &dg, &reason),
			 -1);
	assert_non_null(strstr(reason.data, "NUL byte"));
	datagram_free(&dg);
	strbuf_free(&reason);
}

static void oversized_garbage_rejected(void **state)
{
	size_t len = DATAGRAM_MAX_SIZE + 1;
	char *garbage = xmalloc(len);
	struct strbuf reason;
	struct datagram dg;

	(void)state;
	memset(garbage, 'x', len);
	strbuf_init(&reason);
	assert_int_equal(datagram_parse(garbage, len, &dg, &reason), -1);
	assert_non_null(strstr(reason.data, "larger than"));
	datagram_free(&dg);
	strbuf_free(&reason);
	free(garbage);
}

static void count_mismatch_detected(void **state)
{
	const char *text = "{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\","
			   "\"policies\":[{\"policy-type\":9,\"f\":1,\"t\":3,"
			   "\"failure-details\":[{\"c\":201}]}]}";
	struct strbuf reason;
	struct datagram dg;
	size_t index = 99;

	(void)state;
	strbuf_init(&reason);
	assert_int_equal(datagram_parse(text, strlen(text), &dg, &reason), 0);
	assert_true(datagram_detail_count_mismatch(&dg, &index));
	assert_int_equal(index, 0);
	datagram_free(&dg);
	strbuf_free(&reason);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(samples_all_accepted),
		cmocka_unit_test(sample_fields_parsed),
		cmocka_unit_test(policy_key_normalised),
		cmocka_unit_test(policy_key_fills_missing_domain),
		cmocka_unit_test(detail_key_from_postfix),
		cmocka_unit_test(detail_key_ipv6_canonical),
		cmocka_unit_test(helo_strips_reply_code),
		cmocka_unit_test(hostile_inputs_rejected),
		cmocka_unit_test(nul_byte_rejected),
		cmocka_unit_test(oversized_garbage_rejected),
		cmocka_unit_test(count_mismatch_detected),
	};

	return cmocka_run_group_tests_name("datagram", tests, NULL, NULL);
}
