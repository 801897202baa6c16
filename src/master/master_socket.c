/*
 * master_socket: the receiver socket, a SOCK_DGRAM unix socket that the
 * MTA sends TLSRPT datagrams to.
 *
 * The master creates it once and keeps it open until it stops, so that
 * datagrams queued in the socket survive a restart of the receiver; only
 * the dgram service gets the descriptor. A relative receiver_socket is
 * taken relative to queue_directory, the master's working directory.
 *
 * Access: receiver_socket_mode always; receiver_socket_owner and
 * receiver_socket_group only when the master runs as root (an empty value
 * leaves that part unchanged). A missing user or group is fatal at start
 * and a warning on reload, which keeps the old owner.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "master.h"
#include "msg.h"
#include "strbuf.h"
#include "xalloc.h"

/* Make the directory that will hold the socket. */
static void make_parent(const char *path)
{
	char *copy = xstrdup(path);
	char *parent = dirname(copy);

	if (master_make_dirs(parent, 0755) < 0)
		msg_fatal("cannot create directory %s for receiver_socket: %s",
			  parent, strerror(errno));
	free(copy);
}

/* Remove a socket left behind; refuse to remove anything else. */
static void remove_stale(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return;
		msg_fatal("cannot check receiver_socket %s: %s", path,
			  strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		msg_fatal("receiver_socket %s exists and is not a socket; "
			  "remove it or set receiver_socket to another path",
			  path);
	if (unlink(path) != 0)
		msg_fatal("cannot remove old receiver_socket %s: %s", path,
			  strerror(errno));
}

/* Find the user and group that should own the socket; -1 when missing. */
static int socket_owner(uid_t *uid, gid_t *gid, struct strbuf *error)
{
	const char *user = config_str("receiver_socket_owner");
	const char *group = config_str("receiver_socket_group");

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (user[0] != '\0') {
		struct passwd *pw = getpwnam(user);

		if (pw == NULL) {
			strbuf_printf(error, "receiver_socket_owner: user "
				      "\"%s\" not found; create it or set "
				      "receiver_socket_owner", user);
			return -1;
		}
		*uid = pw->pw_uid;
	}
	if (group[0] != '\0') {
		struct group *gr = getgrnam(group);

		if (gr == NULL) {
			strbuf_printf(error, "receiver_socket_group: group "
				      "\"%s\" not found; create it or set "
				      "receiver_socket_group", group);
			return -1;
		}
		*gid = gr->gr_gid;
	}
	return 0;
}

/*
 * Set the socket's mode and owner. An account that can write the
 * socket's directory could put a symbolic link in its place before a
 * reload. So only a socket is changed, and no call follows a link,
 * because as root that would hand the link's target to the suite.
 */
static int apply_access(struct master *master, struct strbuf *error)
{
	mode_t mode = config_mode("receiver_socket_mode");
	struct stat st;
	uid_t uid;
	gid_t gid;

	if (lstat(master->socket_path, &st) != 0) {
		strbuf_printf(error, "cannot check receiver_socket %s: %s",
			      master->socket_path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		strbuf_printf(error, "receiver_socket %s is no longer a "
			      "socket, so its mode and owner are left alone; "
			      "find out who replaced it, then restart tlsrptd",
			      master->socket_path);
		return -1;
	}
	if (fchmodat(AT_FDCWD, master->socket_path, mode,
		     AT_SYMLINK_NOFOLLOW) != 0) {
		strbuf_printf(error, "cannot set mode %04o on receiver_socket "
			      "%s: %s", (unsigned)mode, master->socket_path,
			      strerror(errno));
		return -1;
	}
	if (!master->privileged)
		return 0;
	if (socket_owner(&uid, &gid, error) != 0)
		return -1;
	if (lchown(master->socket_path, uid, gid) != 0) {
		strbuf_printf(error, "cannot change the owner of "
			      "receiver_socket %s to %s:%s: %s",
			      master->socket_path,
			      config_str("receiver_socket_owner"),
			      config_str("receiver_socket_group"),
			      strerror(errno));
		return -1;
	}
	return 0;
}

/* Check the owner and group before anything is created. */
void master_socket_check(struct master *master)
{
	struct strbuf error;
	uid_t uid;
	gid_t gid;

	if (!master->privileged)
		return;
	strbuf_init(&error);
	if (socket_owner(&uid, &gid, &error) != 0)
		msg_fatal("%s", error.data);
	strbuf_free(&error);
}

void master_socket_create(struct master *master)
{
	struct sockaddr_un addr;
	struct strbuf error;
	mode_t old_umask;
	int fd;

	if (strlen(master->socket_path) >= sizeof(addr.sun_path))
		msg_fatal("receiver_socket %s is longer than %zu bytes, the "
			  "limit of a unix socket path; choose a shorter path",
			  master->socket_path, sizeof(addr.sun_path) - 1);
	make_parent(master->socket_path);
	remove_stale(master->socket_path);

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, master->socket_path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		msg_fatal("cannot create the receiver socket: %s",
			  strerror(errno));

	/* No client may connect before the configured mode is in place. */
	old_umask = umask(0177);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
		msg_fatal("cannot bind receiver_socket %s: %s",
			  master->socket_path, strerror(errno));
	umask(old_umask);
	strbuf_init(&error);
	if (apply_access(master, &error) != 0)
		msg_fatal("%s", error.data);
	strbuf_free(&error);
	master->socket_fd = fd;
	if (msg_verbose)
		msg_info("receiver socket %s open as descriptor %d",
			 master->socket_path, fd);
}

/* Apply a changed mode, owner or group after a reload. */
void master_socket_set_access(struct master *master)
{
	struct strbuf error;

	if (master->socket_fd < 0)
		return;
	strbuf_init(&error);
	if (apply_access(master, &error) != 0)
		msg_warn("reload: %s", error.data);
	strbuf_free(&error);
}

void master_socket_remove(struct master *master)
{
	if (master->socket_fd < 0)
		return;
	if (unlink(master->socket_path) != 0 && errno != ENOENT)
		msg_warn("cannot remove receiver_socket %s: %s",
			 master->socket_path, strerror(errno));
	close(master->socket_fd);
	master->socket_fd = -1;
}
