/*
 * check_command: verify the configuration and the files of the suite,
 * like "postfix check"; with -f repair owners and modes, like "postfix
 * set-permissions".
 *
 *	tlsrptd [-c CONFIG_DIR] check [-f]
 *
 * What is checked:
 * - main.cf loads and its values are usable (config_values.h: the
 *   required parameters, relayhost, smtp_tls_security_level,
 *   delivery_redirect, the DKIM settings, as root the accounts of
 *   receiver_socket_owner and receiver_socket_group, and more);
 * - master.cf parses, each of its commands is a program in
 *   daemon_directory, and it defines a dgram service. A missing standard
 *   service (receiver, aggregator, reporter, mailer) and an unknown name
 *   in "-o name=value" are warnings;
 * - the configuration directory, main.cf, master.cf and tlsrptd-files are
 *   not writable by others and, as root, are owned by root, because the
 *   master runs as root and reads them (-f removes the write permission
 *   for others, and changes no owner);
 * - mail_owner, and every account that master.cf gives a service with
 *   "-o mail_owner=NAME", exists, is not root, and (for the latter) has
 *   mail_owner's primary group, through which the queue is shared;
 * - every path of the manifest CONFIG_DIR/tlsrptd-files (manifest.h):
 *   type, owner, group and mode, including the receiver socket. An
 *   account of the manifest that does not exist is one error per line;
 * - no directory or file in the queue is writable by others;
 * - others cannot write to the receiver socket (receiver_socket_mode),
 *   unless receiver_authorized_users names the senders it accepts;
 * - dkim_private_key and smtp_sasl_password_file exist and others
 *   cannot read them; one that the suite's group can read is a warning,
 *   because the receiver's account is in that group;
 * - net.unix.max_dgram_qlen is high enough (sysctl_check.h), else the
 *   MTA may lose datagrams during bursts (a warning).
 *
 * Owners and groups are checked only when running as root. -f creates
 * missing directories and corrects owners and modes; it changes nothing
 * else and never follows a symbolic link. A queue_directory that does
 * not exist yet is one warning, since "tlsrptd start" creates it, and
 * the paths inside it are not checked. Problems go to standard error
 * as "tlsrptd: error: ..." or "tlsrptd: warning: ...", repairs to
 * standard output, then one summary line.
 *
 * Exit status: 0 when no error remains (warnings allowed), 1 otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_command.h"
#include "config.h"
#include "config_values.h"
#include "manifest.h"
#include "master_cf.h"
#include "master_pid.h"
#include "strbuf.h"
#include "sysctl_check.h"
#include "xalloc.h"

struct check {
	bool fix;
	bool privileged;
	bool master_running;
	bool skip_queue;	/* queue_directory is missing or not one */
	int account_line;	/* last manifest line with an unknown account */
	unsigned errors;
	unsigned warnings;
	unsigned repairs;
};

