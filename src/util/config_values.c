/*
 * config_values: checks of main.cf values and of master.cf programs; see
 * config_values.h.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authorized_users.h"
#include "config.h"
#include "config_values.h"
#include "dkim.h"
#include "msg.h"
#include "relayhost.h"
#include "report.h"
#include "report_mail.h"
#include "xalloc.h"

/* The programs of a complete suite and what is lost without each. */
static const struct {
	const char *command;
	const char *consequence;
} standard_services[] = {
	{"receiver", "no datagram is received"},
	{"aggregator", "datagrams are not counted"},
	{"reporter", "no report is built"},
	{"mailer", "no report is delivered"},
};

static void add_line(struct strbuf *lines, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

/* Append one message as a line of its own; lines may be NULL. */
static void add_line(struct strbuf *lines, const char *format, ...)
{
	va_list ap;

	if (lines == NULL)
		return;
	if (lines->len > 0)
		strbuf_putc(lines, '\n');
	va_start(ap, format);
	strbuf_vprintf(lines, format, ap);
	va_end(ap);
}

/* Where a value is set, for the start of a message: "FILE line N", or
 * main.cf itself for a default that took its value from another one. */
static char *where(const char *name)
{
	const char *source = config_source(name);

	if (strcmp(source, "default") == 0)
		return xasprintf("%s/main.cf (default of %s)",
				 config_directory(), name);
	return xstrdup(source);
}

static void value_error(struct strbuf *errors, const char *name,
			const char *format, ...)
	__attribute__((format(printf, 3, 4)));

/* Add "WHERE: TEXT" for parameter name. */
static void value_error(struct strbuf *errors, const char *name,
			const char *format, ...)
{
	char *source = where(name);
	struct strbuf text;
	va_list ap;

	strbuf_init(&text);
	va_start(ap, format);
	strbuf_vprintf(&text, format, ap);
	va_end(ap);
	add_line(errors, "%s: %s", source, text.data);
	strbuf_free(&text);
	free(source);
}

/* The required parameters first: without them the identity cannot be
 * checked. */
static void check_identity(struct strbuf *errors)
{
	struct strbuf problem;

	strbuf_init(&problem);
	if (config_check_required(&problem) != 0
	    || report_identity_check(&problem) != 0)
		add_line(errors, "%s", problem.data);
	strbuf_free(&problem);
}

static void check_tls_level(struct strbuf *errors)
{
	static const char *const levels[] = { "none", "may", "encrypt" };
	const char *value = config_str("smtp_tls_security_level");
	size_t i;

	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(value, levels[i]) == 0)
			return;
	value_error(errors, "smtp_tls_security_level", "invalid value \"%s\" "
		    "for smtp_tls_security_level: expected none, may or "
		    "encrypt (the mailer does not verify the relay's "
		    "certificate)", value);
}

static void check_internal_addresses(struct strbuf *errors)
{
	const char *value = config_str("https_internal_addresses");

	if (strcmp(value, "reject") != 0 && strcmp(value, "allow") != 0)
		value_error(errors, "https_internal_addresses", "invalid value "
			    "\"%s\" for https_internal_addresses: expected "
			    "reject or allow", value);
}

static void check_facility(struct strbuf *errors)
{
	const char *value = config_str("syslog_facility");

	if (!msg_facility_known(value))
		value_error(errors, "syslog_facility", "invalid value \"%s\" "
			    "for syslog_facility: expected a syslog facility "
			    "such as mail, daemon or local0 to local7", value);
}

static void check_relayhost(struct strbuf *errors)
{
	struct relayhost relay;
	struct strbuf problem;

	strbuf_init(&problem);
	if (relayhost_parse(config_str("relayhost"), &relay, &problem) == 0)
		relayhost_free(&relay);
	else
		value_error(errors, "relayhost", "%s", problem.data);
	strbuf_free(&problem);
}

/* Check a mail address as the mailer will use it; returns -1 with the
 * reason in problem. */
static int check_address(const char *address, struct strbuf *problem)
{
	char *uri = xasprintf("mailto:%s", address);
	struct strbuf parsed;
	int status;

	strbuf_init(&parsed);
	status = report_mail_address(uri, &parsed, problem);
	strbuf_free(&parsed);
	free(uri);
	return status;
}

/* Tell whether the account uid:gid may create files in a directory with
 * attributes st, by its mode bits alone (ACLs are not read). The mailer
 * keeps only its primary group when it drops privileges, so supplementary
 * groups do not count. */
static bool may_write_directory(const struct stat *st, uid_t uid, gid_t gid)
{
	mode_t needed = S_IWOTH | S_IXOTH;

	if (uid == 0)
		return true;
	if (st->st_uid == uid)
		needed = S_IWUSR | S_IXUSR;
	else if (st->st_gid == gid)
		needed = S_IWGRP | S_IXGRP;
	return (st->st_mode & needed) == needed;
}

