/*
 * master_config: the master's view of main.cf and master.cf.
 *
 * At start a configuration error is fatal. On reload (SIGHUP) an error in
 * either file keeps the whole old configuration in use and is logged.
 * Errors include values that would stop a worker at its start, master.cf
 * commands that are not programs in daemon_directory and a master.cf
 * without a dgram service (config_values.h), each logged on a line of
 * its own. The warnings of these checks at start (unknown names in
 * master.cf "-o" options, a socket or key open to every user) are logged
 * once the configured log is open, so they reach maillog_file or syslog.
 *
 * Three values cannot change while the master runs: queue_directory (the
 * master's working directory and pid lock), receiver_socket (kept open
 * across reloads so that queued datagrams survive) and mail_owner (the
 * owner of the queue). A reload that changes one of them logs that a
 * stop and start is needed, and the master keeps the old value: it passes
 * "-o queue_directory=OLD" and "-o mail_owner=OLD" to every child it
 * starts until then, so that the suite stays on one queue.
 *
 * Which services restart on reload: a service whose master.cf entry
 * changed, and every service when a main.cf parameter that the workers
 * read changed (each worker reads main.cf only at start). Parameters that
 * only the master uses (service_*, receiver_socket_*) apply without a
 * restart, and so do names that no program declares (a misspelled
 * parameter, which config_load() warns about), since no worker reads
 * them. A service whose entry and parameters did not change keeps
 * running.
 *
 * Service accounts: every service runs as mail_owner, except that the
 * receiver (the dgram service) may run as the account that its master.cf
 * arguments name with "-o mail_owner=NAME". When the master runs as root
 * that account must exist, must not be root, and must have mail_owner's
 * primary group as its own primary group, because the queue directories
 * that the services share are open to that group.
 */
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_values.h"
#include "master.h"
#include "msg.h"
#include "strbuf.h"
#include "worker.h"
#include "xalloc.h"

/* Parameters that only the master reads: a change needs no restart. */
static const char *const master_only_params[] = {
	"service_throttle_time", "service_restart_delay",
	"service_stop_timeout", "receiver_socket_owner",
	"receiver_socket_group", "receiver_socket_mode", "daemon_directory",
};

/* Parameters fixed until the master stops; see the file comment. */
static const char *const fixed_params[] = {
	"queue_directory", "receiver_socket", "mail_owner",
};

#define COUNT(array)	(sizeof(array) / sizeof((array)[0]))

static bool listed(const char *name, const char *const *list, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (strcmp(name, list[i]) == 0)
			return true;
	return false;
}

/* daemon_directory if set, else the directory of this executable. */
static char *daemon_directory(void)
{
	char self[PATH_MAX];
	ssize_t len;

	if (config_str("daemon_directory")[0] != '\0')
		return xstrdup(config_str("daemon_directory"));
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		msg_fatal("cannot find the master executable (/proc/self/exe):"
			  " %s; set daemon_directory in %s/main.cf",
			  strerror(errno), config_directory());
	self[len] = '\0';
	return xstrdup(dirname(self));
}

static int read_master_cf(struct master_cf *table, const char *config_dir,
			  struct strbuf *error)
{
	char *path = xasprintf("%s/master.cf", config_dir);
	int status = master_cf_read(path, table, error);

	free(path);
	return status;
}

/* Check the account of one service that sets its own mail_owner. */
static int check_account(const struct master *master,
			 const struct master_cf *table,
			 const struct master_cf_entry *entry, const char *name,
			 struct strbuf *error)
{
	struct passwd *pw = getpwnam(name);
	struct group *gr;

