/*
 * Unit tests for report_mail. A message built from a report made here
 * with cJSON and gzip is parsed back with simple checks: each required
 * header once, CRLF only, line lengths, MIME structure, and a base64 part
 * that decodes to the payload. Hostile values must be rejected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "base64.h"
#include "config.h"
#include "gzip.h"
#include "report_mail.h"
#include "strbuf.h"
#include "xalloc.h"

#define SENDER		"TLS Reports <tlsrpt-noreply@reports.example.net>"
#define REPORT_ID	"2026-12-04.example.com.1a2b3c4d5e6f7a8b@reports.example.net"
#define FILENAME	"reports.example.net!example.com!1796342400!1796428799!" \
			"1a2b3c4d5e6f7a8b.json.gz"
#define NOW		((time_t)1796430600)	/* 2026-12-05T00:30:00Z */

static char config_dir[] = "/tmp/test_report_mail.XXXXXX";

static int load_config(void **state)
{
	char *path;
	FILE *fp;
	struct strbuf error;

	(void)state;
	if (mkdtemp(config_dir) == NULL)
		return -1;
	path = xasprintf("%s/main.cf", config_dir);
	fp = fopen(path, "w");
	if (fp == NULL)
		return -1;
	fprintf(fp, "organization_name = Example Reports\n"
		"contact_info = tlsrpt-noreply@reports.example.net\n"
		"report_sender = %s\n", SENDER);
	fclose(fp);
	strbuf_init(&error);
	if (config_load(config_dir, &error) != 0) {
		fprintf(stderr, "%s\n", error.data);
		return -1;
	}
	strbuf_free(&error);
	free(path);
	return 0;
}

static int remove_config(void **state)
{
	char *path = xasprintf("%s/main.cf", config_dir);

	(void)state;
	unlink(path);
	rmdir(config_dir);
	free(path);
	config_free();
	return 0;
}

static cJSON *make_policy(const char *type, const char *domain,
			  int successes, int failures)
{
	cJSON *entry = cJSON_CreateObject();
	cJSON *policy = cJSON_AddObjectToObject(entry, "policy");
	cJSON *summary = cJSON_AddObjectToObject(entry, "summary");

	cJSON_AddStringToObject(policy, "policy-type", type);
	cJSON_AddStringToObject(policy, "policy-domain", domain);
	cJSON_AddNumberToObject(summary, "total-successful-session-count",
				successes);
	cJSON_AddNumberToObject(summary, "total-failure-session-count",
				failures);
	return entry;
}

static void add_failure(cJSON *entry, const char *result_type,
			const char *mx, int sessions)
{
	cJSON *details = cJSON_GetObjectItem(entry, "failure-details");
	cJSON *detail = cJSON_CreateObject();

	if (details == NULL)
		details = cJSON_AddArrayToObject(entry, "failure-details");
	cJSON_AddStringToObject(detail, "result-type", result_type);
	cJSON_AddStringToObject(detail, "receiving-mx-hostname", mx);
	cJSON_AddNumberToObject(detail, "failed-session-count", sessions);
	cJSON_AddItemToArray(details, detail);
}

/* The report of RFC 8460 section 4.4 shape, as JSON text. */
static char *make_report_json(void)
{
	cJSON *report = cJSON_CreateObject();
	cJSON *range = cJSON_AddObjectToObject(report, "date-range");
	cJSON *policies = cJSON_AddArrayToObject(report, "policies");
	cJSON *sts = make_policy("sts", "example.com", 12, 4);
	cJSON *tlsa = make_policy("tlsa", "mx1.example.com", 7, 0);
	char *text;

	cJSON_AddStringToObject(report, "organization-name",
				"Example Reports");
	cJSON_AddStringToObject(range, "start-datetime",
				"2026-12-04T00:00:00Z");
	cJSON_AddStringToObject(range, "end-datetime", "2026-12-04T23:59:59Z");
	cJSON_AddStringToObject(report, "contact-info",
				"tlsrpt-noreply@reports.example.net");
	cJSON_AddStringToObject(report, "report-id", REPORT_ID);
	add_failure(sts, "certificate-expired", "mx1.example.com", 2);
	add_failure(sts, "starttls-not-supported", "mx2.example.com", 1);
	add_failure(sts, "certificate-expired", "mx2.example.com", 1);
	cJSON_AddItemToArray(policies, sts);
	cJSON_AddItemToArray(policies, tlsa);
	text = cJSON_PrintUnformatted(report);
	cJSON_Delete(report);
	return text;
}

