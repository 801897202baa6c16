/*
 * Unit tests for the master.cf parser: the shipped file, defaults,
 * continuation lines and arguments, and a table of invalid entries whose
 * errors must name the line and the expected value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "master_cf.h"
#include "strbuf.h"
#include "xalloc.h"

static int parse(const char *text, struct master_cf *table,
		 struct strbuf *error)
{
	return master_cf_parse("master.cf", text, strlen(text), table, error);
}

static void shipped_file_parses(void **state)
{
	const char *data = getenv("TLSRPTD_TEST_DATA");
	char *path = xasprintf("%s/../../conf/master.cf",
			       data != NULL ? data : "tests/data");
	const struct master_cf_entry *receiver;
	struct master_cf table;
	struct strbuf error;
	size_t i;

	(void)state;
	strbuf_init(&error);
	if (master_cf_read(path, &table, &error) != 0)
		fail_msg("%s", error.data);
	assert_int_equal(table.count, 4);
	receiver = master_cf_find(&table, "receiver");
	assert_non_null(receiver);
	assert_int_equal(receiver->type, MASTER_CF_DGRAM);
	assert_int_equal(receiver->wakeup, 0);
	for (i = 0; i < table.count; i++) {
		assert_int_equal(table.entries[i].maxproc, 1);
		assert_string_equal(table.entries[i].argv[0],
				    table.entries[i].service);
	}
	assert_int_equal(master_cf_find(&table, "aggregator")->type,
			 MASTER_CF_UNIX);
	assert_string_equal(master_cf_entry_option(receiver, "mail_owner"),
			    "tlsrptd-recv");
	assert_null(master_cf_entry_option(master_cf_find(&table, "mailer"),
					   "mail_owner"));
	assert_null(master_cf_find(&table, "smtpd"));
	master_cf_free(&table);
	strbuf_free(&error);
	free(path);
}

static void dash_selects_defaults(void **state)
{
	struct master_cf table;
	struct strbuf error;
	const struct master_cf_entry *entry;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(parse("worker unix - - - - - worker\n", &table,
			       &error), 0);
	entry = &table.entries[0];
	assert_string_equal(entry->service, "worker");
	assert_int_equal(entry->type, MASTER_CF_UNIX);
	assert_true(entry->private);
	assert_true(entry->unpriv);
	assert_false(entry->chroot);
	assert_int_equal(entry->wakeup, 0);
	assert_int_equal(entry->maxproc, 1);
	assert_int_equal(entry->argc, 1);
	assert_null(entry->argv[1]);
	assert_int_equal(entry->line, 1);
	master_cf_free(&table);
	strbuf_free(&error);
}

static void continuation_and_arguments(void **state)
{
	static const char text[] =
		"# service table\n"
		"\n"
		"receiver dgram n y n 0 1 receiver\n"
		"mailer   unix  y y y 60 1\n"
		"  # a comment inside the entry\n"
		"\tmailer -o relayhost=[127.0.0.1]:2525\n"
		"   -v\r\n";
	const struct master_cf_entry *mailer;
	struct master_cf table;
	struct strbuf error;

	(void)state;
	strbuf_init(&error);
	if (parse(text, &table, &error) != 0)
		fail_msg("%s", error.data);
	assert_int_equal(table.count, 2);
	assert_false(table.entries[0].private);
	assert_int_equal(table.entries[0].line, 3);

	mailer = master_cf_find(&table, "mailer");
	assert_non_null(mailer);
	assert_int_equal(mailer->line, 4);
	assert_true(mailer->chroot);
	assert_int_equal(mailer->wakeup, 60);
	assert_int_equal(mailer->argc, 4);
	assert_string_equal(mailer->argv[0], "mailer");
	assert_string_equal(mailer->argv[1], "-o");
	assert_string_equal(mailer->argv[2], "relayhost=[127.0.0.1]:2525");
	assert_string_equal(mailer->argv[3], "-v");
	assert_null(mailer->argv[4]);
	master_cf_free(&table);
	strbuf_free(&error);
}

static void entry_copy_is_independent(void **state)
{
	struct master_cf_entry copy;
	struct master_cf table;
	struct strbuf error;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(parse("w unix - - n 5 - prog -v\n", &table, &error),
			 0);
	master_cf_entry_copy(&copy, &table.entries[0]);
	master_cf_free(&table);
	assert_string_equal(copy.service, "w");
	assert_int_equal(copy.wakeup, 5);
	assert_int_equal(copy.argc, 2);
	assert_string_equal(copy.argv[1], "-v");
	master_cf_entry_free(&copy);
	strbuf_free(&error);
}

struct bad_case {
	const char *text;
	const char *expected;	/* substring of the error message */
};

