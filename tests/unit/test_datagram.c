/*
 * Unit tests for datagram validation and canonical keys: every captured
 * sample is accepted, and every validation rule is checked case by case
 * against variants of one template datagram. A rejection must name the
 * field in its reason and set the class the receiver counts by. Hostile
 * inputs: empty, 64 KiB of garbage, every truncation of real datagrams,
 * deep nesting, NUL bytes, invalid UTF-8, huge and negative numbers,
 * wrong types for every field, 10,000 failure-details.
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

/*
 * A valid datagram written as a template: "<name>" stands for the value of
 * one field, which expand() fills in with the valid value below or with
 * the value under test. Values may hold further markers, so that a whole
 * policy or failure-detail can be replaced as well.
 */
static const char template_text[] =
	"{\"dpv\":<dpv>,\"d\":<d>,\"pr\":<pr>,\"policies\":<policies>}";

static const struct {
	const char *name;
	const char *value;
} valid_values[] = {
	{"dpv", "\"1\""},
	{"d", "\"Example.NET.\""},
	{"pr", "\"v=TLSRPTv1; rua=mailto:tlsrpt@example.net\""},
	{"policies", "[<policy>]"},
	{"policy", "{\"policy-type\":<policy-type>,\"policy-domain\":"
		   "<policy-domain>,\"policy-string\":<policy-string>,"
		   "\"mx-host\":<mx-host>,\"failure-details\":"
		   "<failure-details>,\"t\":<t>,\"f\":<f>}"},
	{"policy-type", "2"},
	{"policy-domain", "\"example.net\""},
	{"policy-string", "[<policy-string-0>,\"mode: enforce\"]"},
	{"policy-string-0", "\"version: STSv1\""},
	{"mx-host", "[<mx-host-0>]"},
	{"mx-host-0", "\"*.mx.example.net\""},
	{"failure-details", "[<detail>]"},
	{"detail", "{\"c\":<c>,\"s\":<s>,\"n\":<n>,\"h\":<h>,\"r\":<r>,"
		   "\"a\":<a>,\"f\":<detail-f>}"},
	{"c", "204"},
	{"s", "\"192.0.2.10\""},
	{"n", "\"mx1.mx.example.net\""},
	{"h", "\"250-mx1.mx.example.net\\r\\n250 STARTTLS\""},
	{"r", "\"198.51.100.25\""},
	{"a", "\"certificate expired\""},
	{"detail-f", "\"X509_V_ERR_CERT_HAS_EXPIRED\""},
	{"t", "1"},
	{"f", "1"},
};

static const char *valid_value(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(valid_values) / sizeof(valid_values[0]); i++)
		if (strlen(valid_values[i].name) == len
		    && strncmp(valid_values[i].name, name, len) == 0)
			return valid_values[i].value;
	fail_msg("unknown template marker <%.*s>", (int)len, name);
	return NULL;
}

/* Append text with every marker expanded; field, when not NULL, gets
 * value instead of its valid one (markers in value are expanded too). */
static void expand_into(struct strbuf *out, const char *text,
			const char *field, const char *value)
{
	while (*text != '\0') {
		const char *open = strchr(text, '<');
		const char *close;
		size_t len;

		if (open == NULL) {
			strbuf_puts(out, text);
			return;
		}
		strbuf_append(out, text, (size_t)(open - text));
		close = strchr(open, '>');
		assert_non_null(close);
		len = (size_t)(close - open - 1);
		if (field != NULL && strlen(field) == len
		    && strncmp(field, open + 1, len) == 0)
			expand_into(out, value, NULL, NULL);
		else
			expand_into(out, valid_value(open + 1, len), field,
				    value);
		text = close + 1;
	}
}

/* Return the template datagram with field set to value (owned). */
static char *expand(const char *field, const char *value)
{
	struct strbuf out;

	strbuf_init(&out);
	expand_into(&out, template_text, field, value);
	return out.data;
}

/* Parse text; on rejection check the class and that the reason contains
 * want. A NULL want means the datagram must be accepted. */
static void check_case(const char *label, const char *text, size_t len,
		       const char *want, enum datagram_error want_error)
{
	struct strbuf reason;
	struct datagram dg;
	int status;

	strbuf_init(&reason);
	status = datagram_parse(text, len, &dg, &reason);
	if (want == NULL) {
		if (status != 0)
			fail_msg("%s: rejected (%s): %.300s", label,
				 reason.data, text);
	} else {
		if (status == 0)
			fail_msg("%s: accepted: %.300s", label, text);
		if (strstr(reason.data, want) == NULL)
			fail_msg("%s: reason \"%s\" lacks \"%s\"", label,
				 reason.data, want);
		if (dg.error != want_error)
			fail_msg("%s: class %s, expected %s (%s)", label,
				 datagram_error_name(dg.error),
				 datagram_error_name(want_error), reason.data);
	}
	datagram_free(&dg);
	strbuf_free(&reason);
}

static void check_field(const char *field, const char *value,
			const char *want, enum datagram_error want_error)
{
	char *text = expand(field, value);
	char *label = xasprintf("%s = %.60s", field, value);

	check_case(label, text, strlen(text), want, want_error);
	free(label);
	free(text);
}

