/*
 * Unit tests for the checks that "tlsrptd check", "tlsrptd start" and
 * the master make of main.cf values and master.cf programs: each invalid
 * value gives one error line that names the file, the line and the value,
 * and a complete configuration gives none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "config_values.h"
#include "master_cf.h"
#include "strbuf.h"
#include "xalloc.h"

#define IDENTITY "organization_name = Example\n" \
	"contact_info = tlsrpt@example.net\n"

static char config_dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(config_dir, sizeof(config_dir),
		 "/tmp/tlsrptd-values-XXXXXX");
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

/* Load text as main.cf exactly and check it with flags; errors and
 * warnings are reset. */
static int check_exact(const char *text, unsigned flags,
		       struct strbuf *errors, struct strbuf *warnings)
{
	char *path = xasprintf("%s/main.cf", config_dir);
	FILE *fp = fopen(path, "w");
	struct strbuf error;

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	free(path);
	strbuf_init(&error);
	if (config_load(config_dir, &error) != 0)
		fail_msg("main.cf does not load: %s", error.data);
	strbuf_free(&error);
	strbuf_reset(errors);
	strbuf_reset(warnings);
	return config_values_check(flags, errors, warnings);
}

/* Check text as main.cf. The group "postfix" of the default
 * receiver_socket_group may not exist here, and as root that is an error,
 * so a last line clears it. */
static int check(const char *text, struct strbuf *errors,
		 struct strbuf *warnings)
{
	char *full = xasprintf("%sreceiver_socket_group =\n", text);
	int status = check_exact(full, 0, errors, warnings);

	free(full);
	return status;
}

static void complete_configuration_passes(void **state)
{
	struct strbuf errors, warnings;

	(void)state;
	strbuf_init(&errors);
	strbuf_init(&warnings);
	assert_int_equal(check(IDENTITY "relayhost = [127.0.0.1]:2525\n"
			       "smtp_tls_security_level = encrypt\n"
			       "delivery_redirect = mailto:trial@example.net\n"
			       "receiver_authorized_users = root, 0\n"
			       "sendmail_path = /bin/sh\n",
			       &errors, &warnings), 0);
	assert_string_equal(errors.data, "");
	assert_string_equal(warnings.data, "");
	strbuf_free(&errors);
	strbuf_free(&warnings);
}

struct bad_value {
	const char *text;	/* appended to IDENTITY */
	const char *message;	/* expected substring of the one error */
};

static void invalid_values_named(void **state)
{
	static const struct bad_value cases[] = {
		{"smtp_tls_security_level = verify\n", "main.cf line 3: "
		 "invalid value \"verify\" for smtp_tls_security_level: "
		 "expected none, may or encrypt"},
		{"relayhost = 127.0.0.1:25:99\n", "main.cf line 3: invalid "
		 "relayhost \"127.0.0.1:25:99\""},
		{"delivery_redirect = /tmp/x\n", "invalid value \"/tmp/x\" for "
		 "delivery_redirect: expected file:/DIRECTORY, mailto:ADDRESS "
		 "or nothing"},
		{"delivery_redirect = file:reports\n", "expected an absolute "
		 "directory"},
		{"delivery_redirect = mailto:nobody\n", "invalid value "
		 "\"mailto:nobody\" for delivery_redirect"},
		{"delivery_redirect = file:/etc/passwd\n",
		 "delivery_redirect /etc/passwd is not a directory"},
		{"report_bcc = not an address\n", "for report_bcc"},
		{"sendmail_path = sendmail\n", "expected an absolute path"},
		{"sendmail_path = /nonexistent/sendmail\n",
		 "cannot execute sendmail_path /nonexistent/sendmail"},
		{"https_ca_file = /nonexistent/ca.pem\n",
		 "https_ca_file /nonexistent/ca.pem: No such file"},
		{"https_ca_file = /tmp\n", "https_ca_file /tmp is not a regular "
		 "file"},
		{"https_internal_addresses = yes\n", "main.cf line 3: invalid "
		 "value \"yes\" for https_internal_addresses: expected reject "
		 "or allow"},
		{"smtp_sasl_username = reports\n", "smtp_sasl_password_file "
		 "is empty"},
		{"dkim_domain = example.net\n", "DKIM signing needs "
		 "dkim_private_key, dkim_selector and dkim_domain"},
		{"receiver_authorized_users = root, no-such-user-tlsrptd\n",
		 "receiver_authorized_users: unknown user "
		 "\"no-such-user-tlsrptd\""},
		{"queue_directory = spool\n", "invalid value \"spool\" for "
		 "queue_directory: expected an absolute path"},
		{"syslog_facility = mial\n", "invalid value \"mial\" for "
		 "syslog_facility: expected a syslog facility"},
	};
	struct strbuf errors, warnings;
	size_t i;

	(void)state;
	strbuf_init(&errors);
	strbuf_init(&warnings);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = xasprintf(IDENTITY "%s", cases[i].text);

		if (check(text, &errors, &warnings) == 0)
			fail_msg("case %zu accepted: %s", i, cases[i].text);
		if (strstr(errors.data, cases[i].message) == NULL)
			fail_msg("case %zu: errors \"%s\" lack \"%s\"", i,
				 errors.data, cases[i].message);
		if (strchr(errors.data, '\n') != NULL)
			fail_msg("case %zu: more than one error: %s", i,
				 errors.data);
		free(text);
	}
	strbuf_free(&errors);
	strbuf_free(&warnings);
}

