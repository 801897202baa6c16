/*
 * Unit tests for the internal address ranges: the first and last address
 * of each range and the addresses just outside it, the same IPv4
 * addresses inside IPv6 (IPv4-mapped, NAT64, 6to4, IPv4-compatible and
 * IPv4-translated), socket addresses, and the text for messages. Public
 * examples come from the documentation ranges (RFC 5737, RFC 3849).
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <cmocka.h>

#include "address_class.h"
#include "strbuf.h"

struct expectation {
	const char *address;
	const char *range;	/* NULL for a public address */
	const char *form;	/* NULL for a plain address */
};

static const struct expectation ipv4_cases[] = {
	{ "0.0.0.0", "this network", NULL },
	{ "0.255.255.255", "this network", NULL },
	{ "1.0.0.0", NULL, NULL },
	{ "9.255.255.255", NULL, NULL },
	{ "10.0.0.0", "private", NULL },
	{ "10.255.255.255", "private", NULL },
	{ "11.0.0.0", NULL, NULL },
	{ "100.63.255.255", NULL, NULL },
	{ "100.64.0.0", "shared address space", NULL },
	{ "100.127.255.255", "shared address space", NULL },
	{ "100.128.0.0", NULL, NULL },
	{ "126.255.255.255", NULL, NULL },
	{ "127.0.0.0", "loopback", NULL },
	{ "127.0.0.1", "loopback", NULL },
	{ "127.255.255.255", "loopback", NULL },
	{ "128.0.0.0", NULL, NULL },
	{ "169.253.255.255", NULL, NULL },
	{ "169.254.0.0", "link-local", NULL },
	{ "169.254.169.254", "link-local", NULL },
	{ "169.254.255.255", "link-local", NULL },
	{ "169.255.0.0", NULL, NULL },
	{ "172.15.255.255", NULL, NULL },
	{ "172.16.0.0", "private", NULL },
	{ "172.31.255.255", "private", NULL },
	{ "172.32.0.0", NULL, NULL },
	{ "192.167.255.255", NULL, NULL },
	{ "192.168.0.0", "private", NULL },
	{ "192.168.255.255", "private", NULL },
	{ "192.169.0.0", NULL, NULL },
	{ "223.255.255.255", NULL, NULL },
	{ "224.0.0.0", "multicast", NULL },
	{ "239.255.255.255", "multicast", NULL },
	{ "240.0.0.0", "reserved", NULL },
	{ "255.255.255.254", "reserved", NULL },
	{ "255.255.255.255", "broadcast", NULL },
	{ "192.0.2.1", NULL, NULL },
	{ "198.51.100.7", NULL, NULL },
	{ "203.0.113.255", NULL, NULL },
};