static void template_accepted(void **state)
{
	struct strbuf reason;
	struct datagram dg;
	char *text = expand(NULL, NULL);

	(void)state;
	strbuf_init(&reason);
	if (datagram_parse(text, strlen(text), &dg, &reason) != 0)
		fail_msg("template rejected: %s", reason.data);
	assert_string_equal(dg.normalised_domain, "example.net");
	assert_int_equal(dg.policies[0].detail_count, 1);
	assert_int_equal(dg.policies[0].declared_details, 1);
	assert_false(datagram_detail_count_mismatch(&dg, &(size_t){0}));
	datagram_free(&dg);
	strbuf_free(&reason);
	free(text);
}

enum kind { STRING, INTEGER, ARRAY, OBJECT };

/* Values of every JSON type but the expected one. */
static const char *const not_string[] = {"1", "null", "true", "[]", "{}",
					 "[\"x\"]"};
static const char *const not_integer[] = {"\"1\"", "null", "false", "[]",
					  "{}", "[1]"};
static const char *const not_array[] = {"\"x\"", "1", "null", "true", "{}"};
static const char *const not_object[] = {"\"x\"", "1", "null", "true",
					 "[]"};

static void wrong_types_rejected(void **state)
{
	static const struct {
		const char *field;
		enum kind kind;
		const char *reason;
	} fields[] = {
		{"dpv", STRING, "dpv: expected a string"},
		{"d", STRING, "d: expected a string"},
		{"pr", STRING, "pr: expected a string"},
		{"policies", ARRAY, "policies: expected an array"},
		{"policy", OBJECT, "policies[0]: expected an object"},
		{"policy-type", INTEGER, "policies[0].policy-type: expected "
					 "an integer"},
		{"policy-domain", STRING, "policies[0].policy-domain: "
					  "expected a string"},
		{"policy-string", ARRAY, "policies[0].policy-string: "
					 "expected an array of strings"},
		{"policy-string-0", STRING, "policies[0].policy-string[0]: "
					    "expected a string"},
		{"mx-host", ARRAY, "policies[0].mx-host: expected an array "
				   "of strings"},
		{"mx-host-0", STRING, "policies[0].mx-host[0]: expected a "
				      "string"},
		{"failure-details", ARRAY, "policies[0].failure-details: "
					   "expected an array"},
		{"detail", OBJECT, "policies[0].failure-details[0]: expected "
				   "an object"},
		{"c", INTEGER, "policies[0].failure-details[0].c: expected an "
			       "integer"},
		{"s", STRING, "policies[0].failure-details[0].s: expected a "
			      "string"},
		{"n", STRING, "policies[0].failure-details[0].n: expected a "
			      "string"},
		{"h", STRING, "policies[0].failure-details[0].h: expected a "
			      "string"},
		{"r", STRING, "policies[0].failure-details[0].r: expected a "
			      "string"},
		{"a", STRING, "policies[0].failure-details[0].a: expected a "
			      "string"},
		{"detail-f", STRING, "policies[0].failure-details[0].f: "
				     "expected a string"},
		{"t", INTEGER, "policies[0].t: expected an integer"},
		{"f", INTEGER, "policies[0].f: expected an integer"},
	};
	size_t i;
	size_t j;

	(void)state;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *const *values;
		size_t count;

		switch (fields[i].kind) {
		case STRING:
			values = not_string;
			count = sizeof(not_string) / sizeof(not_string[0]);
			break;
		case INTEGER:
			values = not_integer;
			count = sizeof(not_integer) / sizeof(not_integer[0]);
			break;
		case ARRAY:
			values = not_array;
			count = sizeof(not_array) / sizeof(not_array[0]);
			break;
		default:
			values = not_object;
			count = sizeof(not_object) / sizeof(not_object[0]);
			break;
		}
		for (j = 0; j < count; j++)
			check_field(fields[i].field, values[j],
				    fields[i].reason, DATAGRAM_ERROR_SCHEMA);
	}
}

struct field_case {
	const char *field;
	const char *value;
	const char *reason;	/* NULL: accepted */
	enum datagram_error error;
};

static void run_field_cases(const struct field_case *cases, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		check_field(cases[i].field, cases[i].value, cases[i].reason,
			    cases[i].error);
}

#define RUN_FIELD_CASES(cases) \
	run_field_cases(cases, sizeof(cases) / sizeof(cases[0]))

