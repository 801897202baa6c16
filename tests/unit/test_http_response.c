/*
 * Unit tests for the HTTP response parser: strict status lines, header
 * fields, interim responses, line ends and the size limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http_response.h"

static int parse_status(const char *line, struct http_status *status,
			const char **error)
{
	*error = NULL;
	return http_status_line_parse(line, strlen(line), status, error);
}

static enum http_parse_result parse(const char *text,
				    struct http_response *response,
				    const char **error)
{
	*error = NULL;
	return http_response_parse(text, strlen(text), response, error);
}

static void status_lines_accepted(void **state)
{
	static const struct {
		const char *line;
		int minor;
		int code;
		const char *reason;
	} cases[] = {
		{ "HTTP/1.1 200 OK", 1, 200, "OK" },
		{ "HTTP/1.0 404 Not Found", 0, 404, "Not Found" },
		{ "HTTP/1.1 204", 1, 204, "" },
		{ "HTTP/1.1 201 ", 1, 201, "" },
		{ "HTTP/1.1 500 Internal\tError", 1, 500, "Internal?Error" },
		{ "HTTP/1.1 302 Gef\xc3\xbcnden", 1, 302, "Gef??nden" },
		{ "HTTP/1.1 100 Continue", 1, 100, "Continue" },
	};
	struct http_status status;
	const char *error;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse_status(cases[i].line, &status, &error),
				 0);
		assert_int_equal(status.major, 1);
		assert_int_equal(status.minor, cases[i].minor);
		assert_int_equal(status.code, cases[i].code);
		assert_string_equal(status.reason, cases[i].reason);
	}
}

static void status_lines_rejected(void **state)
{
	static const struct {
		const char *line;
		const char *error;
	} cases[] = {
		{ "", "not an HTTP status line" },
		{ "HTTP/1.1", "not an HTTP status line" },
		{ "HTTP/1.1 20", "not an HTTP status line" },
		{ "http/1.1 200 OK", "not an HTTP status line" },
		{ "HTTP/1.1  200 OK", "invalid status code" },
		{ "HTTP/11 200 OK", "not an HTTP status line" },
		{ "ICY 200 OK", "not an HTTP status line" },
		{ "HTTP/2.0 200 OK", "unsupported HTTP version" },
		{ "HTTP/0.9 200 OK", "unsupported HTTP version" },
		{ "HTTP/1.1 099 Low", "invalid status code" },
		{ "HTTP/1.1 600 High", "invalid status code" },
		{ "HTTP/1.1 2x0 OK", "invalid status code" },
		{ "HTTP/1.1 200OK", "invalid status code" },
		{ "HTTP/1.1 2000 OK", "invalid status code" },
		{ "HTTP/1.1 200 O\rK", "control character in the reason phrase" },
		{ "HTTP/1.1 200 O\x7fK", "control character in the reason phrase" },
	};
	struct http_status status;
	const char *error;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse_status(cases[i].line, &status, &error),
				 -1);
		assert_string_equal(error, cases[i].error);
	}
}

static void nul_in_status_rejected(void **state)
{
	struct http_status status;
	const char *error = NULL;

	(void)state;
	assert_int_equal(http_status_line_parse("HTTP/1.1 200 O\0K", 16,
						&status, &error), -1);
	assert_non_null(error);
}

static void response_with_fields(void **state)
{
	static const char text[] =
		"HTTP/1.1 201 Created\r\n"
		"Content-Type: text/plain\r\n"
		"Content-Length: 5\r\n"
		"\r\n"
		"hello";
	struct http_response response;
	const char *error;

	(void)state;
	assert_int_equal(parse(text, &response, &error), HTTP_PARSE_DONE);
	assert_int_equal(response.status.code, 201);
	assert_string_equal(response.status.reason, "Created");
	assert_string_equal(response.location, "");
	assert_int_equal(response.head_len, strlen(text) - 5);
}

static void incomplete_head_waits(void **state)
{
	static const char *const partial[] = {
		"",
		"HTTP/1.1 200",
		"HTTP/1.1 200 OK\r\n",
		"HTTP/1.1 200 OK\r\nServer: x\r\n",
		"HTTP/1.1 200 OK\r\nServer: x\r\n\r",
	};
	struct http_response response;
	const char *error;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(partial) / sizeof(partial[0]); i++)
		assert_int_equal(parse(partial[i], &response, &error),
				 HTTP_PARSE_INCOMPLETE);
}

/* A status line that is wrong is rejected before the head is complete,
 * so a peer that is not an HTTP server costs no timeout. */
static void bad_status_rejected_early(void **state)
{
	struct http_response response;
	const char *error;

	(void)state;
	assert_int_equal(parse("SSH-2.0-OpenSSH_9.2\r\n", &response, &error),
			 HTTP_PARSE_INVALID);
	assert_string_equal(error, "not an HTTP status line");
}

static void location_kept(void **state)
{
	static const char text[] =
		"HTTP/1.1 302 Found\r\n"
		"location:   https://elsewhere.example/v1  \r\n"
		"\r\n";
	struct http_response response;
	const char *error;

	(void)state;
	assert_int_equal(parse(text, &response, &error), HTTP_PARSE_DONE);
	assert_int_equal(response.status.code, 302);
	assert_string_equal(response.location, "https://elsewhere.example/v1");
}

