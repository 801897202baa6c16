/*
 * master_pid: take and query the master's pid-file lock; see master_pid.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "master_pid.h"

static void whole_file(struct flock *lock)
{
	memset(lock, 0, sizeof(*lock));
	lock->l_type = F_WRLCK;
	lock->l_whence = SEEK_SET;
	lock->l_start = 0;
	lock->l_len = 0;
}

/*
 * Lock path and write this process's ID into it. Returns the open file
 * descriptor, which must stay open for as long as the lock is held, or -1
 * with errno set. When another process holds the lock, errno is EAGAIN
 * and *holder is that process's ID (0 if it let go in between).
 */
int master_pid_lock(const char *path, pid_t *holder)
{
	struct flock lock;
	char text[32];
	int len;
	int fd;

	*holder = 0;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -1;
	whole_file(&lock);
	if (fcntl(fd, F_SETLK, &lock) != 0) {
		int saved = errno;

		if (saved == EACCES || saved == EAGAIN) {
			whole_file(&lock);
			if (fcntl(fd, F_GETLK, &lock) == 0
			    && lock.l_type != F_UNLCK)
				*holder = lock.l_pid;
			saved = EAGAIN;
		}
		close(fd);
		errno = saved;
		return -1;
	}

	len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || write(fd, text, (size_t)len) != len) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/*
 * Return the ID of the process that holds the lock on path, 0 when the
 * file does not exist or nobody holds its lock, or -1 with errno set.
 */
pid_t master_pid_holder(const char *path)
{
	struct flock lock;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	whole_file(&lock);
	if (fcntl(fd, F_GETLK, &lock) != 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return lock.l_type == F_UNLCK ? 0 : lock.l_pid;
}
