/*
 * Unit tests for the relayhost parser: the four Postfix forms, IPv6 in
 * brackets, and values that must be rejected with a message naming them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "relayhost.h"
#include "strbuf.h"

struct good_relay {
	const char *text;
	const char *host;
	const char *port;
	bool no_mx;
};

static void forms_accepted(void **state)
{
	static const struct good_relay cases[] = {
		{"[127.0.0.1]:25", "127.0.0.1", "25", true},
		{"[127.0.0.1]", "127.0.0.1", "25", true},
		{"relay.example.net:2525", "relay.example.net", "2525", false},
		{"relay.example.net", "relay.example.net", "25", false},
		{"[ipv6:2001:db8::1]:587", "2001:db8::1", "587", true},
		{"[2001:db8::1]", "2001:db8::1", "25", true},
		{"relay:submission", "relay", "submission", false},
	};
	struct relayhost relay;
	struct strbuf error;
	size_t i;

	(void)state;
	strbuf_init(&error);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (relayhost_parse(cases[i].text, &relay, &error) != 0)
			fail_msg("case %zu \"%s\" rejected: %s", i,
				 cases[i].text, error.data);
		assert_string_equal(relay.host, cases[i].host);
		assert_string_equal(relay.port, cases[i].port);
		assert_int_equal(relay.no_mx, cases[i].no_mx);
		relayhost_free(&relay);
	}
	strbuf_free(&error);
}

struct bad_relay {
	const char *text;
	const char *message;	/* expected substring of the error */
};

static void invalid_forms_rejected(void **state)
{
	static const struct bad_relay cases[] = {
		{"127.0.0.1:25:99", "invalid relayhost \"127.0.0.1:25:99\": "
		 "more than one ':'"},
		{"2001:db8::1", "IPv6 address in brackets"},
		{"[127.0.0.1:25", "expected [host] or [host]:port"},
		{"[127.0.0.1]25", "expected [host] or [host]:port"},
		{"", "invalid relayhost \"\""},
		{"relay:", "invalid relayhost \"relay:\""},
		{"re lay", "invalid relayhost \"re lay\""},
		{"[]:25", "invalid relayhost \"[]:25\""},
	};
	struct relayhost relay;
	struct strbuf error;
	size_t i;

	(void)state;
	strbuf_init(&error);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strbuf_reset(&error);
		if (relayhost_parse(cases[i].text, &relay, &error) == 0)
			fail_msg("case %zu \"%s\" accepted", i, cases[i].text);
		if (strstr(error.data, cases[i].message) == NULL)
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i,
				 error.data, cases[i].message);
		assert_null(relay.host);
	}
	strbuf_free(&error);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(forms_accepted),
		cmocka_unit_test(invalid_forms_rejected),
	};

	return cmocka_run_group_tests_name("relayhost", tests, NULL, NULL);
}