static const struct expectation ipv6_cases[] = {
	{ "::", "unspecified", NULL },
	{ "::1", "loopback", NULL },
	{ "::2", "this network", "IPv4-compatible" },
	{ "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL, NULL },
	{ "fc00::", "unique local", NULL },
	{ "fd12:3456:789a::1", "unique local", NULL },
	{ "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "unique local", NULL },
	{ "fe00::", NULL, NULL },
	{ "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL, NULL },
	{ "fe80::", "link-local", NULL },
	{ "fe80::1", "link-local", NULL },
	{ "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local", NULL },
	{ "fec0::", "site-local", NULL },
	{ "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "site-local", NULL },
	{ "ff00::", "multicast", NULL },
	{ "ff02::1", "multicast", NULL },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast", NULL },
	{ "2001:db8::1", NULL, NULL },
	{ "2001:db8:ffff::", NULL, NULL },

	/* IPv4-mapped ::ffff:0:0/96 and addresses just outside it. */
	{ "::ffff:127.0.0.1", "loopback", "IPv4-mapped" },
	{ "::ffff:10.0.0.5", "private", "IPv4-mapped" },
	{ "::ffff:0.0.0.0", "this network", "IPv4-mapped" },
	{ "::ffff:255.255.255.255", "broadcast", "IPv4-mapped" },
	{ "::ffff:192.0.2.1", NULL, NULL },
	{ "::fffe:7f00:1", NULL, NULL },
	{ "0:0:0:0:1:ffff:7f00:1", NULL, NULL },

	/* IPv4-translated ::ffff:0:0:0/96. */
	{ "::ffff:0:7f00:1", "loopback", "IPv4-translated" },
	{ "::ffff:0:c000:201", NULL, NULL },

	/* IPv4-compatible ::/96, past :: and ::1. */
	{ "::10.0.0.5", "private", "IPv4-compatible" },
	{ "::192.0.2.1", NULL, NULL },

	/* NAT64 64:ff9b::/96. */
	{ "64:ff9b::10.0.0.5", "private", "NAT64" },
	{ "64:ff9b::127.0.0.1", "loopback", "NAT64" },
	{ "64:ff9b::192.0.2.1", NULL, NULL },
	{ "64:ff9b::1:a00:5", NULL, NULL },
	{ "64:ff9a::a00:5", NULL, NULL },

	/* 6to4 2002::/16: the IPv4 address follows the prefix. */
	{ "2002:a9fe:a9fe::1", "link-local", "6to4" },
	{ "2002:c000:201::1", NULL, NULL },
	{ "2003:a00:5::", NULL, NULL },

	/* Local-use NAT64 64:ff9b:1::/48 as a whole, and its neighbours. */
	{ "64:ff9b:1::", "local-use NAT64", NULL },
	{ "64:ff9b:1::c000:201", "local-use NAT64", NULL },
	{ "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "local-use NAT64", NULL },
	{ "64:ff9b:2::c000:201", NULL, NULL },

	/* Teredo 2001::/32: the client's IPv4 address, bits inverted, in
	 * the last four bytes (f5ff:fffa is 10.0.0.5, 80ff:fffe is
	 * 127.0.0.1, 3fff:fdfe is 192.0.2.1). */
	{ "2001:0:4136:e378:8000:63bf:f5ff:fffa", "private", "Teredo" },
	{ "2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback", "Teredo" },
	{ "2001::ffff:ffff", "this network", "Teredo" },
	{ "2001:0:4136:e378:8000:63bf:3fff:fdfe", NULL, NULL },
	{ "2001:0:4136:e378:8000:63bf:7f00:1", NULL, NULL },
	{ "2001:1::f5ff:fffa", NULL, NULL },
};

static void parse_ipv4(const char *text, struct in_addr *address)
{
	if (inet_pton(AF_INET, text, address) != 1)
		fail_msg("test address %s is not IPv4", text);
}

static void parse_ipv6(const char *text, struct in6_addr *address)
{
	if (inet_pton(AF_INET6, text, address) != 1)
		fail_msg("test address %s is not IPv6", text);
}

static void check_result(const struct expectation *expected, bool internal,
			 const struct address_class *class)
{
	if (internal != (expected->range != NULL))
		fail_msg("%s: internal is %d, expected %d", expected->address,
			 internal, expected->range != NULL);
	if (expected->range == NULL) {
		assert_null(class->range);
		assert_null(class->form);
		return;
	}
	assert_non_null(class->range);
	if (strcmp(class->range, expected->range) != 0)
		fail_msg("%s: range \"%s\", expected \"%s\"", expected->address,
			 class->range, expected->range);
	if (expected->form == NULL && class->form != NULL)
		fail_msg("%s: form \"%s\", expected none", expected->address,
			 class->form);
	if (expected->form != NULL && (class->form == NULL
				       || strcmp(class->form,
						 expected->form) != 0))
		fail_msg("%s: form \"%s\", expected \"%s\"", expected->address,
			 class->form != NULL ? class->form : "(none)",
			 expected->form);
}

static void ipv4_ranges_and_edges(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ipv4_cases) / sizeof(ipv4_cases[0]); i++) {
		struct address_class class;
		struct in_addr address;
		bool internal;

		parse_ipv4(ipv4_cases[i].address, &address);
		internal = address_class_internal_ipv4(&address, &class);
		check_result(&ipv4_cases[i], internal, &class);
	}
}

static void ipv6_ranges_and_edges(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ipv6_cases) / sizeof(ipv6_cases[0]); i++) {
		struct address_class class;
		struct in6_addr address;
		bool internal;

		parse_ipv6(ipv6_cases[i].address, &address);
		internal = address_class_internal_ipv6(&address, &class);
		check_result(&ipv6_cases[i], internal, &class);
	}
}

/* Put the IPv4 address into IPv6 the way each form does; the result
 * must name the same range. */
static void embedded_ipv4_judged_alike(void **state)
{
	static const struct {
		const char *prefix;	/* the dotted IPv4 address follows */
		const char *form;
	} forms[] = {
		{ "::ffff:", "IPv4-mapped" },
		{ "64:ff9b::", "NAT64" },
		{ "::ffff:0:", "IPv4-translated" },
	};
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(ipv4_cases) / sizeof(ipv4_cases[0]); i++) {
		for (j = 0; j < sizeof(forms) / sizeof(forms[0]); j++) {
			struct expectation expected = ipv4_cases[i];
			struct address_class class;
			struct in6_addr address;
			char text[64];
			bool internal;

			snprintf(text, sizeof(text), "%s%s", forms[j].prefix,
				 expected.address);
			expected.address = text;
			expected.form = expected.range != NULL ? forms[j].form
				: NULL;
			parse_ipv6(text, &address);
			internal = address_class_internal_ipv6(&address,
							       &class);
			check_result(&expected, internal, &class);
		}
	}
}

