/*
 * Unit tests for the main.cf parser: syntax, $name expansion, typed
 * values with units and bounds, overrides, and errors that name the file
 * and line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

static void write_main_cf(const char *text)
{
	char *path = xasprintf("%s/main.cf", config_dir);
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	free(path);
}

static size_t count_lines(const char *text)
{
	size_t count = text[0] != '\0' ? 1 : 0;

	for (; *text != '\0'; text++)
		if (*text == '\n')
			count++;
	return count;
}

/* Every invalid value and line, one per line, and not only the first. */
static const char several_problems[] =
	"keep_days = x\n"
	"queue_directory = /srv/q\n"
	"delivery_spread = 2 hours\n"
	"https_verify = maybe\n"
	"contact-info = x\n"
	"receiver_socket_mode = 0999\n"
	"report_max_size = 10x\n";

static const char *const several_messages[] = {
	"main.cf line 1: invalid value \"x\" for keep_days: expected a "
	"whole number from 1 to 3660",
	"main.cf line 3: invalid value \"2 hours\" for delivery_spread: "
	"expected a time such as 30s, 10m, 24h or 7d from 0s to 1d",
	"main.cf line 4: invalid value \"maybe\" for https_verify: expected "
	"yes or no",
	"main.cf line 5: invalid parameter name \"contact-info\"",
	"main.cf line 6: invalid value \"0999\" for receiver_socket_mode: "
	"expected an octal file mode such as 0660 from 0 to 07777",
	"main.cf line 7: invalid value \"10x\" for report_max_size: expected "
	"a size in bytes such as 65536, 512k or 10m from 1k to 100m",
};

#define SEVERAL_COUNT	(sizeof(several_messages) / sizeof(several_messages[0]))

static void every_problem_reported(void **state)
{
	struct strbuf error;
	const char *previous = NULL;
	size_t i;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(load("keep_days = 9\n", &error), 0);
	assert_int_equal(load(several_problems, &error), -1);
	for (i = 0; i < SEVERAL_COUNT; i++) {
		const char *found = strstr(error.data, several_messages[i]);

		if (found == NULL)
			fail_msg("error \"%s\" lacks \"%s\"", error.data,
				 several_messages[i]);
		if (previous != NULL && found < previous)
			fail_msg("\"%s\" is not in the order of main.cf: %s",
				 several_messages[i], error.data);
		previous = found;
	}
	assert_int_equal(count_lines(error.data), SEVERAL_COUNT);
	assert_int_not_equal(error.data[error.len - 1], '\n');
	assert_int_equal(config_int("keep_days"), 9);
	strbuf_free(&error);
}

/* A problem that ends the load comes after the lines read before it. */
static void problems_precede_fatal_error(void **state)
{
	static const char text[] = "keep-days = 5\nkeep_days = 6\n"
		"queue_directory = a\0b\n";
	char *path = xasprintf("%s/main.cf", config_dir);
	FILE *fp = fopen(path, "w");
	struct strbuf error;
	const char *invalid;
	const char *nul;

	(void)state;
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, sizeof(text) - 1, fp),
			 sizeof(text) - 1);
	fclose(fp);
	free(path);
	strbuf_init(&error);
	assert_int_equal(config_load(config_dir, &error), -1);
	invalid = strstr(error.data, "line 1: invalid parameter name "
			 "\"keep-days\"");
	nul = strstr(error.data, "line 3: NUL byte");
	assert_non_null(invalid);
	assert_non_null(nul);
	assert_true(invalid < nul);
	assert_int_equal(count_lines(error.data), 2);
	strbuf_free(&error);
}

static bool validate_ran;

/* Record that the check ran and what keep_days was then. */
static int reject_after_bad_values(struct strbuf *error)
{
	validate_ran = true;
	if (error->len > 0)
		strbuf_putc(error, '\n');
	strbuf_printf(error, "check saw keep_days %lld",
		      config_int("keep_days"));
	return -1;
}

static void validate_runs_after_bad_value(void **state)
{
	struct strbuf error;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(load("keep_days = 9\n", &error), 0);
	write_main_cf(several_problems);
	strbuf_reset(&error);
	validate_ran = false;
	assert_int_equal(config_load_validated(config_dir,
					       reject_after_bad_values,
					       &error), -1);
	assert_true(validate_ran);
	assert_non_null(strstr(error.data, several_messages[0]));
	assert_non_null(strstr(error.data, "\ncheck saw keep_days 31"));
	assert_int_equal(count_lines(error.data), SEVERAL_COUNT + 1);
	assert_int_equal(config_int("keep_days"), 9);
	strbuf_free(&error);
}