	if (pw == NULL) {
		strbuf_printf(error, "%s line %d: service %s: account \"%s\" "
			      "(-o mail_owner) not found; create it with "
			      "\"useradd --system --no-create-home --gid %s "
			      "%s\"", table->path, entry->line, entry->service,
			      name, master->mail_owner, name);
		return -1;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		strbuf_printf(error, "%s line %d: service %s: account \"%s\" "
			      "has user or group ID 0; use an unprivileged "
			      "account", table->path, entry->line,
			      entry->service, name);
		return -1;
	}
	if (pw->pw_gid != master->owner_gid) {
		gr = getgrgid(master->owner_gid);
		strbuf_printf(error, "%s line %d: service %s: account \"%s\" "
			      "has primary group ID %ld, but the queue is "
			      "shared through group %s, the primary group of "
			      "mail_owner %s; change it with \"usermod --gid "
			      "%s %s\"", table->path, entry->line,
			      entry->service, name, (long)pw->pw_gid,
			      gr != NULL ? gr->gr_name : "(unknown)",
			      master->mail_owner,
			      gr != NULL ? gr->gr_name : "GROUP", name);
		return -1;
	}
	return 0;
}

/* Check the accounts that master.cf gives services: only the receiver
 * may have its own, and as root each must be a usable account. */
static int check_accounts(const struct master *master,
			  const struct master_cf *table, struct strbuf *error)
{
	size_t i;

	for (i = 0; i < table->count; i++) {
		const struct master_cf_entry *entry = &table->entries[i];
		const char *name = master_cf_entry_account(
		    table, entry, master->mail_owner, error);

		if (name == NULL)
			return -1;
		if (!master->privileged || strcmp(name, master->mail_owner) == 0)
			continue;
		if (check_account(master, table, entry, name, error) != 0)
			return -1;
	}
	return 0;
}

static void free_worker_config(struct master *master)
{
	size_t i;

	for (i = 0; i < master->worker_config_count; i++)
		free(master->worker_config[i]);
	free(master->worker_config);
	master->worker_config = NULL;
	master->worker_config_count = 0;
}

struct snapshot {
	char **values;
	size_t count;
};

static void add_to_snapshot(const char *name, const char *value,
			    bool is_default, void *context)
{
	struct snapshot *snapshot = context;

	/* A name that no program declares is read by no worker; a value that
	 * refers to it with $name counts through its own expansion. */
	(void)is_default;
	if (param_find(name) == NULL
	    || listed(name, master_only_params, COUNT(master_only_params))
	    || listed(name, fixed_params, COUNT(fixed_params)))
		return;
	snapshot->values = xreallocarray(snapshot->values, snapshot->count + 1,
					 sizeof(*snapshot->values));
	snapshot->values[snapshot->count++] = xasprintf("%s=%s", name, value);
}

/* Record the parameters that the workers read, as now loaded. */
static void take_snapshot(struct snapshot *snapshot)
{
	snapshot->values = NULL;
	snapshot->count = 0;
	config_foreach(add_to_snapshot, snapshot);
}

static bool in_snapshot(const char *value, char *const *values, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (strcmp(values[i], value) == 0)
			return true;
	return false;
}

/* Append the name of assignment to list unless it is there already. */
static void add_name(struct strbuf *list, const char *assignment)
{
	size_t len = strcspn(assignment, "=");
	const char *cursor = list->data;

	while (*cursor != '\0') {
		size_t item = strcspn(cursor, ",");

		if (item == len && strncmp(cursor, assignment, len) == 0)
			return;
		cursor += item;
		cursor += strspn(cursor, ", ");
	}
	if (list->len > 0)
		strbuf_puts(list, ", ");
	strbuf_append(list, assignment, len);
}

/* List the worker parameters that differ between the master's record and
 * snapshot; returns true when there is any. */
static bool compare_worker_config(const struct master *master,
				  const struct snapshot *snapshot,
				  struct strbuf *changed)
{
	size_t i;

	for (i = 0; i < snapshot->count; i++)
		if (!in_snapshot(snapshot->values[i], master->worker_config,
				 master->worker_config_count))
			add_name(changed, snapshot->values[i]);
	for (i = 0; i < master->worker_config_count; i++)
		if (!in_snapshot(master->worker_config[i], snapshot->values,
				 snapshot->count))
			add_name(changed, master->worker_config[i]);
	return changed->len > 0;
}

