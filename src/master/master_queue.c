/*
 * master_queue: the queue directory, its subdirectories, the wakeup FIFOs
 * and the pid lock.
 *
 * Missing directories are created with mode 0700; when the master runs as
 * root they are given to mail_owner, except pid/, which holds the lock
 * and stays root's. Directories that exist are left as they are.
 * NOTE: a directory with the wrong owner or mode is not repaired here;
 * a checking command that compares the queue against a manifest would.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "master.h"
#include "master_pid.h"
#include "msg.h"
#include "queue_file.h"
#include "trigger.h"
#include "xalloc.h"

static const char *const queue_subdirs[] = {
	QUEUE_TMP, QUEUE_INCOMING, QUEUE_CORRUPT, QUEUE_OUTGOING,
	QUEUE_DEFERRED, QUEUE_HOLD, QUEUE_SENT, QUEUE_FAILED, QUEUE_DB,
	QUEUE_DAYS, QUEUE_REQUESTS, QUEUE_EXPORT, QUEUE_PID, QUEUE_PRIVATE,
};

/*
 * Create path and its missing parents with mode. Returns 1 when path was
 * created, 0 when it existed, -1 with errno set on failure.
 */
int master_make_dirs(const char *path, mode_t mode)
{
	struct stat st;
	char *parent;
	char *slash;
	int status;

	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		errno = ENOTDIR;
		return -1;
	}
	if (errno != ENOENT)
		return -1;

	/* Parents are ordinary directories that others may traverse. */
	parent = xstrdup(path);
	slash = strrchr(parent, '/');
	status = 0;
	if (slash != NULL && slash != parent) {
		*slash = '\0';
		status = master_make_dirs(parent, 0755) < 0 ? -1 : 0;
	}
	free(parent);
	if (status != 0)
		return -1;
	if (mkdir(path, mode) != 0)
		return errno == EEXIST ? 0 : -1;
	if (chmod(path, mode) != 0)
		return -1;
	return 1;
}

static void give_to_owner(struct master *master, const char *path)
{
	if (!master->privileged)
		return;
	if (chown(path, master->owner_uid, master->owner_gid) != 0)
		msg_fatal("cannot change the owner of %s to mail_owner: %s",
			  path, strerror(errno));
}

/* Create one directory; path is relative to the queue, or the queue. */
static void make_queue_dir(struct master *master, const char *path,
			   bool for_owner)
{
	int created = master_make_dirs(path, 0700);
	const char *separator = path[0] == '/' ? "" : "/";
	const char *base = path[0] == '/' ? "" : master->queue_dir;

	if (created < 0)
		msg_fatal("cannot create directory %s%s%s: %s", base,
			  separator, path, strerror(errno));
	if (created == 0)
		return;
	if (for_owner)
		give_to_owner(master, path);
	msg_info("created directory %s%s%s", base, separator, path);
}

/* Create the queue directory and its subdirectories, then change into it. */
void master_queue_create(struct master *master)
{
	size_t i;

	make_queue_dir(master, master->queue_dir, true);
	if (chdir(master->queue_dir) != 0)
		msg_fatal("cannot change to queue_directory %s: %s",
			  master->queue_dir, strerror(errno));
	for (i = 0; i < sizeof(queue_subdirs) / sizeof(queue_subdirs[0]); i++)
		make_queue_dir(master, queue_subdirs[i],
			       strcmp(queue_subdirs[i], QUEUE_PID) != 0);
}

/* A wakeup FIFO private/SERVICE for every unix service. */
void master_fifos_create(struct master *master)
{
	size_t i;

	for (i = 0; i < master->table.count; i++) {
		const struct master_cf_entry *entry = &master->table.entries[i];
		char *path;

		if (entry->type != MASTER_CF_UNIX)
			continue;
		path = xasprintf("%s/%s", QUEUE_PRIVATE, entry->service);
		if (trigger_create(entry->service) != 0)
			msg_fatal("cannot create wakeup FIFO %s/%s: %s",
				  master->queue_dir, path, strerror(errno));
		give_to_owner(master, path);
		free(path);
	}
}

/* Lock pid/master.pid, or exit when another master holds it. */
void master_pid_take(struct master *master)
{
	pid_t holder;

	master->pid_fd = master_pid_lock(MASTER_PID_FILE, &holder);
	if (master->pid_fd >= 0)
		return;
	if (errno == EAGAIN)
		msg_fatal("the tlsrptd master is already running (pid %ld)",
			  (long)holder);
	msg_fatal("cannot lock %s/%s: %s", master->queue_dir, MASTER_PID_FILE,
		  strerror(errno));
}

/* Remove the pid file while still holding its lock, then let go. */
void master_pid_release(struct master *master)
{
	if (master->pid_fd < 0)
		return;
	if (unlink(MASTER_PID_FILE) != 0)
		msg_warn("cannot remove %s/%s: %s", master->queue_dir,
			 MASTER_PID_FILE, strerror(errno));
	close(master->pid_fd);
	master->pid_fd = -1;
}