static void with_defaults_keeps_loading(void **state)
{
	struct strbuf errors;
	size_t i;

	(void)state;
	strbuf_init(&errors);
	write_main_cf(several_problems);
	assert_int_equal(config_load_with_defaults(config_dir, &errors), 1);
	for (i = 0; i < SEVERAL_COUNT; i++)
		if (strstr(errors.data, several_messages[i]) == NULL)
			fail_msg("errors \"%s\" lack \"%s\"", errors.data,
				 several_messages[i]);
	assert_int_equal(count_lines(errors.data), SEVERAL_COUNT);
	assert_null(strstr(errors.data, "using the default"));

	/* The valid values apply and the invalid ones keep their defaults. */
	assert_string_equal(config_str("queue_directory"), "/srv/q");
	assert_int_equal(config_int("keep_days"), 31);
	assert_int_equal(config_time("delivery_spread"), 7200);
	assert_true(config_bool("https_verify"));
	assert_int_equal(config_mode("receiver_socket_mode"), 0660);
	assert_int_equal(config_size("report_max_size"), 5 * 1024 * 1024);
	assert_string_equal(config_str("contact_info"), "");

	write_main_cf("keep_days = 8\n");
	strbuf_reset(&errors);
	assert_int_equal(config_load_with_defaults(config_dir, &errors), 0);
	assert_string_equal(errors.data, "");
	assert_int_equal(config_int("keep_days"), 8);

	strbuf_reset(&errors);
	assert_int_equal(config_load_with_defaults("/nonexistent-tlsrptd-dir",
						   &errors), -1);
	assert_non_null(strstr(errors.data, "cannot open"));
	assert_int_equal(config_int("keep_days"), 8);
	strbuf_free(&errors);
}

static void hyphen_name_suggests_parameter(void **state)
{
	struct strbuf error;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(load("\ncontact-info = x\n", &error), -1);
	assert_non_null(strstr(error.data, "main.cf line 2: invalid parameter "
			       "name \"contact-info\": names contain only "
			       "letters, digits and \"_\"; did you mean "
			       "\"contact_info\"?"));
	assert_null(strstr(error.data, "missing \"=\""));
	strbuf_free(&error);
}

static void invalid_name_without_suggestion(void **state)
{
	static const struct bad_config cases[] = {
		{"no-such-thing = 1\n", "line 1: invalid parameter name "
		 "\"no-such-thing\": names contain only letters, digits and "
		 "\"_\""},
		{"keep.days = 3\n", "invalid parameter name \"keep.days\""},
		{"-keep_days = 3\n", "invalid parameter name \"-keep_days\""},
		{"keep_days-=3\n", "invalid parameter name \"keep_days-\""},
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
		if (strstr(error.data, "did you mean") != NULL)
			fail_msg("case %zu: unexpected suggestion in \"%s\"",
				 i, error.data);
	}
	strbuf_free(&error);
}

static void relaxed_skips_invalid_name(void **state)
{
	struct strbuf warnings;
	struct strbuf error;

	(void)state;
	strbuf_init(&warnings);
	strbuf_init(&error);
	assert_int_equal(load_relaxed("keep-days = 5\nkeep_days = 6\n",
				      &warnings, &error), 0);
	assert_non_null(strstr(warnings.data, "main.cf line 1: invalid "
			       "parameter name \"keep-days\": names contain "
			       "only letters, digits and \"_\"; did you mean "
			       "\"keep_days\"?; ignoring this line for this "
			       "command\n"));
	assert_int_equal(config_int("keep_days"), 6);
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
		cmocka_unit_test(every_problem_reported),
		cmocka_unit_test(problems_precede_fatal_error),
		cmocka_unit_test(validate_runs_after_bad_value),
		cmocka_unit_test(with_defaults_keeps_loading),
		cmocka_unit_test(hyphen_name_suggests_parameter),
		cmocka_unit_test(invalid_name_without_suggestion),
		cmocka_unit_test(relaxed_skips_invalid_name),
		cmocka_unit_test(override_wins_over_file),
	};

	return cmocka_run_group_tests_name("config", tests, make_dir,
					   remove_dir);
}