static void every_problem_on_its_own_line(void **state)
{
	struct strbuf errors, warnings;

	(void)state;
	strbuf_init(&errors);
	strbuf_init(&warnings);
	assert_int_equal(check("relayhost = a:b:c\n"
			       "smtp_tls_security_level = verify\n",
			       &errors, &warnings), -1);
	assert_non_null(strstr(errors.data, "organization_name is not set"));
	assert_non_null(strstr(errors.data, "\ncontact_info is not set"));
	assert_non_null(strstr(errors.data, "\n"));
	assert_non_null(strstr(errors.data, "main.cf line 1: invalid "
			       "relayhost"));
	assert_non_null(strstr(errors.data, "main.cf line 2: invalid value "
			       "\"verify\""));
	assert_int_equal(errors.data[errors.len - 1] != '\n', 1);
	strbuf_free(&errors);
	strbuf_free(&warnings);
}

static void missing_redirect_directory_warns(void **state)
{
	struct strbuf errors, warnings;

	(void)state;
	strbuf_init(&errors);
	strbuf_init(&warnings);
	assert_int_equal(check(IDENTITY "delivery_redirect = "
			       "file:/nonexistent/tlsrpt\n", &errors,
			       &warnings), 0);
	assert_non_null(strstr(warnings.data, "delivery_redirect directory "
			       "/nonexistent/tlsrpt: No such file or "
			       "directory"));
	strbuf_free(&errors);
	strbuf_free(&warnings);
}

/* As root the master sets the socket's owner and group, and stops when
 * one does not exist; otherwise it leaves them as they are. */
static void socket_accounts_checked_as_root(void **state)
{
	static const char *const cases[][2] = {
		{"receiver_socket_group = no-such-group-tlsrptd\n",
		 "main.cf line 3: unknown group \"no-such-group-tlsrptd\" "
		 "for receiver_socket_group; set it to the group of the "
		 "MTA"},
		{"receiver_socket_owner = no-such-user-tlsrptd\n"
		 "receiver_socket_group =\n",
		 "main.cf line 3: unknown user \"no-such-user-tlsrptd\" "
		 "for receiver_socket_owner"},
	};
	struct strbuf errors, warnings;
	size_t i;

	(void)state;
	strbuf_init(&errors);
	strbuf_init(&warnings);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = xasprintf(IDENTITY "%s", cases[i][0]);
		int status = check_exact(text, 0, &errors, &warnings);

		if (geteuid() != 0) {
			assert_int_equal(status, 0);
			assert_string_equal(errors.data, "");
		} else {
			assert_int_equal(status, -1);
			if (strstr(errors.data, cases[i][1]) == NULL)
				fail_msg("case %zu: errors \"%s\" lack \"%s\"",
					 i, errors.data, cases[i][1]);
			assert_null(strchr(errors.data, '\n'));
		}
		free(text);
	}
	strbuf_free(&errors);
	strbuf_free(&warnings);
}

/* A file:DIR redirect that the mailer's account cannot write to defers
 * every report: as root it is judged for mail_owner, otherwise for the
 * user who runs the check. */