static void ranges_checked(void **state)
{
	static const struct field_case cases[] = {
		/* policy-type: 1 tlsa, 2 sts, 9 no-policy-found */
		{"policy-type", "1", NULL, DATAGRAM_VALID},
		{"policy-type", "9", NULL, DATAGRAM_VALID},
		{"policy-type", "0", "unknown policy type 0",
		 DATAGRAM_ERROR_SCHEMA},
		{"policy-type", "3", "unknown policy type 3",
		 DATAGRAM_ERROR_SCHEMA},
		{"policy-type", "-1", "policy-type: expected an integer",
		 DATAGRAM_ERROR_SCHEMA},
		{"policy-type", "1.5", "policy-type: expected an integer",
		 DATAGRAM_ERROR_SCHEMA},
		{"policy-type", "1e308", "policy-type: expected an integer",
		 DATAGRAM_ERROR_SCHEMA},
		{"policy-type", "1e999", "policy-type: expected an integer",
		 DATAGRAM_ERROR_SCHEMA},
		{"policy-type", "99999999999999999999999",
		 "policy-type: expected an integer", DATAGRAM_ERROR_SCHEMA},

		/* f is a flag: 0 or 1, never an amount */
		{"f", "0", NULL, DATAGRAM_VALID},
		{"f", "2", "policies[0].f: expected an integer from 0 to 1",
		 DATAGRAM_ERROR_SCHEMA},
		{"f", "-1", "policies[0].f: expected an integer from 0 to 1",
		 DATAGRAM_ERROR_SCHEMA},
		{"f", "0.5", "policies[0].f: expected an integer",
		 DATAGRAM_ERROR_SCHEMA},
		{"f", "1000000", "policies[0].f: expected an integer",
		 DATAGRAM_ERROR_SCHEMA},

		/* t: a count, compared only; any int is kept */
		{"t", "0", NULL, DATAGRAM_VALID},
		{"t", "2147483647", NULL, DATAGRAM_VALID},
		{"t", "-1", "policies[0].t: expected an integer from 0 to "
			    "2147483647", DATAGRAM_ERROR_SCHEMA},
		{"t", "2147483648", "policies[0].t: expected an integer",
		 DATAGRAM_ERROR_SCHEMA},
		{"t", "1e30", "policies[0].t: expected an integer",
		 DATAGRAM_ERROR_SCHEMA},

		/* failure codes: the registered set only */
		{"c", "201", NULL, DATAGRAM_VALID},
		{"c", "306", NULL, DATAGRAM_VALID},
		{"c", "200", "unknown failure code 200",
		 DATAGRAM_ERROR_SCHEMA},
		{"c", "206", "unknown failure code 206",
		 DATAGRAM_ERROR_SCHEMA},
		{"c", "307", "unknown failure code 307",
		 DATAGRAM_ERROR_SCHEMA},
		{"c", "0", "unknown failure code 0", DATAGRAM_ERROR_SCHEMA},
		{"c", "-203", "c: expected an integer from 0 to 999",
		 DATAGRAM_ERROR_SCHEMA},
		{"c", "1203", "c: expected an integer from 0 to 999",
		 DATAGRAM_ERROR_SCHEMA},

		/* dpv: any non-empty string; the receiver logs others */
		{"dpv", "\"2\"", NULL, DATAGRAM_VALID},
		{"dpv", "\"\"", "dpv: empty protocol version",
		 DATAGRAM_ERROR_SCHEMA},

		/* pr: any string, the reporter parses it */
		{"pr", "\"\"", NULL, DATAGRAM_VALID},

		/* optional members may be absent */
		{"detail", "{\"c\":201}", NULL, DATAGRAM_VALID},
		{"policy", "{\"policy-type\":9,\"f\":0}", NULL, DATAGRAM_VALID},
		{"policy-string", "[]", NULL, DATAGRAM_VALID},
		{"failure-details", "[]", NULL, DATAGRAM_VALID},
	};

	(void)state;
	RUN_FIELD_CASES(cases);
}

static void domains_checked(void **state)
{
	static const struct field_case cases[] = {
		{"d", "\"mail.example\"", NULL, DATAGRAM_VALID},
		{"d", "\"localdomain\"", NULL, DATAGRAM_VALID},
		{"d", "\"b\\u00fccher.example\"", NULL, DATAGRAM_VALID},
		{"d", "\"xn--bcher-kva.example\"", NULL, DATAGRAM_VALID},
		{"d", "\"\"", "d: invalid domain name", DATAGRAM_ERROR_SCHEMA},
		{"d", "\".\"", "d: invalid domain name",
		 DATAGRAM_ERROR_SCHEMA},
		{"d", "\"a..example\"", "d: invalid domain name",
		 DATAGRAM_ERROR_SCHEMA},
		{"d", "\"-a.example\"", "starts or ends with '-'",
		 DATAGRAM_ERROR_SCHEMA},
		{"d", "\"a-.example\"", "starts or ends with '-'",
		 DATAGRAM_ERROR_SCHEMA},
		{"d", "\"192.0.2.1\"", "last label is all digits",
		 DATAGRAM_ERROR_SCHEMA},
		{"d", "\"[192.0.2.1]\"", "d: invalid domain name",
		 DATAGRAM_ERROR_SCHEMA},
		{"d", "\"a b.example\"", "d: invalid domain name",
		 DATAGRAM_ERROR_SCHEMA},
		{"d", "\"user@example.net\"", "d: invalid domain name",
		 DATAGRAM_ERROR_SCHEMA},
		{"d", "\"*.example.net\"", "d: invalid domain name",
		 DATAGRAM_ERROR_SCHEMA},
		{"policy-domain", "\"-mx.example.net\"",
		 "policies[0].policy-domain: invalid domain name",
		 DATAGRAM_ERROR_SCHEMA},
		{"policy-domain", "\"10.0.0.1\"",
		 "policies[0].policy-domain: invalid domain name",
		 DATAGRAM_ERROR_SCHEMA},
		{"mx-host-0", "\"mx..example.net\"",
		 "policies[0].mx-host[0]: invalid domain name",
		 DATAGRAM_ERROR_SCHEMA},
		{"policy", "{\"policy-type\":1,\"f\":0}",
		 "policies[0].policy-domain: required member missing (a tlsa "
		 "policy needs it)",
		 DATAGRAM_ERROR_SCHEMA},
	};
	char label[80];
	char *text;

	(void)state;
	RUN_FIELD_CASES(cases);

	/* 253 octets is the longest name; 63 the longest label. */
	memset(label, 'a', 63);
	label[63] = '\0';
	text = xasprintf("\"%s.%s.%s.%.61s\"", label, label, label, label);
	check_field("d", text, NULL, DATAGRAM_VALID);
	free(text);
	text = xasprintf("\"%s.%s.%s.%.62s\"", label, label, label, label);
	check_field("d", text, "longer than 253", DATAGRAM_ERROR_SCHEMA);
	free(text);
	text = xasprintf("\"%sa.example\"", label);
	check_field("d", text, "invalid label length 64",
		    DATAGRAM_ERROR_SCHEMA);
	free(text);
}

