/*
 * Unit tests for the main.cf parser: syntax, $name expansion, typed
 * values with units and bounds, overrides, and errors that name the file
 * and line.
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

#include "config.h"
#include "strbuf.h"
#include "xalloc.h"

static char config_dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(config_dir, sizeof(config_dir), "/tmp/tlsrptd-config-XXXXXX");
	return mkdtemp(config_dir) == NULL ? -1 : 0;
}

static int remove_dir(void **state)
{
	char *path = xasprintf("%s/main.cf", config_dir);

	(void)state;
	unlink(path);
	free(path);
	config_free();
	return rmdir(config_dir);
}

/* Write main.cf and load it; return config_load's status. */
static int load(const char *text, struct strbuf *error)
{
	char *path = xasprintf("%s/main.cf", config_dir);
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	free(path);
	strbuf_reset(error);
	return config_load(config_dir, error);
}

static void defaults_apply(void **state)
{
	struct strbuf error;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(load("", &error), 0);
	assert_string_equal(config_str("queue_directory"), "/var/spool/tlsrptd");
	assert_string_equal(config_str("receiver_socket_owner"), "tlsrptd");
	assert_int_equal(config_time("maximal_queue_lifetime"), 86400);
	assert_true(config_bool("https_verify"));
	assert_int_equal(config_mode("receiver_socket_mode"), 0660);
	assert_false(config_is_set("queue_directory"));
	strbuf_free(&error);
}

static void comments_and_continuations(void **state)
{
	struct strbuf error;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(load("# a comment\n"
			      "organization_name = Example\n"
			      "  Mail   Operations\n"
			      "\n"
			      "   # indented comment\n"
			      "contact_info=tlsrpt@example.net   \n", &error), 0);
	assert_string_equal(config_str("organization_name"),
			    "Example Mail   Operations");
	assert_string_equal(config_str("contact_info"), "tlsrpt@example.net");
	assert_true(config_is_set("contact_info"));
	strbuf_free(&error);
}

static void dollar_expansion(void **state)
{
	struct strbuf error;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(load("mail_owner = reports\n"
			      "contact_info = r@example.net\n"
			      "queue_directory = /srv/${mail_owner}/$(mail_owner)/q\n"
			      "organization_name = cost $$5\n", &error), 0);
	assert_string_equal(config_str("queue_directory"),
			    "/srv/reports/reports/q");
	assert_string_equal(config_str("receiver_socket_owner"), "reports");
	assert_string_equal(config_str("report_envelope_sender"),
			    "r@example.net");
	assert_string_equal(config_str("organization_name"), "cost $5");
	strbuf_free(&error);
}

static void units_and_bounds(void **state)
{
	struct strbuf error;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(load("day_close_delay = 2h\n"
			      "report_max_size = 512k\n"
			      "sent_retention = 2w\n"
			      "https_verify = no\n", &error), 0);
	assert_int_equal(config_time("day_close_delay"), 7200);
	assert_int_equal(config_size("report_max_size"), 512 * 1024);
	assert_int_equal(config_time("sent_retention"), 14 * 86400);
	assert_false(config_bool("https_verify"));
	strbuf_free(&error);
}

struct bad_config {
	const char *text;
	const char *message;	/* expected substring of the error */
};

static void errors_name_file_and_line(void **state)
{
	static const struct bad_config cases[] = {
		{"keep_days = 5\nday_close_delay = soon\n",
		 "main.cf line 2: invalid value \"soon\" for day_close_delay"},
		{"keep_days = 0\n", "line 1: invalid value \"0\" for keep_days"},
		{"https_verify = maybe\n", "expected yes or no"},
		{"receiver_socket_mode = 0999\n", "octal file mode"},
		{"\n\nno equals sign here\n", "line 3: missing \"=\""},
		{"= value\n", "line 1: missing parameter name"},
		{"queue_directory = $nowhere\n",
		 "undefined parameter \"$nowhere\""},
		{"a = $b\nb = $a\nqueue_directory = $a\n", "refers to itself"},
		{"queue_directory = ${mail_owner\n", "invalid \"$\" reference"},
		{"report_max_size = 10x\n", "invalid value \"10x\""},
	};
	struct strbuf error;
	size_t i;

	(void)state;
	strbuf_init(&error);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (load(cases[i].text, &error) == 0)
			fail_msg("case %zu accepted: %s", i, cases[i].text);
		if (strstr(error.data, cases[i].message) == NULL)
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i,
				 error.data, cases[i].message);
	}
	strbuf_free(&error);
}