static void socket_addresses_classified(void **state)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr_un unix_address;
	struct address_class class;

	(void)state;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	parse_ipv4("127.0.0.1", &sin.sin_addr);
	assert_true(address_class_internal((struct sockaddr *)&sin, &class));
	assert_string_equal(class.range, "loopback");
	parse_ipv4("192.0.2.1", &sin.sin_addr);
	assert_false(address_class_internal((struct sockaddr *)&sin, &class));

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	parse_ipv6("::ffff:10.1.2.3", &sin6.sin6_addr);
	assert_true(address_class_internal((struct sockaddr *)&sin6, &class));
	assert_string_equal(class.range, "private");
	assert_string_equal(class.form, "IPv4-mapped");
	parse_ipv6("2001:db8::1", &sin6.sin6_addr);
	assert_false(address_class_internal((struct sockaddr *)&sin6,
					    &class));

	memset(&unix_address, 0, sizeof(unix_address));
	unix_address.sun_family = AF_UNIX;
	assert_true(address_class_internal((struct sockaddr *)&unix_address,
					   &class));
	assert_string_equal(class.range, "unknown address family");
}

static void description_names_range_and_form(void **state)
{
	struct address_class plain = { "loopback", NULL };
	struct address_class mapped = { "private", "IPv4-mapped" };
	struct address_class public = { NULL, NULL };
	struct strbuf text;

	(void)state;
	strbuf_init(&text);
	address_class_describe(&plain, &text);
	assert_string_equal(text.data, "loopback");
	strbuf_reset(&text);
	address_class_describe(&mapped, &text);
	assert_string_equal(text.data, "private, IPv4-mapped");
	strbuf_reset(&text);
	address_class_describe(&public, &text);
	assert_string_equal(text.data, "public");
	strbuf_free(&text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ipv4_ranges_and_edges),
		cmocka_unit_test(ipv6_ranges_and_edges),
		cmocka_unit_test(embedded_ipv4_judged_alike),
		cmocka_unit_test(socket_addresses_classified),
		cmocka_unit_test(description_names_range_and_form),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