static void missing_members_rejected(void **state)
{
	static const struct {
		const char *text;
		const char *reason;
	} cases[] = {
		{"{\"d\":\"a.example\",\"pr\":\"\",\"policies\":[{"
		 "\"policy-type\":9,\"f\":0}]}", "dpv: required member missing"},
		{"{\"dpv\":\"1\",\"pr\":\"\",\"policies\":[{"
		 "\"policy-type\":9,\"f\":0}]}", "d: required member missing"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"policies\":[{"
		 "\"policy-type\":9,\"f\":0}]}", "pr: required member missing"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\"}",
		 "policies: required member missing"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[]}", "policies: expected 1 to 32 entries, got 0"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":[{"
		 "\"f\":0}]}", "policies[0].policy-type: required member missing"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":[{"
		 "\"policy-type\":9}]}", "policies[0].f: required member missing"},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":[{"
		 "\"policy-type\":9,\"f\":1,\"failure-details\":[{\"s\":"
		 "\"192.0.2.1\"}]}]}", "policies[0].failure-details[0].c: "
		 "required member missing"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(cases[i].reason, cases[i].text,
			   strlen(cases[i].text), cases[i].reason,
			   DATAGRAM_ERROR_SCHEMA);
}

/* Return a JSON string of len octets: a quoted run of 'x'. */
static char *long_string(size_t len)
{
	char *text = xmalloc(len + 3);

	text[0] = '"';
	memset(text + 1, 'x', len);
	text[len + 1] = '"';
	text[len + 2] = '\0';
	return text;
}

static void string_lengths_limited(void **state)
{
	static const struct {
		const char *field;
		size_t max;
		const char *reason;
	} cases[] = {
		{"dpv", DATAGRAM_MAX_VERSION, "dpv: string longer than 16"},
		{"pr", DATAGRAM_MAX_RECORD, "pr: string longer than 8192"},
		{"policy-string-0", DATAGRAM_MAX_TEXT,
		 "policies[0].policy-string[0]: string longer than 2048"},
		{"a", DATAGRAM_MAX_TEXT,
		 "policies[0].failure-details[0].a: string longer than 2048"},
		{"h", DATAGRAM_MAX_TEXT,
		 "policies[0].failure-details[0].h: string longer than 2048"},
		{"detail-f", DATAGRAM_MAX_TEXT,
		 "policies[0].failure-details[0].f: string longer than 2048"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *at_limit = long_string(cases[i].max);
		char *over = long_string(cases[i].max + 1);

		check_field(cases[i].field, at_limit, NULL, DATAGRAM_VALID);
		check_field(cases[i].field, over, cases[i].reason,
			    DATAGRAM_ERROR_LIMIT);
		free(at_limit);
		free(over);
	}
}

/* Return "[item,item,...]" with count items (owned). */
static char *repeat_array(const char *item, size_t count)
{
	struct strbuf out;
	size_t i;

	strbuf_init(&out);
	strbuf_putc(&out, '[');
	for (i = 0; i < count; i++) {
		if (i > 0)
			strbuf_putc(&out, ',');
		strbuf_puts(&out, item);
	}
	strbuf_putc(&out, ']');
	return out.data;
}

static void array_entries_limited(void **state)
{
	static const struct {
		const char *field;
		const char *item;
		size_t max;
		const char *reason;
	} cases[] = {
		{"policies", "{\"policy-type\":9,\"f\":0}",
		 DATAGRAM_MAX_POLICIES, "policies: expected 1 to 32 entries, "
		 "got 33"},
		{"failure-details", "{\"c\":201}", DATAGRAM_MAX_DETAILS,
		 "more than 256 entries"},
		{"policy-string", "\"mx: mx.example.net\"",
		 DATAGRAM_MAX_STRINGS, "more than 256 entries"},
		{"mx-host", "\"mx.example.net\"", DATAGRAM_MAX_STRINGS,
		 "more than 256 entries"},
		{"pr", "1", DATAGRAM_MAX_ENTRIES, "more than 256 entries"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *at_limit = repeat_array(cases[i].item, cases[i].max);
		char *over = repeat_array(cases[i].item, cases[i].max + 1);

		/* An array in place of "pr" stands for any unknown array:
		 * the entry limit applies before the type check. */
		check_field(cases[i].field, at_limit,
			    strcmp(cases[i].field, "pr") == 0
			    ? "pr: expected a string" : NULL,
			    strcmp(cases[i].field, "pr") == 0
			    ? DATAGRAM_ERROR_SCHEMA : DATAGRAM_VALID);
		check_field(cases[i].field, over, cases[i].reason,
			    DATAGRAM_ERROR_LIMIT);
		free(at_limit);
		free(over);
	}
}

/* Return the template datagram with extra members in the detail. */
static char *with_unknown_members(size_t count)
{
	struct strbuf detail;
	char *text;
	size_t i;

	strbuf_init(&detail);
	strbuf_puts(&detail, "{\"c\":201");
	for (i = 1; i < count; i++)
		strbuf_printf(&detail, ",\"x%zu\":%zu", i, i);
	strbuf_putc(&detail, '}');
	text = expand("detail", detail.data);
	strbuf_free(&detail);
	return text;
}

static void object_members_limited(void **state)
{
	char *text;

	(void)state;
	text = with_unknown_members(DATAGRAM_MAX_MEMBERS);
	check_case("64 members", text, strlen(text), NULL, DATAGRAM_VALID);
	free(text);
	text = with_unknown_members(DATAGRAM_MAX_MEMBERS + 1);
	check_case("65 members", text, strlen(text), "more than 64 members",
		   DATAGRAM_ERROR_LIMIT);
	free(text);
}

/* Return the text of a failure-detail with one more member (a static
 * buffer, for expand()). */
static const char *detail_with(const char *name, const char *value)
{
	static char text[512];

	snprintf(text, sizeof(text), "{\"c\":201,\"%s\":%s}", name, value);
	return text;
}

/* Return value nested in depth arrays: [[...value...]]. */
static char *nested(const char *value, size_t depth)
{
	struct strbuf out;
	size_t i;

	strbuf_init(&out);
	for (i = 0; i < depth; i++)
		strbuf_putc(&out, '[');
	strbuf_puts(&out, value);
	for (i = 0; i < depth; i++)
		strbuf_putc(&out, ']');
	return out.data;
}

static void deep_nesting_rejected(void **state)
{
	char *value;
	char *text;

	(void)state;

	/* An unknown member of a failure-detail is at depth 5 already. */
	value = nested("1", DATAGRAM_MAX_DEPTH - 5);
	text = expand("detail", detail_with("x", value));
	check_case("depth 8", text, strlen(text), NULL, DATAGRAM_VALID);
	free(value);
	free(text);

	value = nested("1", DATAGRAM_MAX_DEPTH - 4);
	text = expand("detail", detail_with("x", value));
	check_case("depth 9", text, strlen(text), "nested deeper than 8",
		   DATAGRAM_ERROR_LIMIT);
	free(value);
	free(text);

	/* Deep enough to exhaust the stack of a recursive parser. */
	text = nested("1", 30000);
	check_case("30000 brackets", text, strlen(text),
		   "nested deeper than 8", DATAGRAM_ERROR_LIMIT);
	free(text);

	/* Brackets inside strings are text, not nesting. */
	check_field("a", "\"[[[[[[[[[[[[{{{{{{{{{{\"", NULL, DATAGRAM_VALID);
}

static void hostile_inputs_rejected(void **state)
{
	static const struct {
		const char *text;
		const char *reason;
		enum datagram_error error;
	} cases[] = {
		{"", "empty datagram", DATAGRAM_ERROR_SIZE},
		{" ", "invalid JSON", DATAGRAM_ERROR_JSON},
		{"\xef\xbb\xbf{}", "non-ASCII byte 0xef outside a string",
		 DATAGRAM_ERROR_JSON},
		{"{\"dpv\":\"1\"", "invalid JSON", DATAGRAM_ERROR_JSON},
		{"[]", "not a JSON object", DATAGRAM_ERROR_JSON},
		{"\"x\"", "not a JSON object", DATAGRAM_ERROR_JSON},
		{"null", "not a JSON object", DATAGRAM_ERROR_JSON},
		{"{\"dpv\":\"1\",\"dpv\":\"2\",\"d\":\"a.example\",\"pr\":\"\","
		 "\"policies\":[{\"policy-type\":9,\"f\":0}]}",
		 "duplicate member \"dpv\"", DATAGRAM_ERROR_JSON},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":9,\"f\":0,\"f\":1}]}",
		 "duplicate member \"f\"", DATAGRAM_ERROR_JSON},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":9,\"f\":0}]} x", "trailing data",
		 DATAGRAM_ERROR_JSON},
		{"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"policies\":"
		 "[{\"policy-type\":9,\"f\":0}]}{}", "trailing data",
		 DATAGRAM_ERROR_JSON},
		{"{\"a\":\"\\ud800\"}", "invalid JSON", DATAGRAM_ERROR_JSON},
		{"{\"a\":\"\\x41\"}", "invalid JSON", DATAGRAM_ERROR_JSON},
		{"{\"a\":1,}", "invalid JSON", DATAGRAM_ERROR_JSON},
		{"{'a':1}", "invalid JSON", DATAGRAM_ERROR_JSON},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(cases[i].reason, cases[i].text,
			   strlen(cases[i].text), cases[i].reason,
			   cases[i].error);
}

/* JSON that cJSON 1.7 would read but RFC 8259 forbids. */
static void lexical_rules_enforced(void **state)
{
	static const struct field_case cases[] = {
		{"f", "01", "invalid number", DATAGRAM_ERROR_JSON},
		{"f", "1.", "invalid number", DATAGRAM_ERROR_JSON},
		{"f", "-", "invalid number", DATAGRAM_ERROR_JSON},
		{"f", "+1", "invalid JSON", DATAGRAM_ERROR_JSON},
		{"c", "2e", "invalid number", DATAGRAM_ERROR_JSON},
		{"c", "2.01e2", NULL, DATAGRAM_VALID},
		{"c", "20.1e1", NULL, DATAGRAM_VALID},
		{"c", "2.015e2", "c: expected an integer",
		 DATAGRAM_ERROR_SCHEMA},
		{"f", "1E0", NULL, DATAGRAM_VALID},
		{"a", "\"line\nbreak\"", "unescaped control character 0x0a",
		 DATAGRAM_ERROR_JSON},
		{"a", "\"tab\tinside\"", "unescaped control character 0x09",
		 DATAGRAM_ERROR_JSON},
		{"a", "\"escaped\\nbreak\\ttab\"", NULL, DATAGRAM_VALID},
		{"a", "\"x\\u0000y\"", "escaped NUL character (\\u0000)",
		 DATAGRAM_ERROR_JSON},
		{"a", "\"x\\\\u0000y\"", NULL, DATAGRAM_VALID},
		{"f", "\x01" "1", "control character 0x01 outside a string",
		 DATAGRAM_ERROR_JSON},
		{"f", "\x0b" "1", "control character 0x0b outside a string",
		 DATAGRAM_ERROR_JSON},
		{"f", "\r\n\t 1", NULL, DATAGRAM_VALID},
	};

	(void)state;
	RUN_FIELD_CASES(cases);
}

static void nul_bytes_rejected(void **state)
{
	char *text = expand(NULL, NULL);
	size_t len = strlen(text);
	size_t positions[] = {0, 1, len / 2, len - 1};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
		char *copy = xmalloc(len);
		char label[32];

		memcpy(copy, text, len);
		copy[positions[i]] = '\0';
		snprintf(label, sizeof(label), "NUL at %zu", positions[i]);
		check_case(label, copy, len, "NUL byte", DATAGRAM_ERROR_JSON);
		free(copy);
	}
	free(text);
}

static void invalid_utf8_rejected(void **state)
{
	static const struct field_case cases[] = {
		{"d", "\"\xff.example\"", "d: invalid UTF-8",
		 DATAGRAM_ERROR_UTF8},
		{"pr", "\"v=TLSRPTv1; rua=mailto:\xfe\"", "pr: invalid UTF-8",
		 DATAGRAM_ERROR_UTF8},
		{"a", "\"\xc0\xaf\"", "failure-details[0].a: invalid UTF-8",
		 DATAGRAM_ERROR_UTF8},
		{"a", "\"\xed\xa0\x80\"", "failure-details[0].a: invalid UTF-8",
		 DATAGRAM_ERROR_UTF8},
		{"a", "\"\xf4\x90\x80\x80\"",
		 "failure-details[0].a: invalid UTF-8", DATAGRAM_ERROR_UTF8},
		{"a", "\"\xe2\x82\"", "failure-details[0].a: invalid UTF-8",
		 DATAGRAM_ERROR_UTF8},
		{"a", "\"\xe2\x82 x\"", "failure-details[0].a: invalid UTF-8",
		 DATAGRAM_ERROR_UTF8},
		{"policy-string-0", "\"\x80\"",
		 "policies[0].policy-string[0]: invalid UTF-8",
		 DATAGRAM_ERROR_UTF8},
		{"a", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", NULL,
		 DATAGRAM_VALID},
		{"a", "\"\\ud83d\\ude00\"", NULL, DATAGRAM_VALID},
	};
	static const char unknown_member[] =
		"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"x\":\"\xff\","
		"\"policies\":[{\"policy-type\":9,\"f\":0}]}";
	static const char unknown_name[] =
		"{\"dpv\":\"1\",\"d\":\"a.example\",\"pr\":\"\",\"\xc3\":1,"
		"\"policies\":[{\"policy-type\":9,\"f\":0}]}";

	(void)state;
	RUN_FIELD_CASES(cases);
	check_case("unknown member", unknown_member,
		   sizeof(unknown_member) - 1, "invalid UTF-8 at byte 40",
		   DATAGRAM_ERROR_UTF8);
	check_case("member name", unknown_name, sizeof(unknown_name) - 1,
		   "invalid UTF-8 at byte 36", DATAGRAM_ERROR_UTF8);
}

/* A deterministic byte sequence (a linear congruential generator). */
static void fill_garbage(unsigned char *data, size_t len, unsigned seed,
			 unsigned char low, unsigned char high)
{
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		data[i] = (unsigned char)(low + (seed >> 16) % (high - low + 1u));
	}
}

static void garbage_rejected(void **state)
{
	static const struct {
		unsigned char low;
		unsigned char high;
	} ranges[] = {{0, 255}, {1, 255}, {0x20, 0x7e}, {0x80, 0xff}};
	size_t lens[] = {1, 2, 420, DATAGRAM_MAX_SIZE};
	unsigned char *data = xmalloc(DATAGRAM_MAX_SIZE + 1);
	size_t i;
	size_t j;
	unsigned seed;

	(void)state;
	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		for (j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			for (seed = 1; seed <= 20; seed++) {
				struct strbuf reason;
				struct datagram dg;

				fill_garbage(data, lens[j], seed,
					     ranges[i].low, ranges[i].high);
				strbuf_init(&reason);
				if (datagram_parse((const char *)data, lens[j],
						   &dg, &reason) == 0)
					fail_msg("garbage of %zu bytes "
						 "accepted", lens[j]);
				assert_true(reason.len > 0);
				assert_int_not_equal(dg.error,
						     DATAGRAM_VALID);
				datagram_free(&dg);
				strbuf_free(&reason);
			}
		}
	}

	/* 64 KiB of a valid beginning, then garbage. */
	memset(data, ' ', DATAGRAM_MAX_SIZE);
	memcpy(data, "{\"dpv\":\"1\",\"d\":\"a.example\",\"x\":\"", 32);
	check_case("64 KiB string", (const char *)data, DATAGRAM_MAX_SIZE,
		   "invalid JSON", DATAGRAM_ERROR_JSON);
	memset(data, 'x', DATAGRAM_MAX_SIZE + 1);
	check_case("64 KiB + 1", (const char *)data, DATAGRAM_MAX_SIZE + 1,
		   "datagram larger than 65536 bytes", DATAGRAM_ERROR_SIZE);
	free(data);
}