static void unwritable_redirect_warns(void **state)
{
	char *dir = xasprintf("%s/redirect", config_dir);
	char *text = xasprintf(IDENTITY "mail_owner = tlsrptd\n"
			       "delivery_redirect = file:%s\n", dir);
	struct passwd *pw = getpwnam("tlsrptd");
	struct strbuf errors, warnings;

	(void)state;
	if (geteuid() == 0 && pw == NULL) {
		free(text);
		free(dir);
		skip();
	}
	strbuf_init(&errors);
	strbuf_init(&warnings);
	assert_int_equal(mkdir(dir, 0755), 0);
	if (geteuid() != 0)
		assert_int_equal(chmod(dir, 0555), 0);
	assert_int_equal(check(text, &errors, &warnings), 0);
	assert_non_null(strstr(warnings.data, dir));
	if (geteuid() == 0)
		assert_non_null(strstr(warnings.data, "is not writable by "
				       "mail_owner tlsrptd; the mailer defers "
				       "every report"));

	/* Writable: owned by mail_owner as root, mode 0755 otherwise. */
	if (geteuid() == 0)
		assert_int_equal(chown(dir, pw->pw_uid, pw->pw_gid), 0);
	else
		assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(check(text, &errors, &warnings), 0);
	assert_string_equal(warnings.data, "");

	/* Group-writable for mail_owner's primary group works as well. */
	if (geteuid() == 0) {
		assert_int_equal(chown(dir, 0, pw->pw_gid), 0);
		assert_int_equal(chmod(dir, 0775), 0);
		assert_int_equal(check(text, &errors, &warnings), 0);
		assert_string_equal(warnings.data, "");
	}
	rmdir(dir);
	strbuf_free(&errors);
	strbuf_free(&warnings);
	free(text);
	free(dir);
}

/* What "tlsrptd check" calls errors, start only warns about, and only
 * when asked with CONFIG_VALUES_WARN_EXPOSED. */
static void exposed_socket_and_key_warned(void **state)
{
	char *key = xasprintf("%s/dkim.key", config_dir);
	char *text = xasprintf(IDENTITY "receiver_socket_mode = 0666\n"
			       "dkim_private_key = %s\ndkim_selector = s1\n"
			       "dkim_domain = example.net\n"
			       "receiver_socket_group =\n", key);
	FILE *fp = fopen(key, "w");
	struct strbuf errors, warnings;

	(void)state;
	strbuf_init(&errors);
	strbuf_init(&warnings);
	assert_non_null(fp);
	fputs("not a key\n", fp);
	fclose(fp);
	assert_int_equal(chmod(key, 0644), 0);

	assert_int_equal(check_exact(text, 0, &errors, &warnings), 0);
	assert_string_equal(warnings.data, "");
	assert_int_equal(check_exact(text, CONFIG_VALUES_WARN_EXPOSED, &errors,
				     &warnings), 0);
	assert_non_null(strstr(warnings.data, "receiver_socket_mode 0666 lets "
			       "every local user send datagrams"));
	assert_non_null(strstr(warnings.data, "\ndkim_private_key "));
	assert_non_null(strstr(warnings.data, "can be read by every user "
			       "(mode 0644); make it mode 0600"));
	assert_string_equal(errors.data, "");

	assert_int_equal(chmod(key, 0600), 0);
	assert_int_equal(check_exact(text, CONFIG_VALUES_WARN_EXPOSED, &errors,
				     &warnings), 0);
	assert_null(strstr(warnings.data, "dkim_private_key"));
	assert_non_null(strstr(warnings.data, "receiver_socket_mode 0666"));

	unlink(key);
	strbuf_free(&errors);
	strbuf_free(&warnings);
	free(text);
	free(key);
}

/* A daemon_directory with the four standard programs. */
static char *make_daemon_dir(void)
{
	static const char *const programs[] = {
		"receiver", "aggregator", "reporter", "mailer",
	};
	char *dir = xasprintf("%s/daemons", config_dir);
	size_t i;

	assert_int_equal(mkdir(dir, 0755), 0);
	for (i = 0; i < 4; i++) {
		char *path = xasprintf("%s/%s", dir, programs[i]);
		FILE *fp = fopen(path, "w");

		assert_non_null(fp);
		fputs("#!/bin/sh\n", fp);
		fclose(fp);
		assert_int_equal(chmod(path, 0755), 0);
		free(path);
	}
	return dir;
}

static void remove_daemon_dir(char *dir)
{
	static const char *const programs[] = {
		"receiver", "aggregator", "reporter", "mailer",
	};
	size_t i;

	for (i = 0; i < 4; i++) {
		char *path = xasprintf("%s/%s", dir, programs[i]);

		unlink(path);
		free(path);
	}
	rmdir(dir);
	free(dir);
}