static void report(struct check *check, bool error, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

/* Print a problem on standard error; each line of a message of several
 * lines is one problem with its own prefix. */
static void report(struct check *check, bool error, const char *format, ...)
{
	struct strbuf text;
	const char *line;
	va_list ap;

	strbuf_init(&text);
	va_start(ap, format);
	strbuf_vprintf(&text, format, ap);
	va_end(ap);
	for (line = text.data; *line != '\0';) {
		size_t len = strcspn(line, "\n");

		fprintf(stderr, "tlsrptd: %s: %.*s\n", error ? "error"
			: "warning", (int)len, line);
		if (error)
			check->errors++;
		else
			check->warnings++;
		line += len;
		if (*line == '\n')
			line++;
	}
	strbuf_free(&text);
}

static void repaired(struct check *check, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

static void repaired(struct check *check, const char *format, ...)
{
	va_list ap;

	fputs("tlsrptd: repaired ", stdout);
	va_start(ap, format);
	vprintf(format, ap);
	va_end(ap);
	fputc('\n', stdout);
	check->repairs++;
}

static const char *type_name(char type)
{
	switch (type) {
	case 'd':
		return "directory";
	case 'f':
		return "regular file";
	case 'p':
		return "FIFO";
	case 's':
		return "socket";
	case 'l':
		return "symbolic link";
	}
	return "file of another type";
}

static char type_of(mode_t mode)
{
	if (S_ISDIR(mode))
		return 'd';
	if (S_ISREG(mode))
		return 'f';
	if (S_ISFIFO(mode))
		return 'p';
	if (S_ISSOCK(mode))
		return 's';
	return S_ISLNK(mode) ? 'l' : '?';
}

/* The values of main.cf, master.cf and the programs it names. */
static void check_configuration(struct check *check, const char *config_dir,
				const char *daemon_dir,
				struct master_cf *table)
{
	char *path = xasprintf("%s/master.cf", config_dir);
	struct strbuf errors;
	struct strbuf warnings;

	strbuf_init(&errors);
	strbuf_init(&warnings);
	config_values_check(CONFIG_VALUES_LOAD_KEYS, &errors, &warnings);
	if (master_cf_read(path, table, &errors) != 0)
		memset(table, 0, sizeof(*table));
	else if (daemon_dir != NULL)
		config_services_check(table, daemon_dir, &errors, &warnings);
	else
		strbuf_printf(&warnings, "%scannot find this executable "
			      "(/proc/self/exe), so the programs of master.cf "
			      "are not checked; set daemon_directory",
			      warnings.len > 0 ? "\n" : "");
	report(check, false, "%s", warnings.data);
	report(check, true, "%s", errors.data);
	strbuf_free(&errors);
	strbuf_free(&warnings);
	free(path);
}

/* Tell whether path is queue_directory or inside it. */
static bool in_queue(const char *path)
{
	const char *queue_dir = config_str("queue_directory");
	size_t len = strlen(queue_dir);

	return strncmp(path, queue_dir, len) == 0
	       && (path[len] == '\0' || path[len] == '/');
}

/* Check queue_directory itself before the paths in it, so that a queue
 * that is missing or not a directory is one message, not one per path. */
static void check_queue_directory(struct check *check)
{
	const char *queue_dir = config_str("queue_directory");
	struct stat st;

	if (stat(queue_dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return;
		report(check, true, "queue_directory %s is not a directory; "
		       "set queue_directory in %s/main.cf to the queue's "
		       "directory", queue_dir, config_directory());
	} else if (errno == ENOENT && !check->fix) {
		report(check, false, "queue_directory %s does not exist yet; "
		       "\"tlsrptd start\" or \"tlsrptd check -f\" creates "
		       "it", queue_dir);
	} else if (errno == ENOENT) {
		return;
	} else {
		report(check, true, "cannot check queue_directory %s: %s",
		       queue_dir, strerror(errno));
	}
	check->skip_queue = true;
}

/* mail_owner and the accounts that master.cf gives services. */
static void check_accounts(struct check *check, const struct master_cf *table)
{
	const char *owner = config_str("mail_owner");
	struct passwd *pw = getpwnam(owner);
	gid_t owner_gid;
	size_t i;

	if (pw == NULL) {
		report(check, check->privileged, "mail_owner account \"%s\" "
		       "not found; create it with \"useradd --system "
		       "--no-create-home %s\"", owner, owner);
		return;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0)
		report(check, true, "mail_owner \"%s\" has user or group ID 0; "
		       "use an unprivileged account", owner);
	owner_gid = pw->pw_gid;

	for (i = 0; i < table->count; i++) {
		const struct master_cf_entry *entry = &table->entries[i];
		struct strbuf problem;
		const char *name;

		strbuf_init(&problem);
		name = master_cf_entry_account(table, entry, owner, &problem);
		if (name == NULL)
			report(check, true, "%s", problem.data);
		strbuf_free(&problem);
		if (name == NULL || strcmp(name, owner) == 0)
			continue;
		pw = getpwnam(name);
		if (pw == NULL)
			report(check, check->privileged, "%s line %d: service "
			       "%s: account \"%s\" not found; create it with "
			       "\"useradd --system --no-create-home --gid %s "
			       "%s\"", table->path, entry->line,
			       entry->service, name, owner, name);
		else if (pw->pw_uid == 0 || pw->pw_gid == 0)
			report(check, true, "%s line %d: service %s: account "
			       "\"%s\" has user or group ID 0", table->path,
			       entry->line, entry->service, name);
		else if (pw->pw_gid != owner_gid)
			report(check, true, "%s line %d: service %s: account "
			       "\"%s\" must have the primary group of "
			       "mail_owner %s (group ID %ld), not %ld",
			       table->path, entry->line, entry->service, name,
			       owner, (long)owner_gid, (long)pw->pw_gid);
	}
}

/* Report an account of a manifest line that does not exist, once per
 * line although the line may cover many files. */
static void unknown_account(struct check *check,
			    const struct manifest_entry *entry,
			    const char *column, const char *name)
{
	if (check->account_line == entry->line)
		return;
	check->account_line = entry->line;
	report(check, true, "%s: %s \"%s\" (tlsrptd-files line %d) not found",
	       entry->path, column, name, entry->line);
}

/* Resolve the owner and group columns; -1 when a name is unknown. */
static int expected_ids(struct check *check,
			const struct manifest_entry *entry, uid_t *uid,
			gid_t *gid)
{
	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (entry->owner != NULL) {
		struct passwd *pw = getpwnam(entry->owner);

		if (pw == NULL) {
			unknown_account(check, entry, "owner", entry->owner);
			return -1;
		}
		*uid = pw->pw_uid;
	}
	if (entry->group != NULL) {
		struct group *gr = getgrnam(entry->group);

		if (gr == NULL) {
			unknown_account(check, entry, "group", entry->group);
			return -1;
		}
		*gid = gr->gr_gid;
	}
	return 0;
}

/* Change owner, group or mode without following a symbolic link. */
static int apply_fix(const char *path, char type, uid_t uid, gid_t gid,
		     const mode_t *mode)
{
	int fd;
	int status = 0;

	/* A socket cannot be opened; its directory belongs to root. */
	if (type == 's') {
		if ((uid != (uid_t)-1 || gid != (gid_t)-1)
		    && lchown(path, uid, gid) != 0)
			return -1;
		return mode != NULL ? chmod(path, *mode) : 0;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC
		  | O_NOCTTY);
	if (fd < 0)
		return -1;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) != 0)
		status = -1;
	if (status == 0 && mode != NULL && fchmod(fd, *mode) != 0)
		status = -1;
	close(fd);
	return status;
}

/* Compare one existing path with its manifest entry. */
static void check_attributes(struct check *check, const char *path,
			     const struct stat *st,
			     const struct manifest_entry *entry)
{
	mode_t mode = st->st_mode & 07777;
	bool wrong_mode = entry->has_mode && mode != entry->mode;
	uid_t uid;
	gid_t gid;
	uid_t fix_uid = (uid_t)-1;
	gid_t fix_gid = (gid_t)-1;

	if (type_of(st->st_mode) != entry->type) {
		report(check, true, "%s is a %s, expected a %s; remove or "
		       "rename it", path, type_name(type_of(st->st_mode)),
		       type_name(entry->type));
		return;
	}
	if (check->privileged && expected_ids(check, entry, &uid, &gid) == 0) {
		if (uid != (uid_t)-1 && st->st_uid != uid)
			fix_uid = uid;
		if (gid != (gid_t)-1 && st->st_gid != gid)
			fix_gid = gid;
	}
	if (fix_uid == (uid_t)-1 && fix_gid == (gid_t)-1 && !wrong_mode)
		return;

	if (check->fix && apply_fix(path, entry->type, fix_uid, fix_gid,
				    wrong_mode ? &entry->mode : NULL) == 0) {
		repaired(check, "%s: owner %ld:%ld mode %04o, was %ld:%ld "
			 "mode %04o", path,
			 (long)(fix_uid != (uid_t)-1 ? fix_uid : st->st_uid),
			 (long)(fix_gid != (gid_t)-1 ? fix_gid : st->st_gid),
			 (unsigned)(wrong_mode ? entry->mode : mode),
			 (long)st->st_uid, (long)st->st_gid, (unsigned)mode);
		return;
	}
	if (check->fix)
		report(check, true, "cannot repair %s: %s", path,
		       strerror(errno));
	if (fix_uid != (uid_t)-1 || fix_gid != (gid_t)-1)
		report(check, true, "%s is owned by %ld:%ld, expected %s:%s "
		       "(tlsrptd-files line %d); run \"tlsrptd check -f\"",
		       path, (long)st->st_uid, (long)st->st_gid,
		       entry->owner != NULL ? entry->owner : "-",
		       entry->group != NULL ? entry->group : "-", entry->line);
	if (wrong_mode)
		report(check, true, "%s has mode %04o, expected %04o "
		       "(tlsrptd-files line %d); run \"tlsrptd check -f\"",
		       path, (unsigned)mode, (unsigned)entry->mode,
		       entry->line);
}

/* Create a missing directory of the manifest. */
static void create_directory(struct check *check,
			     const struct manifest_entry *entry)
{
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	mode_t mode = entry->has_mode ? entry->mode : 0700;

	if (check->privileged && expected_ids(check, entry, &uid, &gid) != 0)
		return;
	if (mkdir(entry->path, mode) != 0
	    || apply_fix(entry->path, 'd', uid, gid, &mode) != 0) {
		report(check, true, "cannot create directory %s: %s",
		       entry->path, strerror(errno));
		return;
	}
	repaired(check, "%s: created with mode %04o", entry->path,
		 (unsigned)mode);
}

static void check_missing(struct check *check,
			  const struct manifest_entry *entry)
{
	if (entry->type == 's' && !check->master_running)
		return;
	if (entry->type == 'd' && check->fix) {
		create_directory(check, entry);
		return;
	}
	report(check, true, "%s %s does not exist%s", type_name(entry->type),
	       entry->path, entry->type == 'd' ? "; \"tlsrptd check -f\" or "
	       "\"tlsrptd start\" creates it" : "");
}

/* Return "DIR_PATH/NAME" for the next entry of dir other than "." and
 * "..", to be freed by the caller, or NULL at the end. */
static char *next_path(DIR *dir, const char *dir_path)
{
	struct dirent *dirent;

	while ((dirent = readdir(dir)) != NULL)
		if (strcmp(dirent->d_name, ".") != 0
		    && strcmp(dirent->d_name, "..") != 0)
			return xasprintf("%s/%s", dir_path, dirent->d_name);
	return NULL;
}

static void check_every_entry(struct check *check,
			      const struct manifest_entry *entry)
{
	DIR *dir = opendir(entry->path);
	char *path;

	if (dir == NULL) {
		if (errno != ENOENT)
			report(check, true, "cannot list %s: %s", entry->path,
			       strerror(errno));
		return;
	}
	while ((path = next_path(dir, entry->path)) != NULL) {
		struct stat st;

		/* A file may go away while we look: the suite is running. */
		if (lstat(path, &st) == 0)
			check_attributes(check, path, &st, entry);
		free(path);
	}
	closedir(dir);
}

static void check_manifest(struct check *check, const char *config_dir)
{
	char *path = xasprintf("%s/%s", config_dir, MANIFEST_FILE);
	struct manifest manifest;
	struct strbuf error;
	size_t i;

	strbuf_init(&error);
	if (manifest_read(path, &manifest, &error) != 0) {
		report(check, true, "%s; install conf/%s there (\"make "
		       "install\" does)", error.data, MANIFEST_FILE);
		strbuf_free(&error);
		free(path);
		return;
	}
	strbuf_free(&error);
	free(path);
	for (i = 0; i < manifest.count; i++) {
		const struct manifest_entry *entry = &manifest.entries[i];
		struct stat st;

		if (check->skip_queue && in_queue(entry->path))
			continue;
		if (entry->every_entry)
			check_every_entry(check, entry);
		else if (lstat(entry->path, &st) == 0)
			check_attributes(check, entry->path, &st, entry);
		else if (errno == ENOENT)
			check_missing(check, entry);
		else
			report(check, true, "cannot check %s: %s", entry->path,
			       strerror(errno));
	}
	manifest_free(&manifest);
}

/* Take write permission for others from path. */
static void check_not_world_writable(struct check *check, const char *path,
				     const struct stat *st)
{
	mode_t mode = (st->st_mode & 07777) & ~(mode_t)S_IWOTH;

	if (!(st->st_mode & S_IWOTH) || S_ISLNK(st->st_mode)
	    || S_ISSOCK(st->st_mode))
		return;
	if (check->fix && apply_fix(path, type_of(st->st_mode), (uid_t)-1,
				    (gid_t)-1, &mode) == 0) {
		repaired(check, "%s: mode %04o, was %04o", path,
			 (unsigned)mode, (unsigned)(st->st_mode & 07777));
		return;
	}
	report(check, true, "%s is writable by every user (mode %04o); run "
	       "\"tlsrptd check -f\"", path, (unsigned)(st->st_mode & 07777));
}

/* Check one configuration file or the configuration directory. The
 * master runs as root and reads these files, so an account that can
 * change one can run commands as root. */
static void check_config_path(struct check *check, const char *path)
{
	struct stat st;
	struct stat link;

	/* A file that is missing is reported where it is read. */
	if (stat(path, &st) != 0 || lstat(path, &link) != 0)
		return;
	if (check->privileged && st.st_uid != 0)
		report(check, true, "%s is owned by user ID %ld, not by root, "
		       "but the master runs as root and reads it; run \"chown "
		       "root %s\"", path, (long)st.st_uid, path);
	if (!S_ISLNK(link.st_mode)) {
		check_not_world_writable(check, path, &link);
		return;
	}
	if (st.st_mode & S_IWOTH)
		report(check, true, "%s is writable by every user (mode "
		       "%04o) through a symbolic link, which \"tlsrptd check "
		       "-f\" does not follow; run \"chmod o-w %s\"", path,
		       (unsigned)(st.st_mode & 07777), path);
}

static void check_config_files(struct check *check, const char *config_dir)
{
	static const char *const names[] = {
		"main.cf", "master.cf", MANIFEST_FILE,
	};
	size_t i;

	check_config_path(check, config_dir);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *path = xasprintf("%s/%s", config_dir, names[i]);

		check_config_path(check, path);
		free(path);
	}
}