/* Every proper prefix of valid datagrams is rejected as invalid JSON. */
static void truncated_json_rejected(void **state)
{
	static const char *const files[] = {
		"datagrams/05-example5-two-policies-sts-fail-tlsa-fail.json",
		"postfix/09-dane-tlsa-mismatch.json",
	};
	size_t i;
	size_t len;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t size;
		char *data = read_sample(files[i], &size);

		for (len = 0; len < size; len++) {
			char label[64];

			snprintf(label, sizeof(label), "%zu of %zu bytes", len,
				 size);
			check_case(label, data, len,
				   len == 0 ? "empty datagram" : "invalid JSON",
				   len == 0 ? DATAGRAM_ERROR_SIZE
					    : DATAGRAM_ERROR_JSON);
		}
		free(data);
	}
}

static void ten_thousand_details_rejected(void **state)
{
	char *details = repeat_array("{\"c\":201}", 10000);
	char *text = expand("failure-details", details);
	char *at_limit;

	(void)state;
	assert_true(strlen(text) > DATAGRAM_MAX_SIZE);
	check_case("10000 failure-details", text, strlen(text),
		   "datagram larger than 65536 bytes", DATAGRAM_ERROR_SIZE);
	free(text);
	free(details);

	/* Within the size, the entry limit applies. */
	details = repeat_array("{\"c\":201}", 5000);
	text = expand("failure-details", details);
	assert_true(strlen(text) <= DATAGRAM_MAX_SIZE);
	check_case("5000 failure-details", text, strlen(text),
		   "more than 256 entries", DATAGRAM_ERROR_LIMIT);
	free(text);
	free(details);

	details = repeat_array("{\"c\":201}", DATAGRAM_MAX_DETAILS);
	at_limit = expand("failure-details", details);
	check_case("256 failure-details", at_limit, strlen(at_limit), NULL,
		   DATAGRAM_VALID);
	free(at_limit);
	free(details);
}