static void services_checked(void **state)
{
	static const char complete[] =
		"receiver dgram - - n - 1 receiver\n"
		"aggregator unix - - n 60 1 aggregator\n"
		"reporter unix - - n 300 1 reporter\n"
		"mailer unix - - n 60 1 mailer\n";
	static const char misspelled[] =
		"receiver dgram - - n - 1 receiver\n"
		"aggregator unix - - n 60 1 aggregator\n"
		"reporter unix - - n 300 1 reporter\n"
		"mailer unix - - n 60 1 mailr\n";
	char *dir = make_daemon_dir();
	struct strbuf errors, warnings;
	struct master_cf table;

	(void)state;
	strbuf_init(&errors);
	strbuf_init(&warnings);
	assert_int_equal(master_cf_parse("master.cf", complete,
					 strlen(complete), &table, &errors), 0);
	assert_int_equal(config_services_check(&table, dir, &errors,
					       &warnings), 0);
	assert_string_equal(errors.data, "");
	assert_string_equal(warnings.data, "");
	master_cf_free(&table);

	assert_int_equal(master_cf_parse("master.cf", misspelled,
					 strlen(misspelled), &table, &errors),
			 0);
	assert_int_equal(config_services_check(&table, dir, &errors,
					       &warnings), -1);
	assert_non_null(strstr(errors.data, "master.cf line 4: service "
			       "mailer: cannot execute"));
	assert_non_null(strstr(errors.data, "/mailr: No such file or "
			       "directory; check the spelling"));
	assert_non_null(strstr(warnings.data, "no service runs the mailer, "
			       "so no report is delivered"));
	assert_null(strstr(warnings.data, "reporter"));
	master_cf_free(&table);
	strbuf_free(&errors);
	strbuf_free(&warnings);
	remove_daemon_dir(dir);
}

/* Without a dgram service datagrams are lost, which is an error; an
 * option name that no program declares is a warning that names it. */
static void services_dgram_and_options(void **state)
{
	static const char no_dgram[] =
		"receiver unix - - n - 1 receiver\n"
		"aggregator unix - - n 60 1 aggregator\n"
		"reporter unix - - n 300 1 reporter\n"
		"mailer unix - - n 60 1 mailer\n";
	static const char misspelled_option[] =
		"receiver dgram - - n - 1 receiver\n"
		"  -o mail_ownr=tlsrptd-recv -oqueue_directory=/var/q\n"
		"aggregator unix - - n 60 1 aggregator\n"
		"reporter unix - - n 300 1 reporter -o keep_dayz=3\n"
		"mailer unix - - n 60 1 mailer\n";
	char *dir = make_daemon_dir();
	struct strbuf errors, warnings;
	struct master_cf table;

	(void)state;
	strbuf_init(&errors);
	strbuf_init(&warnings);
	assert_int_equal(master_cf_parse("master.cf", no_dgram,
					 strlen(no_dgram), &table, &errors), 0);
	assert_int_equal(config_services_check(&table, dir, &errors,
					       &warnings), -1);
	assert_non_null(strstr(errors.data, "master.cf defines no dgram "
			       "service; nothing reads datagrams sent to "
			       "receiver_socket"));
	assert_null(strchr(errors.data, '\n'));
	master_cf_free(&table);

	strbuf_reset(&errors);
	assert_int_equal(master_cf_parse("master.cf", misspelled_option,
					 strlen(misspelled_option), &table,
					 &errors), 0);
	assert_int_equal(config_services_check(&table, dir, &errors,
					       &warnings), 0);
	assert_string_equal(errors.data, "");
	assert_non_null(strstr(warnings.data, "master.cf line 1: service "
			       "receiver: unknown parameter \"mail_ownr\" in "
			       "\"-o mail_ownr=tlsrptd-recv\"; check the "
			       "spelling"));
	assert_non_null(strstr(warnings.data, "master.cf line 4: service "
			       "reporter: unknown parameter \"keep_dayz\""));
	assert_null(strstr(warnings.data, "queue_directory"));
	master_cf_free(&table);
	strbuf_free(&errors);
	strbuf_free(&warnings);
	remove_daemon_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(complete_configuration_passes),
		cmocka_unit_test(invalid_values_named),
		cmocka_unit_test(every_problem_on_its_own_line),
		cmocka_unit_test(missing_redirect_directory_warns),
		cmocka_unit_test(services_checked),
		cmocka_unit_test(services_dgram_and_options),
		cmocka_unit_test(socket_accounts_checked_as_root),
		cmocka_unit_test(unwritable_redirect_warns),
		cmocka_unit_test(exposed_socket_and_key_warned),
	};

	return cmocka_run_group_tests_name("config_values", tests, make_dir,
					   remove_dir);
}
