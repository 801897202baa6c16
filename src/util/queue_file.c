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

	memset(file, 0, sizeof(*file));
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

/* Link tmp_path as path without overwriting. A path that is this very
 * file already, from a commit whose directory fsync failed, counts as
 * linked. */
static int link_into_place(const char *tmp_path, const char *path)
{
	struct stat ours;
	struct stat theirs;

	if (link_no_clobber(tmp_path, path) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (stat(tmp_path, &ours) == 0 && lstat(path, &theirs) == 0 &&
	    ours.st_dev == theirs.st_dev && ours.st_ino == theirs.st_ino)
		return 0;
	errno = EEXIST;
	return -1;
}

/* Link the synced file as dir/name and remember that name in
 * linked_path, for the commit to finish or an abort to take back.
 * Returns 0, or -1 with errno set. */
static int link_file(struct queue_file *file, const char *dir,
		     const char *name)
{
	char *path;
	int saved;

	if (file->tmp_path == NULL) {
		errno = EINVAL;	/* committed or aborted already */
		return -1;
	}
	path = xasprintf("%s/%s", dir, name);
	if (link_into_place(file->tmp_path, path) != 0) {
		saved = errno;
		free(path);
		errno = saved;
		return -1;
	}
	free(file->linked_path);
	file->linked_path = path;
	return 0;
}

/*
 * Flush, fsync and close the file, after which its content is durable.
 * A failure closes it too: what stdio held is lost, so only an abort or
 * a repair of tmp_path can follow.
 */
int queue_file_sync(struct queue_file *file)
{
	FILE *fp = file->fp;
	int status = 0;
	int saved = 0;

	if (file->synced)
		return 0;
	if (fp == NULL) {
		errno = EIO;	/* an earlier failure closed it */
		return -1;
	}
	errno = 0;
	if (fflush(fp) != 0 || ferror(fp) || fsync(fileno(fp)) != 0) {
		status = -1;
		saved = errno != 0 ? errno : EIO;
	}
	file->fp = NULL;
	if (fclose(fp) != 0 && status == 0) {
		status = -1;
		saved = errno;
	}
	if (status != 0) {
		errno = saved;
		return -1;
	}
	file->synced = true;
	return 0;
}

/* The file is in place and its directory durable: drop the tmp/ name. */
static void finish_commit(struct queue_file *file)
{
	/* A tmp/ name left behind by a failed unlink is harmless: the
	 * owner's start-up cleanup removes it. */
	unlink(file->tmp_path);
	free(file->tmp_path);
	free(file->linked_path);
	file->tmp_path = NULL;
	file->linked_path = NULL;
}

int queue_file_commit(struct queue_file *file, const char *dir,
		      const char *name)
{
	if (file->tmp_path == NULL) {
		errno = EINVAL;	/* committed or aborted already */
		return -1;
	}
	if (queue_file_sync(file) != 0
	    || link_file(file, dir, name != NULL ? name : file->id) != 0)
		return -1;

	/* Until the directory is fsync'ed the link may not survive a crash,
	 * so the file is not committed yet; the link stays for the retry. */
	if (queue_fsync_dir(dir) != 0)
		return -1;
	finish_commit(file);
	return 0;
}

void queue_file_abort(struct queue_file *file)
{
	int saved = errno;

	if (file->fp != NULL) {
		fclose(file->fp);
		file->fp = NULL;
	}
	if (file->linked_path != NULL) {
		unlink(file->linked_path);
		free(file->linked_path);
		file->linked_path = NULL;
	}
	if (file->tmp_path != NULL) {
		unlink(file->tmp_path);
		free(file->tmp_path);
		file->tmp_path = NULL;
	}
	file->synced = false;
	errno = saved;
}

void queue_batch_init(struct queue_batch *batch, const char *dir)
{
	memset(batch, 0, sizeof(*batch));
	batch->dir = dir;
}

/* Take over a file from queue_file_create(); *file is cleared. */
void queue_batch_add(struct queue_batch *batch, struct queue_file *file)
{
	if (batch->count == batch->size) {
		batch->size = batch->size ? 2 * batch->size : 64;
		batch->files = xreallocarray(batch->files, batch->size,
					     sizeof(*batch->files));
	}
	batch->files[batch->count++] = *file;
	memset(file, 0, sizeof(*file));
}

/*
 * Make every staged file durable. Writeback of all of them starts before
 * the first fsync, so that the fsyncs mostly wait for I/O already under
 * way and a journaling file system can commit their metadata together.
 */
static int sync_staged(struct queue_batch *batch)
{
	size_t i;

	for (i = 0; i < batch->count; i++) {
		FILE *fp = batch->files[i].fp;

		if (fp == NULL)
			continue;
		if (fflush(fp) != 0 || ferror(fp))
			return -1;
#ifdef SYNC_FILE_RANGE_WRITE
		/* Only a hint: the fsync below reports any error. */
		sync_file_range(fileno(fp), 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
	}
	for (i = 0; i < batch->count; i++)
		if (queue_file_sync(&batch->files[i]) != 0)
			return -1;
	return 0;
}

/* Unlink what a failed batch commit linked. */
static void take_back(struct queue_batch *batch)
{
	size_t i;

	for (i = 0; i < batch->count; i++) {
		struct queue_file *file = &batch->files[i];

		if (file->linked_path == NULL)
			continue;
		unlink(file->linked_path);
		free(file->linked_path);
		file->linked_path = NULL;
	}
	queue_fsync_dir(batch->dir);
}

int queue_batch_commit(struct queue_batch *batch)
{
	int saved;
	size_t i;

	if (sync_staged(batch) != 0)
		return -1;
	for (i = 0; i < batch->count; i++) {
		struct queue_file *file = &batch->files[i];

		if (link_file(file, batch->dir, file->id) != 0)
			goto fail;
	}
	if (queue_fsync_dir(batch->dir) != 0)
		goto fail;
	for (i = 0; i < batch->count; i++)
		finish_commit(&batch->files[i]);
	return 0;

fail:
	saved = errno;
	take_back(batch);
	errno = saved;
	return -1;
}

/* Remove every file that is not committed, and empty the batch. */
void queue_batch_reset(struct queue_batch *batch)
{
	size_t i;

	for (i = 0; i < batch->count; i++)
		queue_file_abort(&batch->files[i]);
	batch->count = 0;
}

void queue_batch_free(struct queue_batch *batch)
{
	queue_batch_reset(batch);
	free(batch->files);
	memset(batch, 0, sizeof(*batch));
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

/* Read a whole regular file. Anything else fails with EINVAL: without
 * O_NONBLOCK, opening a FIFO that another account put into a queue
 * directory would block the reader for good. */
int queue_read_file(const char *path, size_t max_size, char **data,
		    size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct strbuf buf;
	struct stat st;
	char chunk[65536];
	ssize_t got;
	int saved;

	*data = NULL;
	*len = 0;
	if (fd < 0)
		return -1;
	strbuf_init(&buf);
	if (fstat(fd, &st) != 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
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