static void count_mismatch_kept(void **state)
{
	static const struct {
		const char *t;
		const char *details;
		bool mismatch;
	} cases[] = {
		{"1", "[<detail>]", false},
		{"3", "[<detail>]", true},
		{"0", "[<detail>]", true},
		{"1", "[]", true},
		{"0", "[]", false},
		{"100000", "[<detail>,<detail>]", true},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf with_t;
		struct strbuf reason;
		struct datagram dg;
		size_t index = 99;
		char *text;

		strbuf_init(&with_t);
		strbuf_printf(&with_t, "{\"policy-type\":2,\"policy-domain\":"
			      "<policy-domain>,\"failure-details\":%s,\"t\":%s,"
			      "\"f\":1}", cases[i].details, cases[i].t);
		text = expand("policy", with_t.data);
		strbuf_init(&reason);
		if (datagram_parse(text, strlen(text), &dg, &reason) != 0)
			fail_msg("t=%s rejected: %s", cases[i].t, reason.data);
		assert_int_equal(datagram_detail_count_mismatch(&dg, &index),
				 cases[i].mismatch);
		if (cases[i].mismatch)
			assert_int_equal(index, 0);
		datagram_free(&dg);
		strbuf_free(&reason);
		strbuf_free(&with_t);
		free(text);
	}
}