static void gzip_text(const char *text, struct delivery *delivery)
{
	assert_int_equal(gzip_compress(text, strlen(text), &delivery->payload,
				       &delivery->payload_len), 0);
}

/* A delivery as the reporter queues it; release with delivery_free(). */
static void make_delivery(struct delivery *delivery)
{
	char *json = make_report_json();

	memset(delivery, 0, sizeof(*delivery));
	delivery->report_id = xstrdup(REPORT_ID);
	delivery->report_domain = xstrdup("example.com");
	delivery->day = xstrdup("2026-12-04");
	delivery->destination = xstrdup("mailto:tlsrpt@example.com");
	delivery->rua = xstrdup("mailto:tlsrpt@example.com");
	delivery->submitter = xstrdup("reports.example.net");
	delivery->filename = xstrdup(FILENAME);
	delivery->created = xstrdup("2026-12-05T00:30:00Z");
	delivery->last_error = xstrdup("");
	gzip_text(json, delivery);
	free(json);
}

static void build_ok(const struct delivery *delivery, struct strbuf *message)
{
	struct strbuf error;

	strbuf_init(&error);
	strbuf_init(message);
	if (report_mail_build(delivery, "tlsrpt@example.com", "ABC.1", NOW,
			      message, &error) != 0)
		fail_msg("report_mail_build failed: %s", error.data);
	strbuf_free(&error);
}

static void build_fails(const struct delivery *delivery, const char *to,
			const char *expected_reason)
{
	struct strbuf error, message;

	strbuf_init(&error);
	strbuf_init(&message);
	assert_int_equal(report_mail_build(delivery, to, "ABC.1", NOW,
					   &message, &error), -1);
	if (strstr(error.data, expected_reason) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", error.data,
			 expected_reason);
	assert_int_equal(message.len, 0);
	strbuf_free(&error);
	strbuf_free(&message);
}

/* The header block of a message or part, unfolded: one field a line,
 * each ending in '\n'. Returns the offset of the body. */
static size_t unfold_headers(const char *text, struct strbuf *headers)
{
	const char *end = strstr(text, "\r\n\r\n");
	const char *p;

	assert_non_null(end);
	strbuf_init(headers);
	for (p = text; p < end; p++) {
		if (p[0] == '\r' && p[1] == '\n' && (p[2] == ' '
						     || p[2] == '\t')) {
			p++;
			continue;
		}
		if (p[0] == '\r' && p[1] == '\n') {
			strbuf_putc(headers, '\n');
			p++;
			continue;
		}
		strbuf_putc(headers, *p);
	}
	strbuf_putc(headers, '\n');
	return (size_t)(end - text) + 4;
}

/* The value of the one field called name. Fails the test if there are
 * none or several. */
static char *header_value(const struct strbuf *headers, const char *name)
{
	const char *line = headers->data;
	char *found = NULL;
	size_t name_len = strlen(name);

	while (*line != '\0') {
		const char *end = strchr(line, '\n');

		if (strncasecmp(line, name, name_len) == 0
		    && line[name_len] == ':') {
			if (found != NULL)
				fail_msg("header %s appears twice", name);
			found = xstrndup(line + name_len + 2,
					 (size_t)(end - line) - name_len - 2);
		}
		line = end + 1;
	}
	if (found == NULL)
		fail_msg("header %s missing", name);
	return found;
}

static void assert_header(const struct strbuf *headers, const char *name,
			  const char *expected)
{
	char *value = header_value(headers, name);

	assert_string_equal(value, expected);
	free(value);
}