void master_config_load(struct master *master, const char *config_dir)
{
	char absolute[PATH_MAX];
	struct snapshot snapshot;
	struct strbuf error;
	struct strbuf warnings;

	/* Children get -c with this path after the master changes directory. */
	if (realpath(config_dir, absolute) != NULL)
		config_dir = absolute;
	master->config_dir = xstrdup(config_dir);

	strbuf_init(&error);
	strbuf_init(&warnings);
	/* Every problem of main.cf and of its values goes out at once. */
	if (config_load_with_defaults(master->config_dir, &error) < 0)
		config_fatal(master->config_dir, error.data);
	config_values_check(CONFIG_VALUES_LOAD_KEYS
			    | CONFIG_VALUES_WARN_EXPOSED, &error, &warnings);
	master->daemon_dir = daemon_directory();
	if (read_master_cf(&master->table, master->config_dir, &error) == 0)
		config_services_check(&master->table, master->daemon_dir,
				      &error, &warnings);
	if (error.len > 0) {
		msg_warn_lines("", warnings.data);
		config_fatal(master->config_dir, error.data);
	}
	strbuf_free(&error);

	/* Logged by master_config_log_warnings(), in the configured log. */
	master->start_warnings = strbuf_detach(&warnings, NULL);

	master->queue_dir = xstrdup(config_str("queue_directory"));
	master->socket_path = xstrdup(config_str("receiver_socket"));
	master->mail_owner = xstrdup(config_str("mail_owner"));
	take_snapshot(&snapshot);
	master->worker_config = snapshot.values;
	master->worker_config_count = snapshot.count;
}

/* Log the warnings of the configuration check at start, once the log
 * that main.cf configures is open. */
void master_config_log_warnings(struct master *master)
{
	msg_warn_lines("", master->start_warnings);
	free(master->start_warnings);
	master->start_warnings = NULL;
}

void master_config_free(struct master *master)
{
	free(master->start_warnings);
	free_worker_config(master);
	master_cf_free(&master->table);
	free(master->config_dir);
	free(master->daemon_dir);
	free(master->socket_path);
	free(master->mail_owner);
}

/*
 * Look up mail_owner when running as root. Returns 0, or -1 with a
 * message in error.
 */
static int lookup_owner(struct master *master, struct strbuf *error)
{
	const char *owner = master->mail_owner;
	struct passwd *pw;

	master->privileged = geteuid() == 0;
	if (!master->privileged)
		return 0;
	pw = getpwnam(owner);
	if (pw == NULL) {
		strbuf_printf(error, "mail_owner account \"%s\" not found; "
			      "create it (useradd --system %s) or set "
			      "mail_owner in %s/main.cf", owner, owner,
			      master->config_dir);
		return -1;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		strbuf_printf(error, "mail_owner \"%s\" has user or group ID "
			      "0; set mail_owner to an unprivileged account",
			      owner);
		return -1;
	}
	master->owner_uid = pw->pw_uid;
	master->owner_gid = pw->pw_gid;
	return 0;
}

void master_resolve_owner(struct master *master)
{
	struct strbuf error;

	strbuf_init(&error);
	if (lookup_owner(master, &error) != 0
	    || check_accounts(master, &master->table, &error) != 0)
		msg_fatal("%s", error.data);
	strbuf_free(&error);
}

/* Open the log: standard error with -S, else maillog_file or syslog. */
void master_open_log(struct master *master)
{
	msg_open(config_str("syslog_name"), "master");
	worker_open_log(master->log_to_stderr);
}

/* The value in use of a fixed parameter that main.cf now sets to
 * something else, or NULL when main.cf agrees. */
const char *master_fixed_option(const struct master *master,
				const char *name)
{
	const char *in_use = NULL;

	if (strcmp(name, "queue_directory") == 0)
		in_use = master->queue_dir;
	else if (strcmp(name, "mail_owner") == 0)
		in_use = master->mail_owner;
	if (in_use == NULL || strcmp(config_str(name), in_use) == 0)
		return NULL;
	return in_use;
}

