/*
 * queue_file: temp file, fsync, no-clobber link, directory fsync; queue IDs.
 * See queue_file.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "msg.h"
#include "queue_file.h"
#include "strbuf.h"
#include "xalloc.h"

void queue_id_new(char id[QUEUE_ID_LEN + 1])
{
	static unsigned counter;
	struct timeval now;

	gettimeofday(&now, NULL);
	snprintf(id, QUEUE_ID_LEN + 1, "%09llX%05lX%06lX%04X",
		 (unsigned long long)now.tv_sec & 0xFFFFFFFFFULL,
		 (unsigned long)now.tv_usec & 0xFFFFFUL,
		 (unsigned long)getpid() & 0xFFFFFFUL, counter++ & 0xFFFFU);
}

bool queue_id_valid(const char *id)
{
	size_t i;

	for (i = 0; i < QUEUE_ID_LEN; i++) {
		char c = id[i];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return id[QUEUE_ID_LEN] == '\0';
}

int queue_file_create(struct queue_file *file, const char *owner)
{
	int fd;

	queue_id_new(file->id);
	file->tmp_path = xasprintf("%s/%s.%s", QUEUE_TMP, owner, file->id);
	/* Group-readable: the receiver runs as its own account and the
	 * aggregator reads its batches through the suite's group. */
	fd = open(file->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		  0640);
	if (fd < 0)
		goto fail;
	file->fp = fdopen(fd, "w");
	if (file->fp == NULL) {
		int saved = errno;

		close(fd);
		unlink(file->tmp_path);
		errno = saved;
		goto fail;
	}
	return 0;

fail:
	free(file->tmp_path);
	file->tmp_path = NULL;
	return -1;
}

int queue_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int status;

	if (fd < 0)
		return -1;
	status = fsync(fd);
	if (status != 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

/* Link without overwriting; fails with EEXIST if the name is taken. */
static int link_no_clobber(const char *from, const char *to)
{
	return link(from, to);
}

int queue_file_commit(struct queue_file *file, const char *dir,
		      const char *name)
{
	char *path = xasprintf("%s/%s", dir, name != NULL ? name : file->id);
	bool linked = false;
	int fd = fileno(file->fp);
	int saved;

	if (fflush(file->fp) != 0 || ferror(file->fp) || fsync(fd) != 0)
		goto fail;
	if (fclose(file->fp) != 0) {
		file->fp = NULL;
		goto fail;
	}
	file->fp = NULL;
	if (link_no_clobber(file->tmp_path, path) != 0)
		goto fail;
	linked = true;
	if (queue_fsync_dir(dir) != 0)
		goto fail;
	unlink(file->tmp_path);
	free(file->tmp_path);
	file->tmp_path = NULL;
	free(path);
	return 0;

fail:
	/* A file whose directory entry may not be durable is not committed:
	 * take it back so that the caller's retry cannot create a twin. */
	saved = errno;
	if (linked)
		unlink(path);
	free(path);
	queue_file_abort(file);
	errno = saved;
	return -1;
}

void queue_file_abort(struct queue_file *file)
{
	int saved = errno;

	if (file->fp != NULL) {
		fclose(file->fp);
		file->fp = NULL;
	}
	if (file->tmp_path != NULL) {
		unlink(file->tmp_path);
		free(file->tmp_path);
		file->tmp_path = NULL;
	}
	errno = saved;
}

int queue_move(const char *from_dir, const char *name, const char *to_dir)
{
	char *from = xasprintf("%s/%s", from_dir, name);
	char *to = xasprintf("%s/%s", to_dir, name);
	int status;
	int saved;

	/* renameat2(RENAME_NOREPLACE) moves without clobbering in one step;
	 * file systems that lack it get link + unlink, which is as safe. */
	status = renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
	if (status != 0 && (errno == EINVAL || errno == ENOSYS)) {
		status = link_no_clobber(from, to);
		if (status == 0)
			status = unlink(from);
	}
	if (status == 0)
		status = queue_fsync_dir(to_dir);
	if (status == 0)
		status = queue_fsync_dir(from_dir);
	saved = errno;
	free(from);
	free(to);
	errno = saved;
	return status;
}

static int compare_names(const void *left, const void *right)
{
	return strcmp(*(char *const *)left, *(char *const *)right);
}

int queue_list(const char *dir, char ***names, size_t *count)
{
	DIR *handle = opendir(dir);
	struct dirent *entry;
	char **list = NULL;
	size_t used = 0;

	*names = NULL;
	*count = 0;
	if (handle == NULL)
		return -1;
	while ((entry = readdir(handle)) != NULL) {
		if (entry->d_name[0] == '.')
			continue;
		list = xreallocarray(list, used + 1, sizeof(*list));
		list[used++] = xstrdup(entry->d_name);
	}
	closedir(handle);
	if (used > 0)
		qsort(list, used, sizeof(*list), compare_names);
	*names = list;
	*count = used;
	return 0;
}

void queue_list_free(char **names, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

int queue_read_file(const char *path, size_t max_size, char **data,
		    size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct strbuf buf;
	char chunk[65536];
	ssize_t got;
	int saved;

	*data = NULL;
	*len = 0;
	if (fd < 0)
		return -1;
	strbuf_init(&buf);
	while ((got = read(fd, chunk, sizeof(chunk))) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			goto fail;
		if (buf.len + (size_t)got > max_size) {
			errno = EFBIG;
			goto fail;
		}
		strbuf_append(&buf, chunk, (size_t)got);
	}
	close(fd);
	*data = strbuf_detach(&buf, len);
	return 0;

fail:
	saved = errno;
	close(fd);
	strbuf_free(&buf);
	errno = saved;
	return -1;
}