/* Walk the queue directory two levels deep. */
static void check_world_writable(struct check *check, const char *dir_path,
				 int depth)
{
	DIR *dir = opendir(dir_path);
	char *path;

	if (dir == NULL)
		return;
	while ((path = next_path(dir, dir_path)) != NULL) {
		struct stat st;

		if (lstat(path, &st) == 0) {
			check_not_world_writable(check, path, &st);
			if (S_ISDIR(st.st_mode) && depth > 1)
				check_world_writable(check, path, depth - 1);
		}
		free(path);
	}
	closedir(dir);
}

/* The directory that holds the receiver socket. */
static void check_socket_directory(struct check *check)
{
	const char *socket_path = config_str("receiver_socket");
	char *absolute = socket_path[0] == '/' ? xstrdup(socket_path)
		: xasprintf("%s/%s", config_str("queue_directory"),
			    socket_path);
	char *parent = dirname(absolute);
	struct stat st;

	if (lstat(parent, &st) == 0 && S_ISDIR(st.st_mode)
	    && (st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
		report(check, true, "%s, the directory of receiver_socket, is "
		       "writable by every user, who could replace the socket; "
		       "use a directory of its own", parent);
	free(absolute);
}

/* A socket that every local user may write to lets anyone forge the
 * counts that reports tell other domains, unless receiver_authorized_users
 * names the senders. */
static void check_socket_mode(struct check *check)
{
	struct strbuf problem;

	strbuf_init(&problem);
	if (config_socket_open_to_all(&problem))
		report(check, true, "%s", problem.data);
	strbuf_free(&problem);
}

/* A file that the mailer reads as root before it drops privileges (the
 * DKIM key, the SMTP AUTH password): nobody else needs to read it. */
static void check_secret(struct check *check, const char *name)
{
	const char *path = config_str(name);
	struct strbuf problem;
	struct passwd *pw;
	struct stat st;

	strbuf_init(&problem);
	if (config_secret_readable_by_all(name, &problem)) {
		if (check->fix && stat(path, &st) == 0
		    && chmod(path, st.st_mode & 07770) == 0)
			repaired(check, "%s: mode %04o, was %04o", path,
				 (unsigned)(st.st_mode & 07770),
				 (unsigned)(st.st_mode & 07777));
		else
			report(check, true, "%s", problem.data);
		strbuf_free(&problem);
		return;
	}
	strbuf_free(&problem);

	/* config_values_check() has reported a file that is missing or not
	 * a regular file. */
	if (path[0] == '\0' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	pw = getpwnam(config_str("mail_owner"));
	if ((st.st_mode & S_IRGRP) && pw != NULL && st.st_gid == pw->pw_gid)
		report(check, false, "%s %s can be read by the suite's group, "
		       "which includes the receiver's account; make it mode "
		       "0600, owned by root (the mailer reads it before it "
		       "drops privileges)", name, path);
}

/* net.unix.max_dgram_qlen; a system without it (the BSDs) is fine. */
static void check_dgram_qlen(struct check *check)
{
	struct strbuf message;
	int status;

	strbuf_init(&message);
	status = sysctl_check_dgram_qlen(&message);
	if (status > 0)
		report(check, false, "%s", message.data);
	else if (status < 0 && errno != ENOENT)
		report(check, false, "%s", message.data);
	strbuf_free(&message);
}

int check_command(const char *config_dir, const char *daemon_dir,
		  const char *main_cf_errors, int argc, char **argv)
{
	struct check check;
	struct master_cf table;
	char *pid_path;
	int i;

	memset(&check, 0, sizeof(check));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-f") != 0) {
			fprintf(stderr, "tlsrptd: unexpected argument \"%s\"; "
				"usage: tlsrptd check [-f]\n", argv[i]);
			return 2;
		}
		check.fix = true;
	}
	check.privileged = geteuid() == 0;
	report(&check, true, "%s", main_cf_errors);
	pid_path = xasprintf("%s/%s", config_str("queue_directory"),
			     MASTER_PID_FILE);
	check.master_running = master_pid_holder(pid_path) > 0;
	free(pid_path);
	if (!check.privileged)
		printf("tlsrptd: not running as root: checking modes, not "
		       "owners\n");

	check_configuration(&check, config_dir, daemon_dir, &table);
	check_config_files(&check, config_dir);
	check_accounts(&check, &table);
	master_cf_free(&table);
	check_queue_directory(&check);
	check_manifest(&check, config_dir);
	if (!check.skip_queue)
		check_world_writable(&check, config_str("queue_directory"), 2);
	check_socket_directory(&check);
	check_socket_mode(&check);
	check_secret(&check, "dkim_private_key");
	check_secret(&check, "smtp_sasl_password_file");
	check_dgram_qlen(&check);

	printf("tlsrptd: check: %u error%s, %u warning%s", check.errors,
	       check.errors == 1 ? "" : "s", check.warnings,
	       check.warnings == 1 ? "" : "s");
	if (check.fix)
		printf(", %u repaired", check.repairs);
	printf("\n");
	return check.errors > 0 ? 1 : 0;
}