/* The value of a MIME parameter, joining RFC 2231 continuations. */
static char *param_value(const char *field, const char *name)
{
	struct strbuf value;
	char *plain = xasprintf("%s=\"", name);
	const char *at = strstr(field, plain);
	unsigned index;

	strbuf_init(&value);
	if (at != NULL) {
		at += strlen(plain);
		strbuf_append(&value, at, strcspn(at, "\""));
	}
	for (index = 0; at == NULL; index++) {
		char *segment = xasprintf("%s*%u=\"", name, index);
		const char *start = strstr(field, segment);

		free(segment);
		if (start == NULL)
			break;
		start = strchr(start, '"') + 1;
		strbuf_append(&value, start, strcspn(start, "\""));
	}
	free(plain);
	return strbuf_detach(&value, NULL);
}

static void headers_each_once(void **state)
{
	struct delivery delivery;
	struct strbuf message, headers;
	char *content_type;

	(void)state;
	make_delivery(&delivery);
	build_ok(&delivery, &message);
	unfold_headers(message.data, &headers);

	assert_header(&headers, "Date", "Sat, 05 Dec 2026 00:30:00 +0000");
	assert_header(&headers, "From", SENDER);
	assert_header(&headers, "To", "tlsrpt@example.com");
	assert_header(&headers, "Subject", "Report Domain: example.com "
		      "Submitter: reports.example.net Report-ID: <"
		      REPORT_ID ">");
	assert_header(&headers, "Message-ID", "<ABC.1@reports.example.net>");
	assert_header(&headers, "MIME-Version", "1.0");
	assert_header(&headers, "Auto-Submitted", "auto-generated");
	assert_header(&headers, "TLS-Report-Domain", "example.com");
	assert_header(&headers, "TLS-Report-Submitter", "reports.example.net");
	assert_header(&headers, "TLS-Required", "No");
	content_type = header_value(&headers, "Content-Type");
	assert_non_null(strstr(content_type, "multipart/report; "
			       "report-type=\"tlsrpt\"; boundary=\""));
	free(content_type);

	strbuf_free(&headers);
	strbuf_free(&message);
	delivery_free(&delivery);
}

static void assert_line_discipline(const struct strbuf *message)
{
	size_t line_len = 0;
	size_t i;

	for (i = 0; i < message->len; i++) {
		unsigned char c = (unsigned char)message->data[i];

		if (c >= 0x80 || c == '\0')
			fail_msg("byte 0x%02x at offset %zu is not 7-bit "
				 "text", c, i);
		if (c == '\r') {
			if (message->data[i + 1] != '\n')
				fail_msg("bare CR at offset %zu", i);
			continue;
		}
		if (c == '\n') {
			if (i == 0 || message->data[i - 1] != '\r')
				fail_msg("bare LF at offset %zu", i);
			line_len = 0;
			continue;
		}
		if (++line_len > 78)
			fail_msg("line over 78 characters: \"%.*s\"",
				 (int)strcspn(message->data + i + 1 - line_len,
					      "\r"),
				 message->data + i + 1 - line_len);
	}
	assert_int_equal(line_len, 0);	/* ends with CRLF */
}

static void lines_crlf_and_short(void **state)
{
	struct delivery delivery;
	struct strbuf message;

	(void)state;
	make_delivery(&delivery);
	build_ok(&delivery, &message);
	assert_line_discipline(&message);
	strbuf_free(&message);
	delivery_free(&delivery);
}

/* Split the body at the boundary of the Content-Type header: the part
 * texts (headers and body) go to parts[]. Returns the part count. */