static void failed_reload_keeps_values(void **state)
{
	struct strbuf error;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(load("keep_days = 9\n", &error), 0);
	assert_int_equal(load("keep_days = nine\n", &error), -1);
	assert_int_equal(config_int("keep_days"), 9);
	strbuf_free(&error);
}

static void required_parameters_reported(void **state)
{
	struct strbuf error;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(load("organization_name = Example\n", &error), 0);
	strbuf_reset(&error);
	assert_int_equal(config_check_required(&error), -1);
	assert_non_null(strstr(error.data, "contact_info is not set"));
	assert_null(strstr(error.data, "organization_name"));
	strbuf_free(&error);
}

static void expansion_growth_bounded(void **state)
{
	struct strbuf text;
	struct strbuf error;
	int level;

	/* Each level names the one before it four times: 64 bytes grow to
	 * 64 * 4^15 bytes, unless expansion stops at its limit. */
	(void)state;
	strbuf_init(&text);
	strbuf_init(&error);
	strbuf_printf(&text, "v0 = %064d\n", 0);
	for (level = 1; level <= 15; level++)
		strbuf_printf(&text, "v%d = $v%d${v%d}$(v%d)$v%d\n", level,
			      level - 1, level - 1, level - 1, level - 1);
	assert_int_equal(load(text.data, &error), -1);
	assert_non_null(strstr(error.data, "after $name expansion"));

	/* Values up to the limit still expand: 64 * 4^5 bytes. */
	strbuf_reset(&text);
	strbuf_printf(&text, "v0 = %064d\n", 0);
	for (level = 1; level <= 5; level++)
		strbuf_printf(&text, "v%d = $v%d$v%d$v%d$v%d\n", level,
			      level - 1, level - 1, level - 1, level - 1);
	assert_int_equal(load(text.data, &error), 0);
	assert_int_equal(strlen(config_str("v5")), 65536);
	strbuf_free(&text);
	strbuf_free(&error);
}

/* Bounds read in the notation of the type: octal modes, times and sizes
 * with their units. */
static void bounds_in_type_notation(void **state)
{
	static const struct bad_config cases[] = {
		{"receiver_socket_mode = 010000\n", "from 0 to 07777"},
		{"day_close_delay = 2d\n", "from 0s to 1d"},
		{"service_restart_delay = 2h\n", "from 0s to 1h"},
		{"receiver_socket_buffer = 1k\n", "from 64k to 1g"},
		{"report_max_size = 1\n", "from 1k to 100m"},
		{"keep_days = 0\n", "from 1 to 3660"},
	};
	struct strbuf error;
	size_t i;

	(void)state;
	strbuf_init(&error);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (load(cases[i].text, &error) == 0)
			fail_msg("case %zu accepted: %s", i, cases[i].text);
		if (strstr(error.data, cases[i].message) == NULL)
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i,
				 error.data, cases[i].message);
	}
	strbuf_free(&error);
}

/* Write main.cf and load it in the relaxed mode. */
static int load_relaxed(const char *text, struct strbuf *warnings,
			struct strbuf *error)
{
	char *path = xasprintf("%s/main.cf", config_dir);
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	free(path);
	strbuf_reset(warnings);
	strbuf_reset(error);
	return config_load_relaxed(config_dir, warnings, error);
}

