/*
 * fuzz_support: private tmpfs directory, input files and quiet logging for
 * the fuzz targets; see fuzz_support.h.
 *
 * Any failure here is a broken test setup, not a finding, so it aborts
 * with a message instead of returning an error to the target.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_support.h"
#include "msg.h"
#include "xalloc.h"

static char *directory;
static char **created;
static size_t created_count;

static _Noreturn void setup_failed(const char *action, const char *path)
{
	fprintf(stderr, "fuzz_support: %s %s: %s\n", action, path,
		strerror(errno));
	abort();
}

void fuzz_quiet_logs(void)
{
	if (msg_to_file("/dev/null") != 0)
		setup_failed("cannot open", "/dev/null");
}

static void remove_directory(void)
{
	size_t i;

	for (i = 0; i < created_count; i++) {
		unlink(created[i]);
		free(created[i]);
	}
	free(created);
	rmdir(directory);
	free(directory);
}

/* Create the private directory on first use: tmpfs when there is one. */
const char *fuzz_directory(void)
{
	const char *base;

	if (directory != NULL)
		return directory;
	base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	directory =
	    xasprintf("%s/tlsrptd-fuzz.XXXXXX", base != NULL ? base : "/tmp");
	if (mkdtemp(directory) == NULL)
		setup_failed("cannot create", directory);
	atexit(remove_directory);
	return directory;
}

static void remember(const char *path)
{
	size_t i;

	for (i = 0; i < created_count; i++)
		if (strcmp(created[i], path) == 0)
			return;
	created = xreallocarray(created, created_count + 1, sizeof(*created));
	created[created_count++] = xstrdup(path);
}

/*
 * Replace the file name in the private directory with data and return
 * its path, which the caller frees.
 */
char *fuzz_write_file(const char *name, const uint8_t *data, size_t size)
{
	char *path = xasprintf("%s/%s", fuzz_directory(), name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t done = 0;

	if (fd < 0)
		setup_failed("cannot create", path);
	remember(path);
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			setup_failed("cannot write", path);
		done += (size_t)n;
	}
	if (close(fd) != 0)
		setup_failed("cannot close", path);
	return path;
}

/* Return a NUL-terminated copy of data, which the caller frees. */
char *fuzz_copy_text(const uint8_t *data, size_t size)
{
	char *text = xmalloc(size + 1);

	memcpy(text, data, size);
	text[size] = '\0';
	return text;
}