/* The mailer writes redirected reports as mail_owner when started as
 * root, else as the user who runs the suite. */
static void check_redirect_access(const char *dir, const struct stat *st,
				  struct strbuf *warnings)
{
	const char *owner = config_str("mail_owner");
	struct passwd *pw;

	if (geteuid() != 0) {
		if (access(dir, W_OK | X_OK) != 0)
			add_line(warnings, "delivery_redirect directory %s: %s; "
				 "the mailer defers every report until it can "
				 "write there", dir, strerror(errno));
		return;
	}

	/* An unknown mail_owner is reported on its own. */
	pw = getpwnam(owner);
	if (pw == NULL || may_write_directory(st, pw->pw_uid, pw->pw_gid))
		return;
	add_line(warnings, "delivery_redirect directory %s (owner %ld:%ld, "
		 "mode %04o) is not writable by mail_owner %s; the mailer "
		 "defers every report with \"Permission denied\"; give it "
		 "to %s (chown %s %s) or make it writable by group %ld",
		 dir, (long)st->st_uid, (long)st->st_gid,
		 (unsigned)(st->st_mode & 07777), owner, owner, owner, dir,
		 (long)pw->pw_gid);
}

static void check_redirect_dir(const char *dir, struct strbuf *errors,
			       struct strbuf *warnings)
{
	struct stat st;

