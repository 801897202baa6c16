/*
 * trigger: FIFO wakeups in private/; see trigger.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue_file.h"
#include "trigger.h"

#define TRIGGER_PATH_MAX 256

static int trigger_path(const char *service, char path[TRIGGER_PATH_MAX])
{
	int len = snprintf(path, TRIGGER_PATH_MAX, "%s/%s", QUEUE_PRIVATE,
			   service);

	if (len < 0 || len >= TRIGGER_PATH_MAX || strchr(service, '/')) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int trigger_create(const char *service)
{
	char path[TRIGGER_PATH_MAX];
	struct stat st;

	if (trigger_path(service, path) != 0)
		return -1;
	if (lstat(path, &st) == 0) {
		if (S_ISFIFO(st.st_mode))
			return 0;
		if (unlink(path) != 0)
			return -1;
	}
	return mkfifo(path, 0600);
}

int trigger_listen(const char *service)
{
	char path[TRIGGER_PATH_MAX];

	if (trigger_path(service, path) != 0)
		return -1;
	return open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
}

int trigger_send(const char *service, char code)
{
	char path[TRIGGER_PATH_MAX];
	ssize_t written;
	int fd;

	if (trigger_path(service, path) != 0)
		return -1;
	fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENXIO ? 0 : -1;
	do {
		written = write(fd, &code, 1);
	} while (written < 0 && errno == EINTR);
	close(fd);

	/* A full FIFO already holds enough wakeups. */
	if (written < 0 && errno != EAGAIN)
		return -1;
	return 0;
}

int trigger_drain(int fd, char *codes, size_t size)
{
	char buf[256];
	ssize_t got;
	size_t used = 0;
	size_t i;

	while ((got = read(fd, buf, sizeof(buf))) > 0 || (got < 0
							   && errno == EINTR)) {
		for (i = 0; got > 0 && i < (size_t)got; i++) {
			if (used + 1 < size && memchr(codes, buf[i], used)
			    == NULL)
				codes[used++] = buf[i];
		}
	}
	if (size > 0)
		codes[used] = '\0';
	return (int)used;
}