static size_t split_parts(const char *message, char *parts[], size_t max)
{
	struct strbuf headers, delimiter;
	size_t body_offset = unfold_headers(message, &headers);
	char *content_type = header_value(&headers, "Content-Type");
	char *boundary = param_value(content_type, "boundary");
	const char *p = message + body_offset;
	const char *close;
	size_t count = 0;

	strbuf_init(&delimiter);
	strbuf_printf(&delimiter, "\r\n--%s", boundary);
	close = xasprintf("\r\n--%s--\r\n", boundary);
	assert_true(strlen(boundary) > 0);

	/* The closing delimiter ends the message. */
	assert_true(strlen(p) >= strlen(close));
	assert_string_equal(p + strlen(p) - strlen(close), close);

	p = strstr(p, delimiter.data);
	while (p != NULL && strncmp(p + delimiter.len, "--", 2) != 0) {
		const char *start = p + delimiter.len + 2;
		const char *next = strstr(start, delimiter.data);

		assert_non_null(next);
		assert_true(count < max);
		parts[count++] = xstrndup(start, (size_t)(next - start));
		p = next;
	}
	free((char *)close);
	free(boundary);
	free(content_type);
	strbuf_free(&delimiter);
	strbuf_free(&headers);
	return count;
}

static void mime_structure_valid(void **state)
{
	struct delivery delivery;
	struct strbuf message, text_headers, report_headers;
	char *parts[4];
	char *value, *name;
	size_t count;

	(void)state;
	make_delivery(&delivery);
	build_ok(&delivery, &message);
	count = split_parts(message.data, parts, 4);
	assert_int_equal(count, 2);

	unfold_headers(parts[0], &text_headers);
	assert_header(&text_headers, "Content-Type",
		      "text/plain; charset=us-ascii");
	assert_header(&text_headers, "Content-Transfer-Encoding", "7bit");

	unfold_headers(parts[1], &report_headers);
	value = header_value(&report_headers, "Content-Type");
	assert_int_equal(strncmp(value, "application/tlsrpt+gzip;", 24), 0);
	name = param_value(value, "name");
	assert_string_equal(name, FILENAME);
	free(name);
	free(value);
	assert_header(&report_headers, "Content-Transfer-Encoding", "base64");
	value = header_value(&report_headers, "Content-Disposition");
	assert_int_equal(strncmp(value, "attachment;", 11), 0);
	name = param_value(value, "filename");
	assert_string_equal(name, FILENAME);
	free(name);
	free(value);

	strbuf_free(&text_headers);
	strbuf_free(&report_headers);
	free(parts[0]);
	free(parts[1]);
	strbuf_free(&message);
	delivery_free(&delivery);
}

static void attachment_decodes_to_payload(void **state)
{
	struct delivery delivery;
	struct strbuf message, headers;
	char *parts[4];
	unsigned char *data;
	size_t data_len, body;

	(void)state;
	make_delivery(&delivery);
	build_ok(&delivery, &message);
	assert_int_equal(split_parts(message.data, parts, 4), 2);
	body = unfold_headers(parts[1], &headers);
	assert_int_equal(base64_decode(parts[1] + body, strlen(parts[1] + body),
				       &data, &data_len), 0);
	assert_int_equal(data_len, delivery.payload_len);
	assert_memory_equal(data, delivery.payload, data_len);

	free(data);
	strbuf_free(&headers);
	free(parts[0]);
	free(parts[1]);
	strbuf_free(&message);
	delivery_free(&delivery);
}

static void text_part_has_counts(void **state)
{
	static const char *const expected[] = {
		"This is an aggregate TLS report from reports.example.net.",
		"Report domain: example.com",
		"Period: 2026-12-04T00:00:00Z to 2026-12-04T23:59:59Z",
		"Policy 1: sts, policy domain example.com\r\n"
		"  Successful sessions: 12\r\n"
		"  Failed sessions: 4\r\n"
		"  Failures by result type:\r\n"
		"    certificate-expired: 3\r\n"
		"    starttls-not-supported: 1\r\n",
		"Policy 2: tlsa, policy domain mx1.example.com\r\n"
		"  Successful sessions: 7\r\n"
		"  Failed sessions: 0\r\n\r\n",
	};
	struct delivery delivery;
	struct strbuf message;
	char *parts[4];
	size_t i;

	(void)state;
	make_delivery(&delivery);
	build_ok(&delivery, &message);
	assert_int_equal(split_parts(message.data, parts, 4), 2);
	for (i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		if (strstr(parts[0], expected[i]) == NULL)
			fail_msg("text part lacks \"%s\":\n%s", expected[i],
				 parts[0]);
	}
	free(parts[0]);
	free(parts[1]);
	strbuf_free(&message);
	delivery_free(&delivery);
}