	if (dir[0] != '/') {
		value_error(errors, "delivery_redirect", "invalid value "
			    "\"file:%s\" for delivery_redirect: expected an "
			    "absolute directory, as in file:/var/tmp/tlsrpt",
			    dir);
		return;
	}
	if (stat(dir, &st) != 0)
		add_line(warnings, "delivery_redirect directory %s: %s; the "
			 "mailer defers every report until it exists", dir,
			 strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		value_error(errors, "delivery_redirect", "delivery_redirect "
			    "%s is not a directory", dir);
	else
		check_redirect_access(dir, &st, warnings);
}

static void check_redirect(struct strbuf *errors, struct strbuf *warnings)
{
	const char *value = config_str("delivery_redirect");
	struct strbuf problem;

	if (value[0] == '\0')
		return;
	if (value[strcspn(value, " \t\r\n")] != '\0') {
		value_error(errors, "delivery_redirect", "invalid value \"%s\" "
			    "for delivery_redirect: expected one destination "
			    "without white space", value);
		return;
	}
	if (strncmp(value, "file:", 5) == 0) {
		check_redirect_dir(value + 5, errors, warnings);
		return;
	}
	if (strncmp(value, "mailto:", 7) != 0) {
		value_error(errors, "delivery_redirect", "invalid value \"%s\" "
			    "for delivery_redirect: expected file:/DIRECTORY, "
			    "mailto:ADDRESS or nothing", value);
		return;
	}
	strbuf_init(&problem);
	if (check_address(value + 7, &problem) != 0)
		value_error(errors, "delivery_redirect", "invalid value \"%s\" "
			    "for delivery_redirect: %s", value, problem.data);
	strbuf_free(&problem);
}

static void check_bcc(struct strbuf *errors)
{
	const char *value = config_str("report_bcc");
	struct strbuf problem;

	if (value[0] == '\0')
		return;
	strbuf_init(&problem);
	if (check_address(value, &problem) != 0)
		value_error(errors, "report_bcc", "invalid value \"%s\" for "
			    "report_bcc: %s", value, problem.data);
	strbuf_free(&problem);
}

/* Check the envelope sender as the mailer reads it: an address, or
 * "Display Name <address>" like report_sender, or empty. */
static void check_envelope_sender(struct strbuf *errors)
{
	const char *value = config_str("report_envelope_sender");
	struct strbuf address;
	struct strbuf problem;

	strbuf_init(&address);
	strbuf_init(&problem);
	if (report_mail_envelope_sender(value, &address, &problem) != 0)
		value_error(errors, "report_envelope_sender", "invalid value "
			    "\"%s\" for report_envelope_sender: %s; set it to "
			    "an address such as tlsrpt@example.net, with or "
			    "without a display name (\"Reports "
			    "<tlsrpt@example.net>\")", value, problem.data);
	strbuf_free(&address);
	strbuf_free(&problem);
}

static void check_sendmail(struct strbuf *errors)
{
	const char *value = config_str("sendmail_path");

	if (value[0] == '\0')
		return;
	if (value[0] != '/')
		value_error(errors, "sendmail_path", "invalid value \"%s\" for "
			    "sendmail_path: expected an absolute path such as "
			    "/usr/sbin/sendmail", value);
	else if (access(value, X_OK) != 0)
		value_error(errors, "sendmail_path", "cannot execute "
			    "sendmail_path %s: %s", value, strerror(errno));
}

/* A file parameter that names an existing regular file when set. The
 * mailer opens these files as root, so another user who may not look
 * into their directory cannot tell. */
static void check_file(const char *name, struct strbuf *errors)
{
	const char *value = config_str(name);
	struct stat st;

	if (value[0] == '\0')
		return;
	if (stat(value, &st) != 0) {
		if (errno != EACCES || geteuid() == 0)
			value_error(errors, name, "%s %s: %s", name, value,
				    strerror(errno));
	}
	else if (!S_ISREG(st.st_mode))
		value_error(errors, name, "%s %s is not a regular file", name,
			    value);
}

static void check_sasl(struct strbuf *errors)
{
	if (config_str("smtp_sasl_username")[0] != '\0'
	    && config_str("smtp_sasl_password_file")[0] == '\0')
		value_error(errors, "smtp_sasl_username", "smtp_sasl_username "
			    "is set, but smtp_sasl_password_file is empty; set "
			    "both, or neither to send without SMTP AUTH");
	check_file("smtp_sasl_password_file", errors);
}

/* Only root can be expected to read the key, so others check that the
 * three parameters are set together. */
static void check_dkim(unsigned flags, struct strbuf *errors)
{
	static const char *const names[] = {
		"dkim_private_key", "dkim_selector", "dkim_domain",
	};
	struct report_identity identity;
	struct dkim_signer *signer = NULL;
	struct strbuf problem;
	size_t set = 0;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (config_str(names[i])[0] != '\0')
			set++;
	if (set == 0)
		return;
	strbuf_init(&problem);
	if (!(flags & CONFIG_VALUES_LOAD_KEYS) || geteuid() != 0) {
		/* With only some of them set, dkim_signer_from_config()
		 * fails before it uses the submitter or reads the key. */
		if (set < 3 && dkim_signer_from_config("", &signer, &problem)
		    < 0)
			add_line(errors, "%s", problem.data);
		check_file("dkim_private_key", errors);
		strbuf_free(&problem);
		return;
	}
	if (report_identity_from_config(&identity, &problem) == 0) {
		if (dkim_signer_from_config(identity.submitter, &signer,
					    &problem) < 0)
			add_line(errors, "%s", problem.data);
		dkim_signer_free(signer);
		report_identity_free(&identity);
	}
	strbuf_free(&problem);
}

static void check_authorized_users(struct strbuf *errors)
{
	struct authorized_users users;
	struct strbuf problem;

	strbuf_init(&problem);
	if (authorized_users_parse(config_str("receiver_authorized_users"),
				   &users, &problem) == 0)
		authorized_users_free(&users);
	else
		value_error(errors, "receiver_authorized_users", "%s",
			    problem.data);
	strbuf_free(&problem);
}

/* The master sets the receiver socket's owner and group only when it
 * runs as root, and stops when one of them does not exist. */
static void check_socket_accounts(struct strbuf *errors)
{
	const char *user = config_str("receiver_socket_owner");
	const char *group = config_str("receiver_socket_group");

	if (geteuid() != 0)
		return;
	/* An unknown mail_owner is reported on its own. */
	if (user[0] != '\0' && strcmp(user, config_str("mail_owner")) != 0
	    && getpwnam(user) == NULL)
		value_error(errors, "receiver_socket_owner", "unknown user "
			    "\"%s\" for receiver_socket_owner; create it, or "
			    "set receiver_socket_owner to an existing user "
			    "(empty: the master's own user)", user);
	if (group[0] != '\0' && getgrnam(group) == NULL)
		value_error(errors, "receiver_socket_group", "unknown group "
			    "\"%s\" for receiver_socket_group; set it to the "
			    "group of the MTA that sends the datagrams (empty: "
			    "the master's own group)", group);
}

bool config_socket_open_to_all(struct strbuf *problem)
{
	mode_t mode = config_mode("receiver_socket_mode");

	if (!(mode & S_IWOTH)
	    || config_str("receiver_authorized_users")[0] != '\0')
		return false;
	add_line(problem, "receiver_socket_mode %04o lets every local user "
		 "send datagrams and so forge the counts of the reports; use "
		 "0660 with receiver_socket_group set to the MTA's group, or "
		 "name the senders in receiver_authorized_users",
		 (unsigned)mode);
	return true;
}

bool config_secret_readable_by_all(const char *name, struct strbuf *problem)
{
	const char *path = config_str(name);
	struct stat st;

	/* check_file() reports a file that is missing or not a regular
	 * file. */
	if (path[0] == '\0' || stat(path, &st) != 0 || !S_ISREG(st.st_mode)
	    || !(st.st_mode & S_IRWXO))
		return false;
	add_line(problem, "%s %s can be read by every user (mode %04o); make "
		 "it mode 0600, owned by root", name, path,
		 (unsigned)(st.st_mode & 07777));
	return true;
}

/* Add the exposures that "tlsrptd check" reports as errors, as warnings
 * for start and reload. */
static void check_exposed(struct strbuf *warnings)
{
	config_socket_open_to_all(warnings);
	config_secret_readable_by_all("dkim_private_key", warnings);
	config_secret_readable_by_all("smtp_sasl_password_file", warnings);
}

static void check_queue_directory(struct strbuf *errors)
{
	const char *value = config_str("queue_directory");

	if (value[0] != '/')
		value_error(errors, "queue_directory", "invalid value \"%s\" "
			    "for queue_directory: expected an absolute path",
			    value);
}

int config_values_check(unsigned flags, struct strbuf *errors,
			struct strbuf *warnings)
{
	size_t before = errors->len;