static void bare_lf_accepted(void **state)
{
	static const char text[] = "HTTP/1.1 200 OK\nServer: x\n\nbody";
	struct http_response response;
	const char *error;

	(void)state;
	assert_int_equal(parse(text, &response, &error), HTTP_PARSE_DONE);
	assert_int_equal(response.status.code, 200);
	assert_int_equal(response.head_len, strlen(text) - 4);
}

static void interim_responses_skipped(void **state)
{
	static const char text[] =
		"HTTP/1.1 100 Continue\r\n\r\n"
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
		"HTTP/1.1 400 Bad Request\r\n\r\n";
	struct http_response response;
	const char *error;

	(void)state;
	assert_int_equal(parse(text, &response, &error), HTTP_PARSE_DONE);
	assert_int_equal(response.status.code, 400);
	assert_int_equal(response.head_len, strlen(text));

	assert_int_equal(parse("HTTP/1.1 100 Continue\r\n\r\n", &response,
			       &error), HTTP_PARSE_INCOMPLETE);
}

static void switching_protocols_final(void **state)
{
	struct http_response response;
	const char *error;

	(void)state;
	assert_int_equal(parse("HTTP/1.1 101 Switching Protocols\r\n\r\n",
			       &response, &error), HTTP_PARSE_DONE);
	assert_int_equal(response.status.code, 101);
}

static void too_many_interim_rejected(void **state)
{
	char text[512] = "";
	struct http_response response;
	const char *error;
	int i;

	(void)state;
	for (i = 0; i <= HTTP_INTERIM_MAX; i++)
		strcat(text, "HTTP/1.1 100 Continue\r\n\r\n");
	strcat(text, "HTTP/1.1 200 OK\r\n\r\n");
	assert_int_equal(parse(text, &response, &error), HTTP_PARSE_INVALID);
	assert_string_equal(error, "too many interim responses");
}

static void invalid_fields_rejected(void **state)
{
	static const char *const heads[] = {
		"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
		"HTTP/1.1 200 OK\r\nLocation : /x\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-A(b): c\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-Bell: a\007b\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-Cr: a\rb\r\n\r\n",
	};
	struct http_response response;
	const char *error;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		assert_int_equal(parse(heads[i], &response, &error),
				 HTTP_PARSE_INVALID);
		assert_non_null(error);
	}
}

static void folded_field_tolerated(void **state)
{
	static const char text[] =
		"HTTP/1.1 200 OK\r\nX-Long: a\r\n  continued\r\n\r\n";
	struct http_response response;
	const char *error;

	(void)state;
	assert_int_equal(parse(text, &response, &error), HTTP_PARSE_DONE);
	assert_int_equal(response.status.code, 200);
}

static void too_many_fields_rejected(void **state)
{
	char *text = malloc(16 + (HTTP_HEADER_COUNT_MAX + 1) * 8 + 4);
	struct http_response response;
	const char *error;
	int i;

	(void)state;
	assert_non_null(text);
	strcpy(text, "HTTP/1.1 200 OK\r\n");
	for (i = 0; i <= HTTP_HEADER_COUNT_MAX; i++)
		strcat(text, "X-A: b\r\n");
	strcat(text, "\r\n");
	assert_int_equal(parse(text, &response, &error), HTTP_PARSE_INVALID);
	assert_string_equal(error, "too many header fields");
	free(text);
}

static void long_head_rejected(void **state)
{
	size_t len = HTTP_HEAD_MAX + 100;
	char *text = malloc(len + 1);
	struct http_response response;
	const char *error = NULL;

	(void)state;
	assert_non_null(text);
	memset(text, 'x', len);
	text[len] = '\0';
	memcpy(text, "HTTP/1.1 200 OK\r\nX-Big: ", 24);
	assert_int_equal(http_response_parse(text, len, &response, &error),
			 HTTP_PARSE_INVALID);
	assert_string_equal(error, "response head too long");
	free(text);
}

static void long_texts_cut(void **state)
{
	char line[600];
	struct http_status status;
	const char *error;

	(void)state;
	memset(line, 'r', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line, "HTTP/1.1 500 ", 13);
	assert_int_equal(parse_status(line, &status, &error), 0);
	assert_int_equal(strlen(status.reason), HTTP_TEXT_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(status_lines_accepted),
		cmocka_unit_test(status_lines_rejected),
		cmocka_unit_test(nul_in_status_rejected),
		cmocka_unit_test(response_with_fields),
		cmocka_unit_test(incomplete_head_waits),
		cmocka_unit_test(bad_status_rejected_early),
		cmocka_unit_test(location_kept),
		cmocka_unit_test(bare_lf_accepted),
		cmocka_unit_test(interim_responses_skipped),
		cmocka_unit_test(switching_protocols_final),
		cmocka_unit_test(too_many_interim_rejected),
		cmocka_unit_test(invalid_fields_rejected),
		cmocka_unit_test(folded_field_tolerated),
		cmocka_unit_test(too_many_fields_rejected),
		cmocka_unit_test(long_head_rejected),
		cmocka_unit_test(long_texts_cut),
	};

	return cmocka_run_group_tests_name("http_response", tests, NULL, NULL);
}
