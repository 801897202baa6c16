/*
 * Unit tests for sysctl_check: names map to /proc/sys paths and cannot
 * leave it, values parse as integers, and the queue length advice fires
 * below the recommended value only.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strbuf.h"
#include "sysctl_check.h"

/* Read /proc/sys/net/unix/max_dgram_qlen directly, or -1. */
static long long read_directly(void)
{
	FILE *fp = fopen("/proc/sys/net/unix/max_dgram_qlen", "r");
	long long value = -1;

	if (fp == NULL)
		return -1;
	if (fscanf(fp, "%lld", &value) != 1)
		value = -1;
	fclose(fp);
	return value;
}

static void qlen_read(void **state)
{
	long long expected = read_directly();
	long long value = -2;

	(void)state;
	if (expected < 0)
		skip();	/* not Linux, or /proc not mounted */
	assert_int_equal(sysctl_read(SYSCTL_DGRAM_QLEN, &value), 0);
	assert_int_equal(value, expected);
}

static void bad_names_rejected(void **state)
{
	static const char *const names[] = {
		"", ".", "..", "../../etc/passwd", "net..unix", "net/unix",
		"net.unix.", ".net.unix", "net.unix.max dgram",
	};
	long long value;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		errno = 0;
		if (sysctl_read(names[i], &value) == 0)
			fail_msg("name \"%s\" accepted", names[i]);
		assert_int_equal(errno, EINVAL);
	}
}

static void missing_parameter_reported(void **state)
{
	long long value;

	(void)state;
	if (read_directly() < 0)
		skip();
	errno = 0;
	assert_int_equal(sysctl_read("net.unix.no_such_parameter", &value),
			 -1);
	assert_int_equal(errno, ENOENT);
}

static void advice_below_recommended(void **state)
{
	static const struct {
		long long qlen;
		int warns;
		const char *text;
	} cases[] = {
		{10, 1, "net.unix.max_dgram_qlen is 10 (the default)"},
		{512, 1, "net.unix.max_dgram_qlen is 512:"},
		{1023, 1, "set it to 1024"},
		{1024, 0, NULL},
		{65536, 0, NULL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strbuf warning;

		strbuf_init(&warning);
		assert_int_equal(sysctl_dgram_qlen_advice(cases[i].qlen,
							  &warning),
				 cases[i].warns);
		if (cases[i].text != NULL)
			assert_non_null(strstr(warning.data, cases[i].text));
		else
			assert_int_equal(warning.len, 0);
		strbuf_free(&warning);
	}
}

static void check_matches_advice(void **state)
{
	long long qlen = read_directly();
	struct strbuf message;

	(void)state;
	if (qlen < 0)
		skip();
	strbuf_init(&message);
	assert_int_equal(sysctl_check_dgram_qlen(&message),
			 qlen < SYSCTL_DGRAM_QLEN_RECOMMENDED ? 1 : 0);
	strbuf_free(&message);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(qlen_read),
		cmocka_unit_test(bad_names_rejected),
		cmocka_unit_test(missing_parameter_reported),
		cmocka_unit_test(advice_below_recommended),
		cmocka_unit_test(check_matches_advice),
	};

	return cmocka_run_group_tests_name("sysctl_check", tests, NULL, NULL);
}