	check_identity(errors);
	check_queue_directory(errors);
	check_tls_level(errors);
	check_facility(errors);
	check_relayhost(errors);
	check_redirect(errors, warnings);
	check_bcc(errors);
	check_envelope_sender(errors);
	check_sendmail(errors);
	check_file("https_ca_file", errors);
	check_internal_addresses(errors);
	check_sasl(errors);
	check_dkim(flags, errors);
	check_authorized_users(errors);
	check_socket_accounts(errors);
	if (flags & CONFIG_VALUES_WARN_EXPOSED)
		check_exposed(warnings);
	return errors->len > before ? -1 : 0;
}

int config_values_validate(struct strbuf *error)
{
	return config_values_check(CONFIG_VALUES_LOAD_KEYS, error, NULL);
}

/* Check that one service's command is a program in daemon_dir. */
static void check_program(const struct master_cf *table,
			  const struct master_cf_entry *entry,
			  const char *daemon_dir, struct strbuf *errors)
{
	char *path = xasprintf("%s/%s", daemon_dir, entry->argv[0]);

	if (access(path, X_OK) != 0)
		add_line(errors, "%s line %d: service %s: cannot execute %s: "
			 "%s; %s", table->path, entry->line, entry->service,
			 path, strerror(errno), errno == ENOENT
			 ? "check the spelling of the command (receiver, "
			 "aggregator, reporter or mailer) or daemon_directory"
			 : "check daemon_directory");
	free(path);
}

static bool runs_command(const struct master_cf *table, const char *command)
{
	size_t i;

	for (i = 0; i < table->count; i++)
		if (strcmp(table->entries[i].argv[0], command) == 0)
			return true;
	return false;
}

/* Warn about "-o name=value" options whose name is not in params.c. No
 * program reads such a value, so a misspelled mail_owner runs the service
 * as the wrong account. */
static void check_options(const struct master_cf *table,
			  const struct master_cf_entry *entry,
			  struct strbuf *warnings)
{
	const char *assignment;
	size_t index = 1;

	while ((assignment = master_cf_entry_next_option(entry, &index))
	       != NULL) {
		size_t len = strcspn(assignment, "=");
		char *name = xstrndup(assignment, len);

		if (param_find(name) == NULL)
			add_line(warnings, "%s line %d: service %s: unknown "
				 "parameter \"%s\" in \"-o %s\"; check the "
				 "spelling", table->path, entry->line,
				 entry->service, name, assignment);
		free(name);
	}
}

static bool has_dgram_service(const struct master_cf *table)
{
	size_t i;

	for (i = 0; i < table->count; i++)
		if (table->entries[i].type == MASTER_CF_DGRAM)
			return true;
	return false;
}

int config_services_check(const struct master_cf *table,
			  const char *daemon_dir, struct strbuf *errors,
			  struct strbuf *warnings)
{
	size_t before = errors->len;
	size_t i;

	for (i = 0; i < table->count; i++) {
		check_program(table, &table->entries[i], daemon_dir, errors);
		check_options(table, &table->entries[i], warnings);
	}

	/* The MTA's datagrams would queue up in the socket and be lost. */
	if (!has_dgram_service(table))
		add_line(errors, "%s defines no dgram service; nothing reads "
			 "datagrams sent to receiver_socket, so they are lost; "
			 "set the type of the receiver service to dgram, as in "
			 "the master.cf that comes with tlsrptd", table->path);
	for (i = 0; i < sizeof(standard_services) /
	     sizeof(standard_services[0]); i++)
		if (!runs_command(table, standard_services[i].command))
			add_line(warnings, "%s: no service runs the %s, so %s; "
				 "add the %s line of the master.cf that comes "
				 "with tlsrptd", table->path,
				 standard_services[i].command,
				 standard_services[i].consequence,
				 standard_services[i].command);
	return errors->len > before ? -1 : 0;
}