static void count_mismatch_absent_t(void **state)
{
	char *text = expand("policy", "{\"policy-type\":9,\"f\":1,"
				      "\"failure-details\":[<detail>]}");
	struct strbuf reason;
	struct datagram dg;
	size_t index;

	(void)state;
	strbuf_init(&reason);
	assert_int_equal(datagram_parse(text, strlen(text), &dg, &reason), 0);
	assert_int_equal(dg.policies[0].declared_details, -1);
	assert_false(datagram_detail_count_mismatch(&dg, &index));
	datagram_free(&dg);
	strbuf_free(&reason);
	free(text);
}

static void unknown_members_ignored(void **state)
{
	static const struct field_case cases[] = {
		{"detail", "{\"c\":201,\"z\":{\"y\":[1,2,{\"x\":null}]}}", NULL,
		 DATAGRAM_VALID},
		{"policy", "{\"policy-type\":9,\"f\":0,\"new\":true}", NULL,
		 DATAGRAM_VALID},
		{"pr", "\"\",\"future\":[\"a\",1,false]", NULL, DATAGRAM_VALID},
		{"detail", "{\"c\":201,\"z\":\"\\u0000\"}",
		 "escaped NUL character", DATAGRAM_ERROR_JSON},
		{"detail", "{\"c\":201,\"z\":01}", "invalid number",
		 DATAGRAM_ERROR_JSON},
	};

	(void)state;
	RUN_FIELD_CASES(cases);
}

