/*
 * master_config: the master's view of main.cf and master.cf.
 *
 * At start a configuration error is fatal. On reload (SIGHUP) an error in
 * either file keeps the whole old configuration in use and is logged.
 * Two values cannot change while the master runs: queue_directory (the
 * master's working directory and pid lock) and receiver_socket (kept open
 * across reloads so that queued datagrams survive). A reload that changes
 * them logs that a stop and start is needed and keeps the old ones.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "master.h"
#include "msg.h"
#include "strbuf.h"
#include "worker.h"
#include "xalloc.h"

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

/* Warn about programs that cannot run; the first start throttles them. */
static void check_programs(const struct master_cf *table,
			   const char *daemon_dir)
{
	size_t i;

	for (i = 0; i < table->count; i++) {
		const struct master_cf_entry *entry = &table->entries[i];
		char *path = xasprintf("%s/%s", daemon_dir, entry->argv[0]);

		if (access(path, X_OK) != 0)
			msg_warn("%s line %d: service %s: cannot execute %s: "
				 "%s; check daemon_directory", table->path,
				 entry->line, entry->service, path,
				 strerror(errno));
		free(path);
	}
}

static int read_master_cf(struct master_cf *table, const char *config_dir,
			  struct strbuf *error)
{
	char *path = xasprintf("%s/master.cf", config_dir);
	int status = master_cf_read(path, table, error);

	free(path);
	return status;
}

void master_config_load(struct master *master, const char *config_dir)
{
	char absolute[PATH_MAX];
	struct strbuf error;

	/* Children get -c with this path after the master changes directory. */
	if (realpath(config_dir, absolute) != NULL)
		config_dir = absolute;
	master->config_dir = xstrdup(config_dir);

	strbuf_init(&error);
	if (config_load(master->config_dir, &error) != 0
	    || config_check_required(&error) != 0)
		msg_fatal("%s", error.data);
	if (read_master_cf(&master->table, master->config_dir, &error) != 0)
		msg_fatal("%s", error.data);
	strbuf_free(&error);

	master->queue_dir = xstrdup(config_str("queue_directory"));
	if (master->queue_dir[0] != '/')
		msg_fatal("queue_directory \"%s\" is not an absolute path; "
			  "set it to a full path in %s/main.cf",
			  master->queue_dir, master->config_dir);
	master->socket_path = xstrdup(config_str("receiver_socket"));
	master->daemon_dir = daemon_directory();
	check_programs(&master->table, master->daemon_dir);
}

/*
 * Look up mail_owner when running as root. Returns 0, or -1 with a
 * message in error.
 */
static int lookup_owner(struct master *master, struct strbuf *error)
{
	const char *owner = config_str("mail_owner");
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
	if (pw->pw_uid == 0) {
		strbuf_printf(error, "mail_owner \"%s\" has user ID 0; set "
			      "mail_owner to an unprivileged account", owner);
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
	if (lookup_owner(master, &error) != 0)
		msg_fatal("%s", error.data);
	strbuf_free(&error);
}

/* Open the log: standard error with -S, else maillog_file or syslog. */
void master_open_log(struct master *master)
{
	msg_open(config_str("syslog_name"), "master");
	worker_open_log(master->log_to_stderr);
}

/* Warn when main.cf changed a value that only a restart applies. */
static void keep_fixed_values(struct master *master)
{
	const char *queue_dir = config_str("queue_directory");
	const char *socket_path = config_str("receiver_socket");

	if (strcmp(queue_dir, master->queue_dir) != 0)
		msg_warn("reload: queue_directory changed from %s to %s; the "
			 "master keeps using %s, but the restarted workers "
			 "use the new directory: run \"tlsrptd stop\" and "
			 "\"tlsrptd start\" now", master->queue_dir, queue_dir,
			 master->queue_dir);
	if (strcmp(socket_path, master->socket_path) != 0)
		msg_warn("reload: receiver_socket changed from %s to %s; the "
			 "receiver keeps %s until \"tlsrptd stop\" and "
			 "\"tlsrptd start\"", master->socket_path, socket_path,
			 master->socket_path);
	else
		master_socket_set_access(master);
}

void master_config_reload(struct master *master)
{
	struct master_cf table;
	struct strbuf error;

	msg_info("reload -- version %s, configuration %s", TLSRPTD_VERSION,
		 master->config_dir);

	/* Read master.cf first: a failed config_load() keeps the old main.cf,
	 * so nothing has changed yet if either file is invalid. */
	strbuf_init(&error);
	if (read_master_cf(&table, master->config_dir, &error) != 0
	    || config_load(master->config_dir, &error) != 0) {
		msg_warn("reload failed, keeping the old configuration: %s",
			 error.data);
		strbuf_free(&error);
		return;
	}
	strbuf_reset(&error);
	if (config_check_required(&error) != 0)
		msg_warn("reload: %s", error.data);
	strbuf_reset(&error);
	if (lookup_owner(master, &error) != 0)
		msg_warn("reload: %s; new files keep the old owner", error.data);
	strbuf_free(&error);

	master_open_log(master);
	free(master->daemon_dir);
	master->daemon_dir = daemon_directory();
	check_programs(&table, master->daemon_dir);
	keep_fixed_values(master);

	master_cf_free(&master->table);
	master->table = table;
	master_fifos_create(master);
	master_services_update(master);
}
