/*
 * master_queue: the queue directory, its subdirectories, the wakeup FIFOs
 * and the pid lock.
 *
 * Layout (the same as conf/tlsrptd-files, which "tlsrptd check" reads):
 *
 *	queue_directory			root		0755
 *	tmp/ incoming/ corrupt/		mail_owner	1770
 *	private/			mail_owner	0710
 *	pid/				root		0755
 *	every other subdirectory	mail_owner	0700
 *	private/SERVICE (FIFO)		mail_owner	0620
 *
 * The group of everything mail_owner owns is mail_owner's primary group,
 * the suite's group. The receiver runs as an account of its own in that
 * group: it can write its batches through tmp/ into incoming/ and its
 * rejected datagrams into corrupt/, and send the aggregator its wakeup,
 * but it cannot open any other directory, such as outgoing/. The sticky
 * bit keeps the accounts from removing each other's files in the shared
 * directories. Every other service runs as mail_owner.
 *
 * The master creates what is missing. When an existing directory has
 * another owner or mode it logs a warning and leaves it: "tlsrptd check
 * -f" repairs the layout. Started by an ordinary user, everything belongs
 * to that user, with the same modes.
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

#define FIFO_MODE	0620

struct queue_dir {
	const char *path;	/* relative to the queue directory */
	bool root_owned;	/* else mail_owner's */
	mode_t mode;
};

static const struct queue_dir queue_dirs[] = {
	{QUEUE_TMP, false, 01770},
	{QUEUE_INCOMING, false, 01770},
	{QUEUE_CORRUPT, false, 01770},
	{QUEUE_OUTGOING, false, 0700},
	{QUEUE_DEFERRED, false, 0700},
	{QUEUE_HOLD, false, 0700},
	{QUEUE_SENT, false, 0700},
	{QUEUE_FAILED, false, 0700},
	{QUEUE_DB, false, 0700},
	{QUEUE_DAYS, false, 0700},
	{QUEUE_REQUESTS, false, 0700},
	{QUEUE_EXPORT, false, 0700},
	{QUEUE_PID, true, 0755},
	{QUEUE_PRIVATE, false, 0710},
};

#define QUEUE_ROOT_MODE	0755

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

/* Give a new path to mail_owner and the suite's group, when root. */
static void give_to_owner(struct master *master, const char *path)
{
	if (!master->privileged)
		return;
	if (chown(path, master->owner_uid, master->owner_gid) != 0)
		msg_fatal("cannot change the owner of %s to mail_owner: %s",
			  path, strerror(errno));
}

/* Warn when an existing directory differs from the layout. */
static void check_existing(const struct master *master, const char *full_path,
			   const char *path, const struct queue_dir *layout)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return;
	if ((st.st_mode & 07777) != layout->mode)
		msg_warn("directory %s has mode %04o, expected %04o; run "
			 "\"tlsrptd check -f\" to repair the queue",
			 full_path, (unsigned)(st.st_mode & 07777),
			 (unsigned)layout->mode);
	if (!master->privileged)
		return;
	if (layout->root_owned ? st.st_uid != 0
	    : st.st_uid != master->owner_uid || st.st_gid != master->owner_gid)
		msg_warn("directory %s is owned by %ld:%ld, expected %s; run "
			 "\"tlsrptd check -f\" to repair the queue", full_path,
			 (long)st.st_uid, (long)st.st_gid,
			 layout->root_owned ? "root" : "mail_owner and its group");
}

/* Create one directory; path is relative to the queue, or the queue. */
static void make_queue_dir(struct master *master, const char *path,
			   const struct queue_dir *layout)
{
	int created = master_make_dirs(path, layout->mode);
	const char *separator = path[0] == '/' ? "" : "/";
	const char *base = path[0] == '/' ? "" : master->queue_dir;
	char *full_path = xasprintf("%s%s%s", base, separator, path);

	if (created < 0)
		msg_fatal("cannot create directory %s: %s", full_path,
			  strerror(errno));
	if (created == 0) {
		check_existing(master, full_path, path, layout);
	} else {
		if (!layout->root_owned)
			give_to_owner(master, path);
		msg_info("created directory %s", full_path);
	}
	free(full_path);
}

/* Create the queue directory and its subdirectories, then change into it. */
void master_queue_create(struct master *master)
{
	const struct queue_dir root = { master->queue_dir, true,
					QUEUE_ROOT_MODE };
	const struct queue_dir *layout = &root;
	size_t i;

	/* Started by an ordinary user, the user owns the queue directory. */
	make_queue_dir(master, master->queue_dir, layout);
	if (chdir(master->queue_dir) != 0)
		msg_fatal("cannot change to queue_directory %s: %s",
			  master->queue_dir, strerror(errno));
	for (i = 0; i < sizeof(queue_dirs) / sizeof(queue_dirs[0]); i++)
		make_queue_dir(master, queue_dirs[i].path, &queue_dirs[i]);
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

		/* The suite's group may send wakeups: the receiver does. */
		if (chmod(path, FIFO_MODE) != 0)
			msg_fatal("cannot set mode %04o on wakeup FIFO %s/%s: %s",
				  FIFO_MODE, master->queue_dir, path,
				  strerror(errno));
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