static const struct bad_case bad_cases[] = {
	{"a unix - - n - 2 x\n",
	 "master.cf line 1: invalid maxproc value \"2\" for service \"a\": "
	 "expected 1 or -"},
	{"a unix - - n - 0 x\n", "invalid maxproc value \"0\""},
	{"a inet - - n - - x\n",
	 "line 1: invalid type \"inet\" for service \"a\": expected dgram or "
	 "unix"},
	{"a - - - n - - x\n", "invalid type \"-\""},
	{"a unix n - n - - x\n", "invalid private value \"n\" for service "
	 "\"a\": expected y or -"},
	{"a unix - n n - - x\n", "invalid unpriv value \"n\""},
	{"a unix - - maybe - - x\n", "invalid chroot value \"maybe\" for "
	 "service \"a\": expected y, n or -"},
	{"a unix - - n -1 - x\n", "invalid wakeup value \"-1\""},
	{"a unix - - n 10x - x\n", "invalid wakeup value \"10x\""},
	{"a unix - - n 86401 - x\n", "expected seconds from 0 to 86400"},
	{"a dgram - - n 5 - x\n", "invalid wakeup value \"5\" for service "
	 "\"a\": expected 0 or -, because a dgram service has no wakeup FIFO"},
	{"a unix - - n - -\n", "line 1: expected 8 columns (service type "
	 "private unpriv chroot wakeup maxproc command), found 7"},
	{"a unix - - n - - ../bin/x\n", "invalid command \"../bin/x\""},
	{"a unix - - n - - x\n-o keep_days=3\n", "master.cf line 2: expected 8 "
	 "columns (service type private unpriv chroot wakeup maxproc "
	 "command), found 2; a continuation line such as \"-o name=value\" "
	 "must start with white space"},
	{"a unix - - n - - x -o\n", "invalid -o option \"\" for service "
	 "\"a\": expected -o name=value"},
	{"a unix - - n - - x -o novalue\n", "invalid -o option \"novalue\""},
	{"a unix - - n - - x -o =value\n", "invalid -o option \"=value\""},
	{"-a unix - - n - - x\n", "invalid service name \"-a\""},
	{"a/b unix - - n - - x\n", "invalid service name \"a/b\""},
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	 " unix - - n - - x\n", "is longer than 64 bytes"},
	{"a unix - - n - - x\n\nb unix - - n - - y\na unix - - n - - z\n",
	 "master.cf line 4: service \"a\" is already defined at line 1"},
	{"r dgram - - n - - x\ns dgram - - n - - y\n",
	 "line 2: second dgram service \"s\": only one service can receive "
	 "the receiver socket"},
	{"# comment\n  a unix - - n - - x\n",
	 "master.cf line 2: continuation line without an entry above it"},
	{"# nothing here\n\n", "master.cf: no services defined"},
	{"", "no services defined"},
	{"\n\na unix - -\n  n - 2 x\n", "master.cf line 3: invalid maxproc"},
	{"a unix - - n - - x\nb unix - - n 1e3 - y\n",
	 "master.cf line 2: invalid wakeup value \"1e3\""},
};

static void option_lookup(void **state)
{
	struct master_cf table;
	struct strbuf error;
	const struct master_cf_entry *entry;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(parse("w unix - - n - - worker -o keep_days=3 -v\n"
			       "  -omail_owner=a -o mail_owner=b -o\n"
			       "  mail_owner_x=c -o x=mail_owner=d\n",
			       &table, &error), 0);
	entry = &table.entries[0];
	assert_string_equal(master_cf_entry_option(entry, "keep_days"), "3");
	assert_string_equal(master_cf_entry_option(entry, "mail_owner"), "b");
	assert_string_equal(master_cf_entry_option(entry, "mail_owner_x"), "c");
	assert_null(master_cf_entry_option(entry, "mail"));
	assert_null(master_cf_entry_option(entry, "worker"));
	master_cf_free(&table);
	strbuf_free(&error);
}

static void entries_compared(void **state)
{
	static const char *const variants[] = {
		"w unix - - y - - worker -v\n",
		"w unix - - n 5 - worker -v\n",
		"w unix - - n - - worker\n",
		"w unix - - n - - worker -v -v\n",
		"w unix - - n - - mailer -v\n",
		"x unix - - n - - worker -v\n",
	};
	struct master_cf base, other;
	struct strbuf error;
	size_t i;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(parse("w unix - - n - - worker -v\n", &base, &error),
			 0);
	assert_int_equal(parse("# moved down\n\nw unix y y n 0 1 worker\n"
			       "   -v\n", &other, &error), 0);
	assert_true(master_cf_entry_equal(&base.entries[0], &other.entries[0]));
	master_cf_free(&other);
	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		assert_int_equal(parse(variants[i], &other, &error), 0);
		if (master_cf_entry_equal(&base.entries[0], &other.entries[0]))
			fail_msg("entry \"%s\" compared equal", variants[i]);
		master_cf_free(&other);
	}
	master_cf_free(&base);
	strbuf_free(&error);
}

static void invalid_entries_rejected(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct master_cf table;
		struct strbuf error;

		strbuf_init(&error);
		if (parse(bad_cases[i].text, &table, &error) == 0)
			fail_msg("case %zu accepted: %s", i,
				 bad_cases[i].text);
		if (strstr(error.data, bad_cases[i].expected) == NULL)
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i,
				 error.data, bad_cases[i].expected);
		assert_int_equal(table.count, 0);
		assert_null(table.entries);
		strbuf_free(&error);
	}
}

static void nul_byte_rejected(void **state)
{
	static const char text[] = "a unix - - n - - x\nb unix\0 - - n - - y\n";
	struct master_cf table;
	struct strbuf error;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(master_cf_parse("master.cf", text, sizeof(text) - 1,
					 &table, &error), -1);
	assert_non_null(strstr(error.data, "master.cf line 2: NUL byte"));
	strbuf_free(&error);
}

static void missing_file_named(void **state)
{
	struct master_cf table;
	struct strbuf error;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(master_cf_read("/nonexistent/master.cf", &table,
					&error), -1);
	assert_string_equal(error.data, "cannot open /nonexistent/master.cf: "
			    "No such file or directory");
	strbuf_free(&error);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shipped_file_parses),
		cmocka_unit_test(dash_selects_defaults),
		cmocka_unit_test(continuation_and_arguments),
		cmocka_unit_test(entry_copy_is_independent),
		cmocka_unit_test(option_lookup),
		cmocka_unit_test(entries_compared),
		cmocka_unit_test(invalid_entries_rejected),
		cmocka_unit_test(nul_byte_rejected),
		cmocka_unit_test(missing_file_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