static void relaxed_uses_defaults(void **state)
{
	struct strbuf warnings;
	struct strbuf error;

	(void)state;
	strbuf_init(&warnings);
	strbuf_init(&error);
	assert_int_equal(load_relaxed("queue_directory = /srv/q\n"
				      "keep_days = many\n"
				      "no equals sign\n"
				      "mail_owner = $nobody_here\n",
				      &warnings, &error), 0);
	assert_string_equal(config_str("queue_directory"), "/srv/q");
	assert_int_equal(config_int("keep_days"), 31);
	assert_string_equal(config_str("mail_owner"), "tlsrptd");
	assert_string_equal(config_str("receiver_socket_owner"), "tlsrptd");
	assert_non_null(strstr(warnings.data, "main.cf line 2: invalid value "
			       "\"many\" for keep_days: expected a whole "
			       "number from 1 to 3660; using the default for "
			       "this command\n"));
	assert_non_null(strstr(warnings.data, "main.cf line 3: missing \"=\""));
	assert_non_null(strstr(warnings.data, "ignoring this line"));
	assert_non_null(strstr(warnings.data, "main.cf line 4: undefined "
			       "parameter \"$nobody_here\""));

	/* Each problem is reported once. */
	assert_null(strstr(strstr(warnings.data, "keep_days") + 1,
			   "keep_days"));
	strbuf_free(&warnings);
	strbuf_free(&error);
}

static void relaxed_breaks_cycles(void **state)
{
	struct strbuf warnings;
	struct strbuf error;

	(void)state;
	strbuf_init(&warnings);
	strbuf_init(&error);
	assert_int_equal(load_relaxed("a = $b\nb = $a\n"
				      "queue_directory = /q/$a\n",
				      &warnings, &error), 0);
	assert_non_null(strstr(warnings.data, "refers to itself"));
	assert_string_equal(config_str("queue_directory"), "/q/");
	strbuf_free(&warnings);
	strbuf_free(&error);
}

static void relaxed_needs_main_cf(void **state)
{
	struct strbuf warnings;
	struct strbuf error;

	(void)state;
	strbuf_init(&warnings);
	strbuf_init(&error);
	assert_int_equal(config_load_relaxed("/nonexistent-tlsrptd-dir",
					     &warnings, &error), -1);
	assert_non_null(strstr(error.data, "cannot open "
			       "/nonexistent-tlsrptd-dir/main.cf"));
	strbuf_free(&warnings);
	strbuf_free(&error);
}

static int reject_keep_days_7(struct strbuf *error)
{
	if (config_int("keep_days") != 7)
		return 0;
	strbuf_puts(error, "keep_days 7 rejected");
	return -1;
}

static void validated_load_keeps_old(void **state)
{
	char *path = xasprintf("%s/main.cf", config_dir);
	struct strbuf error;
	FILE *fp;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(load("keep_days = 9\n", &error), 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("keep_days = 7\n", fp);
	fclose(fp);
	assert_int_equal(config_load_validated(config_dir, reject_keep_days_7,
					       &error), -1);
	assert_string_equal(error.data, "keep_days 7 rejected");
	assert_int_equal(config_int("keep_days"), 9);
	free(path);
	strbuf_free(&error);
}

static void override_wins_over_file(void **state)
{
	struct strbuf error;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(config_override("keep_days=3", &error), 0);
	assert_int_equal(config_override("novalue", &error), -1);
	assert_int_equal(load("keep_days = 9\n", &error), 0);
	assert_int_equal(config_int("keep_days"), 3);
	strbuf_free(&error);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_apply),
		cmocka_unit_test(comments_and_continuations),
		cmocka_unit_test(dollar_expansion),
		cmocka_unit_test(units_and_bounds),
		cmocka_unit_test(errors_name_file_and_line),
		cmocka_unit_test(failed_reload_keeps_values),
		cmocka_unit_test(required_parameters_reported),
		cmocka_unit_test(expansion_growth_bounded),
		cmocka_unit_test(bounds_in_type_notation),
		cmocka_unit_test(relaxed_uses_defaults),
		cmocka_unit_test(relaxed_breaks_cycles),
		cmocka_unit_test(relaxed_needs_main_cf),
		cmocka_unit_test(validated_load_keeps_old),
		cmocka_unit_test(override_wins_over_file),
	};

	return cmocka_run_group_tests_name("config", tests, make_dir,
					   remove_dir);
}