/* Warn when main.cf changed a value that only a restart applies. */
static void keep_fixed_values(struct master *master)
{
	const char *queue_dir = config_str("queue_directory");
	const char *socket_path = config_str("receiver_socket");
	const char *owner = config_str("mail_owner");

	if (strcmp(queue_dir, master->queue_dir) != 0)
		msg_warn("reload: queue_directory changed from %s to %s; the "
			 "suite keeps using %s until \"tlsrptd stop\" and "
			 "\"tlsrptd start\"", master->queue_dir, queue_dir,
			 master->queue_dir);
	if (strcmp(owner, master->mail_owner) != 0)
		msg_warn("reload: mail_owner changed from %s to %s; the suite "
			 "keeps running as %s until \"tlsrptd stop\", "
			 "\"tlsrptd check -f\" and \"tlsrptd start\"",
			 master->mail_owner, owner, master->mail_owner);
	if (strcmp(socket_path, master->socket_path) != 0)
		msg_warn("reload: receiver_socket changed from %s to %s; the "
			 "receiver keeps %s until \"tlsrptd stop\" and "
			 "\"tlsrptd start\"", master->socket_path, socket_path,
			 master->socket_path);
	else
		master_socket_set_access(master);
}

/* The master.cf that a reload checks along with main.cf, and the warnings
 * of that check; set only while read_new_config() runs. */
static const struct master_cf *reload_table;
static struct strbuf *reload_warnings;

/* Check the new main.cf, and master.cf against its daemon_directory; the
 * shape that config_load_validated() takes. */
static int validate_reload(struct strbuf *error)
{
	char *daemon_dir = daemon_directory();
	int status = 0;

	if (config_values_check(CONFIG_VALUES_LOAD_KEYS
				| CONFIG_VALUES_WARN_EXPOSED, error,
				reload_warnings) != 0)
		status = -1;
	if (config_services_check(reload_table, daemon_dir, error,
				  reload_warnings) != 0)
		status = -1;
	free(daemon_dir);
	return status;
}

/* Read both files; on error log it and return -1, keeping the old ones. */
static int read_new_config(struct master *master, struct master_cf *table)
{
	struct strbuf error;
	struct strbuf warnings;
	int status = 0;

	/* Read master.cf first: a failed config_load() keeps the old main.cf,
	 * so nothing has changed yet if either file is invalid. */
	strbuf_init(&error);
	strbuf_init(&warnings);
	reload_table = table;
	reload_warnings = &warnings;
	if (read_master_cf(table, master->config_dir, &error) != 0) {
		status = -1;
	} else if (check_accounts(master, table, &error) != 0
		   || config_load_validated(master->config_dir,
					    validate_reload, &error) != 0) {
		master_cf_free(table);
		status = -1;
	}
	reload_table = NULL;
	reload_warnings = NULL;
	if (status != 0)
		msg_warn_lines("reload failed, keeping the old configuration: ",
			   error.data);
	else
		msg_warn_lines("reload: ", warnings.data);
	strbuf_free(&error);
	strbuf_free(&warnings);
	return status;
}

void master_config_reload(struct master *master)
{
	struct master_cf table;
	struct snapshot snapshot;
	struct strbuf changed;
	char *daemon_dir;
	bool restart_all;

	msg_info("reload -- version %s, configuration %s", TLSRPTD_VERSION,
		 master->config_dir);
	if (read_new_config(master, &table) != 0)
		return;

	master_open_log(master);
	keep_fixed_values(master);

	/* A new daemon_directory means new programs for every service. */
	daemon_dir = daemon_directory();
	strbuf_init(&changed);
	if (strcmp(daemon_dir, master->daemon_dir) != 0)
		strbuf_puts(&changed, "daemon_directory");
	free(master->daemon_dir);
	master->daemon_dir = daemon_dir;

	take_snapshot(&snapshot);
	restart_all = compare_worker_config(master, &snapshot, &changed);
	if (restart_all)
		msg_info("reload: main.cf changed (%s); restarting every "
			 "service", changed.data);
	strbuf_free(&changed);
	free_worker_config(master);
	master->worker_config = snapshot.values;
	master->worker_config_count = snapshot.count;

	master_cf_free(&master->table);
	master->table = table;
	master_fifos_create(master);
	master_services_update(master, restart_all);
}