static void long_values_folded(void **state)
{
	static const char long_domain[] =
		"a-rather-long-label-for-testing-header-folding.mail."
		"example.com";
	struct delivery delivery;
	struct strbuf message, headers;
	char *expected, *value;
	char *parts[4];

	(void)state;
	make_delivery(&delivery);
	free(delivery.report_domain);
	delivery.report_domain = xstrdup(long_domain);
	free(delivery.filename);
	delivery.filename = xasprintf("reports.example.net!%s!1796342400!"
				      "1796428799!1a2b3c4d5e6f7a8b.json.gz",
				      long_domain);
	build_ok(&delivery, &message);
	assert_line_discipline(&message);

	unfold_headers(message.data, &headers);
	expected = xasprintf("Report Domain: %s Submitter: reports.example.net "
			     "Report-ID: <%s>", long_domain, REPORT_ID);
	assert_header(&headers, "Subject", expected);
	free(expected);
	strbuf_free(&headers);

	/* The file name no longer fits one line: RFC 2231 continuations. */
	assert_int_equal(split_parts(message.data, parts, 4), 2);
	unfold_headers(parts[1], &headers);
	value = header_value(&headers, "Content-Disposition");
	assert_non_null(strstr(value, "filename*0=\""));
	expected = param_value(value, "filename");
	assert_string_equal(expected, delivery.filename);
	free(expected);
	free(value);

	strbuf_free(&headers);
	free(parts[0]);
	free(parts[1]);
	strbuf_free(&message);
	delivery_free(&delivery);
}

static void invalid_payload_rejected(void **state)
{
	struct delivery delivery;

	(void)state;
	make_delivery(&delivery);
	free(delivery.payload);
	delivery.payload = (unsigned char *)xstrdup("not gzip at all");
	delivery.payload_len = strlen("not gzip at all");
	build_fails(&delivery, "tlsrpt@example.com", "gzip");

	free(delivery.payload);
	gzip_text("{\"policies\": [", &delivery);
	build_fails(&delivery, "tlsrpt@example.com", "not valid JSON");

	free(delivery.payload);
	gzip_text("{\"date-range\": {}}", &delivery);
	build_fails(&delivery, "tlsrpt@example.com", "date-range or policies");

	free(delivery.payload);
	gzip_text("{\"date-range\": {\"start-datetime\": \"a\", "
		  "\"end-datetime\": \"b\"}, \"policies\": [{\"policy\": "
		  "{\"policy-type\": \"sts\"}, \"summary\": "
		  "{\"total-successful-session-count\": -1, "
		  "\"total-failure-session-count\": 0}}]}", &delivery);
	build_fails(&delivery, "tlsrpt@example.com", "summary count");
	delivery_free(&delivery);
}