static void line_joins_whitespace(void **state)
{
	static const char text[] =
		"{\"dpv\":\"1\",\r\n\"d\":\"a.example\",\n\"pr\":\"x\\ny\","
		"\"policies\":[{\"policy-type\":9,\t\"f\":0}]}\n";
	char spare[sizeof(text)];
	const char *line;
	struct strbuf reason;
	struct datagram dg;
	size_t len = sizeof(text) - 1;

	(void)state;
	strbuf_init(&reason);
	assert_int_equal(datagram_parse(text, len, &dg, &reason), 0);
	datagram_free(&dg);

	line = datagram_line(text, len, spare);
	assert_ptr_equal(line, spare);
	assert_null(memchr(line, '\n', len));
	assert_null(memchr(line, '\r', len));
	assert_memory_equal(line, "{\"dpv\":\"1\",  \"d\":\"a.example\", "
			    "\"pr\":\"x\\ny\",\"policies\":[{\"policy-type\":"
			    "9,\t\"f\":0}]} ", len);
	assert_int_equal(datagram_parse(line, len, &dg, &reason), 0);
	assert_string_equal(dg.record, "x\ny");
	datagram_free(&dg);

	/* A datagram on one line already is used as it is. */
	assert_ptr_equal(datagram_line(text, 10, spare), text);
	strbuf_free(&reason);
}

static void error_names(void **state)
{
	(void)state;
	assert_string_equal(datagram_error_name(DATAGRAM_ERROR_SIZE), "size");
	assert_string_equal(datagram_error_name(DATAGRAM_ERROR_JSON), "json");
	assert_string_equal(datagram_error_name(DATAGRAM_ERROR_UTF8), "utf8");
	assert_string_equal(datagram_error_name(DATAGRAM_ERROR_LIMIT),
			    "limit");
	assert_string_equal(datagram_error_name(DATAGRAM_ERROR_SCHEMA),
			    "schema");
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
		cmocka_unit_test(template_accepted),
		cmocka_unit_test(wrong_types_rejected),
		cmocka_unit_test(ranges_checked),
		cmocka_unit_test(domains_checked),
		cmocka_unit_test(missing_members_rejected),
		cmocka_unit_test(string_lengths_limited),
		cmocka_unit_test(array_entries_limited),
		cmocka_unit_test(object_members_limited),
		cmocka_unit_test(deep_nesting_rejected),
		cmocka_unit_test(hostile_inputs_rejected),
		cmocka_unit_test(lexical_rules_enforced),
		cmocka_unit_test(nul_bytes_rejected),
		cmocka_unit_test(invalid_utf8_rejected),
		cmocka_unit_test(garbage_rejected),
		cmocka_unit_test(truncated_json_rejected),
		cmocka_unit_test(ten_thousand_details_rejected),
		cmocka_unit_test(count_mismatch_kept),
		cmocka_unit_test(count_mismatch_absent_t),
		cmocka_unit_test(unknown_members_ignored),
		cmocka_unit_test(line_joins_whitespace),
		cmocka_unit_test(error_names),
	};

	return cmocka_run_group_tests_name("datagram", tests, NULL, NULL);
}
