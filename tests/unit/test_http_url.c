/*
 * Unit tests for https: URI parsing: host forms, ports, request targets,
 * and the URIs that must be rejected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http_url.h"
#include "strbuf.h"

static void valid_uris_split(void **state)
{
	static const struct {
		const char *uri;
		const char *host;
		bool is_ip;
		unsigned port;
		const char *authority;
		const char *target;
	} cases[] = {
		{ "https://report.example.com", "report.example.com", false,
		  443, "report.example.com", "/" },
		{ "HTTPS://Report.Example.COM:8443/v1/tlsrpt?x=1&y=2#top",
		  "Report.Example.COM", false, 8443,
		  "Report.Example.COM:8443", "/v1/tlsrpt?x=1&y=2" },
		{ "https://example.com./v1", "example.com", false, 443,
		  "example.com", "/v1" },
		{ "https://example.com?q=1", "example.com", false, 443,
		  "example.com", "/?q=1" },
		{ "https://example.com:/", "example.com", false, 443,
		  "example.com", "/" },
		{ "https://example.com:443/a%20b", "example.com", false, 443,
		  "example.com", "/a%20b" },
		{ "https://192.0.2.1/tlsrpt", "192.0.2.1", true, 443,
		  "192.0.2.1", "/tlsrpt" },
		{ "https://[2001:db8::1]:8443/r", "2001:db8::1", true, 8443,
		  "[2001:db8::1]:8443", "/r" },
		{ "https://[::1]", "::1", true, 443, "[::1]", "/" },
		{ "https://_tlsrpt.example.net/x", "_tlsrpt.example.net",
		  false, 443, "_tlsrpt.example.net", "/x" },
	};
	struct http_url url;
	struct strbuf error;
	size_t i;

	(void)state;
	strbuf_init(&error);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strbuf_reset(&error);
		assert_int_equal(http_url_parse(cases[i].uri, &url, &error), 0);
		assert_string_equal(url.host, cases[i].host);
		assert_int_equal(url.host_is_ip, cases[i].is_ip);
		assert_int_equal(url.port, cases[i].port);
		assert_string_equal(url.authority, cases[i].authority);
		assert_string_equal(url.target, cases[i].target);
		http_url_free(&url);
	}
	strbuf_free(&error);
}

static void invalid_uris_rejected(void **state)
{
	static const struct {
		const char *uri;
		const char *error;
	} cases[] = {
		{ "http://example.com/", "is not an https:// URI" },
		{ "mailto:a@example.com", "is not an https:// URI" },
		{ "https:example.com", "is not an https:// URI" },
		{ "https://user:secret@example.com/", "userinfo" },
		{ "https://user@example.com/", "userinfo" },
		{ "https://", "no host" },
		{ "https:///path", "no host" },
		{ "https://exa mple.com/", "byte 0x20" },
		{ "https://example.com/a\tb", "byte 0x09" },
		{ "https://b\xc3\xbc" "cher.example/", "byte 0xc3" },
		{ "https://ex%41mple.com/", "invalid host name" },
		{ "https://a..b/", "invalid host name" },
		{ "https://.example.com/", "invalid host name" },
		{ "https://10.1/", "invalid host name" },
		{ "https://999.1.1.1/", "invalid host name" },
		{ "https://example.com:0/", "invalid port" },
		{ "https://example.com:65536/", "invalid port" },
		{ "https://example.com:99999999999999999999/", "invalid port" },
		{ "https://example.com:44a/", "invalid port" },
		{ "https://example.com:1:2/", "invalid port" },
		{ "https://[::1/", "invalid IPv6 address" },
		{ "https://[::1]x/", "invalid IPv6 address" },
		{ "https://[example.com]/", "invalid IPv6 address" },
		{ "https://[]/", "invalid IPv6 address" },
		{ "https://::1/", "no host" },
	};
	struct http_url url;
	struct strbuf error;
	size_t i;

	(void)state;
	strbuf_init(&error);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strbuf_reset(&error);
		assert_int_equal(http_url_parse(cases[i].uri, &url, &error),
				 -1);
		if (strstr(error.data, cases[i].error) == NULL)
			fail_msg("%s: expected \"%s\" in \"%s\"", cases[i].uri,
				 cases[i].error, error.data);
		assert_null(url.host);
		assert_null(url.target);
	}
	strbuf_free(&error);
}

static void long_label_rejected(void **state)
{
	char uri[128];
	struct http_url url;
	struct strbuf error;

	(void)state;
	strcpy(uri, "https://");
	memset(uri + 8, 'a', 64);
	strcpy(uri + 72, ".example/");
	strbuf_init(&error);
	assert_int_equal(http_url_parse(uri, &url, &error), -1);
	assert_non_null(strstr(error.data, "invalid host name"));
	strbuf_free(&error);
}

static void long_uri_rejected(void **state)
{
	size_t len = HTTP_URL_MAX + 1;
	char *uri = malloc(len + 1);
	struct http_url url;
	struct strbuf error;

	(void)state;
	assert_non_null(uri);
	memset(uri, 'a', len);
	memcpy(uri, "https://example.com/", 20);
	uri[len] = '\0';
	strbuf_init(&error);
	assert_int_equal(http_url_parse(uri, &url, &error), -1);
	assert_non_null(strstr(error.data, "longer than the limit"));
	strbuf_free(&error);
	free(uri);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_uris_split),
		cmocka_unit_test(invalid_uris_rejected),
		cmocka_unit_test(long_label_rejected),
		cmocka_unit_test(long_uri_rejected),
	};

	return cmocka_run_group_tests_name("http_url", tests, NULL, NULL);
}