static void hostile_values_rejected(void **state)
{
	static const struct {
		size_t field;
		const char *value;
		const char *reason;
	} cases[] = {
		{ offsetof(struct delivery, report_domain),
		  "example.com\r\nBcc: victim@example.org", "report-domain" },
		{ offsetof(struct delivery, report_domain), "exa mple.com",
		  "report-domain" },
		{ offsetof(struct delivery, report_domain), "b\xc3\xa4r.example",
		  "report-domain" },
		{ offsetof(struct delivery, submitter), "", "submitter" },
		{ offsetof(struct delivery, report_id), "no-at-sign",
		  "id-left@id-right" },
		{ offsetof(struct delivery, report_id), "a>b@example.com",
		  "id-left@id-right" },
		{ offsetof(struct delivery, report_id), "a@b@example.com",
		  "id-left@id-right" },
		{ offsetof(struct delivery, report_id), "id@example.com\n",
		  "report-id" },
		{ offsetof(struct delivery, filename), "../../etc/passwd",
		  "filename" },
		{ offsetof(struct delivery, filename), "a\"b.json.gz",
		  "filename" },
		{ offsetof(struct delivery, filename), ".hidden.json.gz",
		  "filename" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct delivery delivery;
		char **field;

		make_delivery(&delivery);
		field = (char **)((char *)&delivery + cases[i].field);
		free(*field);
		*field = xstrdup(cases[i].value);
		build_fails(&delivery, "tlsrpt@example.com", cases[i].reason);
		delivery_free(&delivery);
	}
}

static void hostile_recipient_rejected(void **state)
{
	struct delivery delivery;

	(void)state;
	make_delivery(&delivery);
	build_fails(&delivery, "a@example.com\r\nBcc: b@example.org",
		    "recipient address");
	build_fails(&delivery, "a b@example.com", "recipient address");
	build_fails(&delivery, "nobody", "recipient address");
	build_fails(&delivery, "<a@example.com>", "recipient address");
	delivery_free(&delivery);
}

static void mailto_address_parsed(void **state)
{
	static const struct {
		const char *uri;
		const char *address;	/* NULL: rejected */
	} cases[] = {
		{ "mailto:tlsrpt@example.com", "tlsrpt@example.com" },
		{ "MAILTO:tls.rpt@example.com", "tls.rpt@example.com" },
		{ "mailto:user%host@example.com", "user%host@example.com" },
		{ "mailto:a,b@example.com", NULL },
		{ "mailto:a@example.com,b@example.com", NULL },
		{ "mailto:a b@example.com", NULL },
		{ "mailto:a@example.com\r\nBcc: x@example.com", NULL },
		{ "mailto:\"a b\"@example.com", NULL },
		{ "mailto:a..b@example.com", NULL },
		{ "mailto:a@example.com.", NULL },
		{ "mailto:no-at-sign", NULL },
		{ "mailto:", NULL },
		{ "https://report.example.com/v1", NULL },
	};
	struct strbuf address, error;
	size_t i;

	(void)state;
	strbuf_init(&address);
	strbuf_init(&error);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status = report_mail_address(cases[i].uri, &address,
						 &error);

		if (cases[i].address == NULL) {
			if (status != -1)
				fail_msg("%s accepted as %s", cases[i].uri,
					 address.data);
			continue;
		}
		if (status != 0)
			fail_msg("%s rejected: %s", cases[i].uri, error.data);
		assert_string_equal(address.data, cases[i].address);
	}
	strbuf_free(&address);
	strbuf_free(&error);
}

static void preview_to_from_rua(void **state)
{
	struct delivery delivery;
	struct strbuf address;

	(void)state;
	make_delivery(&delivery);
	strbuf_init(&address);

	free(delivery.rua);
	delivery.rua = xstrdup("https://report.example.com/v1 mailto:bad "
			       "mailto:first@example.com "
			       "mailto:second@example.com");
	report_mail_preview_to(&delivery, &address);
	assert_string_equal(address.data, "first@example.com");

	free(delivery.rua);
	delivery.rua = xstrdup("https://report.example.com/v1");
	report_mail_preview_to(&delivery, &address);
	assert_string_equal(address.data, "postmaster@example.com");

	strbuf_free(&address);
	delivery_free(&delivery);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(headers_each_once),
		cmocka_unit_test(lines_crlf_and_short),
		cmocka_unit_test(mime_structure_valid),
		cmocka_unit_test(attachment_decodes_to_payload),
		cmocka_unit_test(text_part_has_counts),
		cmocka_unit_test(long_values_folded),
		cmocka_unit_test(invalid_payload_rejected),
		cmocka_unit_test(hostile_values_rejected),
		cmocka_unit_test(hostile_recipient_rejected),
		cmocka_unit_test(mailto_address_parsed),
		cmocka_unit_test(preview_to_from_rua),
	};

	return cmocka_run_group_tests_name("report_mail", tests, load_config,
					   remove_config);
}
