/*
 * batch_file: write, read and recover batch files; see batch_file.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch_file.h"
#include "config.h"
#include "msg.h"
#include "qrec.h"
#include "utc_time.h"
#include "xalloc.h"

int batch_writer_open(struct batch_writer *batch, const char *owner)
{
	char now[UTC_TIME_LEN + 1];

	memset(batch, 0, sizeof(*batch));
	if (queue_file_create(&batch->file, owner) != 0)
		return -1;
	batch->opened = utc_now();
	utc_time_format(batch->opened, now);
	qrec_write_version(batch->file.fp, BATCH_KIND, BATCH_VERSION);
	qrec_write_field(batch->file.fp, "created", now);
	qrec_write_field(batch->file.fp, "host", config_str("myhostname"));
	qrec_write_body_start(batch->file.fp);
	return batch_writer_flush(batch);
}

int batch_writer_append(struct batch_writer *batch, time_t received,
			const char *json, size_t len)
{
	if (memchr(json, '\n', len) != NULL) {
		errno = EINVAL;
		return -1;
	}
	if (batch->stamp[0] == '\0' || received != batch->stamp_time) {
		utc_time_format(received, batch->stamp);
		batch->stamp_time = received;
	}
	fputs(batch->stamp, batch->file.fp);
	fputc(' ', batch->file.fp);
	fwrite(json, 1, len, batch->file.fp);
	fputc('\n', batch->file.fp);
	batch->count++;
	return ferror(batch->file.fp) ? -1 : 0;
}

int batch_writer_flush(struct batch_writer *batch)
{
	return fflush(batch->file.fp) == 0 ? 0 : -1;
}

int batch_writer_commit(struct batch_writer *batch)
{
	qrec_write_end(batch->file.fp, batch->count);
	return queue_file_commit(&batch->file, QUEUE_INCOMING, NULL);
}

void batch_writer_abort(struct batch_writer *batch)
{
	queue_file_abort(&batch->file);
}

/* The receive time of the last line parsed, with its value. The lines of
 * a batch share few distinct seconds, so most of them skip timegm(). */
struct time_cache {
	char text[UTC_TIME_LEN];
	time_t value;
	bool filled;
};

/* Parse the receive time at the start of line into *received. */
static int parse_receive_time(const char *line, struct time_cache *cache,
			      time_t *received)
{
	char when[UTC_TIME_LEN + 1];

	if (cache->filled && memcmp(cache->text, line, UTC_TIME_LEN) == 0) {
		*received = cache->value;
		return 0;
	}
	memcpy(when, line, UTC_TIME_LEN);
	when[UTC_TIME_LEN] = '\0';
	if (utc_time_parse(when, received) != 0)
		return -1;
	memcpy(cache->text, line, UTC_TIME_LEN);
	cache->value = *received;
	cache->filled = true;
	return 0;
}

/* Split "TIME JSON" into its parts; return -1 if the line is malformed. */
static int split_line(char *line, size_t len, struct time_cache *cache,
		      time_t *received, char **json, size_t *json_len)
{
	if (len < UTC_TIME_LEN + 2 || line[UTC_TIME_LEN] != ' ')
		return -1;
	if (parse_receive_time(line, cache, received) != 0)
		return -1;
	*json = line + UTC_TIME_LEN + 1;
	*json_len = len - UTC_TIME_LEN - 1;
	return 0;
}

int batch_read(const char *path, batch_visitor visit, void *context,
	       struct strbuf *error)
{
	struct time_cache cache = {.filled = false};
	struct qrec rec;
	unsigned long long lines = 0;
	size_t offset = 0;
	size_t len;
	char *line;
	int status = 0;

	if (qrec_read(path, BATCH_MAX_FILE, BATCH_KIND, BATCH_VERSION, &rec,
		      error) != 0) {
		qrec_free(&rec);
		return -1;
	}

	/* Check the whole file before the first callback, so that a torn or
	 * damaged batch is rejected as a unit. */
	while (qrec_next_line(&rec, &offset, &line, &len)) {
		time_t received;
		char *json;
		size_t json_len;

		if (split_line(line, len, &cache, &received, &json,
			       &json_len) != 0) {
			strbuf_printf(error, "malformed batch line %llu",
				      lines + 1);
			qrec_free(&rec);
			return -1;
		}
		lines++;
	}
	if (lines != rec.end_count) {
		strbuf_printf(error, "end record counts %llu lines, file has "
			      "%llu", rec.end_count, lines);
		qrec_free(&rec);
		return -1;
	}
	offset = 0;
	while (status == 0 && qrec_next_line(&rec, &offset, &line, &len)) {
		time_t received;
		char *json;
		size_t json_len;

		if (split_line(line, len, &cache, &received, &json,
			       &json_len) != 0)
			msg_panic("batch line changed after it was checked");
		json[json_len] = '\0';
		status = visit(received, json, json_len, context);
	}
	qrec_free(&rec);
	return status;
}

/* Write data to a new file at path and fsync it. */
static int write_new(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
				O_NOFOLLOW, 0640);
	size_t done = 0;
	int saved;

	if (fd < 0)
		return -1;
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		done += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto fail;
	return close(fd);

fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/*
 * Replace the file at path with data. On a full disk, truncating the file
 * and writing it again could lose the only copy, so the new content goes
 * to "<path>.repair", is fsync'ed, and is renamed over path. A
 * "<path>.repair" that a crash left behind is overwritten by the next
 * repair of path. Returns 0, or -1 with errno set and path unchanged.
 */
static int replace_file(const char *path, const char *data, size_t len)
{
	char *repair = xasprintf("%s.repair", path);
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int status;
	int saved;

	status = write_new(repair, data, len);
	if (status == 0)
		status = rename(repair, path);
	saved = errno;
	if (status != 0)
		unlink(repair);

	/* The new name must be durable before the file is linked elsewhere:
	 * after a crash the old content would otherwise come back. */
	if (status == 0) {
		if (slash != NULL)
			*slash = '\0';
		status = queue_fsync_dir(slash != NULL ? dir : ".");
		saved = errno;
	}
	free(repair);
	free(dir);
	errno = saved;
	return status;
}

int batch_recover(const char *tmp_path, unsigned long long *kept,
		  unsigned long long *dropped, struct strbuf *error)
{
	struct time_cache cache = {.filled = false};
	char *data;
	size_t len;
	size_t offset;
	size_t header_end;
	char *blank;
	struct strbuf out;
	int status;

	*kept = *dropped = 0;
	if (queue_read_file(tmp_path, BATCH_MAX_FILE, &data, &len) != 0) {
		strbuf_printf(error, "cannot read %s: %s", tmp_path,
			      strerror(errno));
		return -1;
	}

	/* The header ends at the first blank line; without one, the file
	 * was cut before any datagram was written. */
	blank = memmem(data, len, "\n\n", 2);
	if (blank == NULL) {
		free(data);
		return 1;
	}
	header_end = (size_t)(blank - data) + 2;
	strbuf_init(&out);
	strbuf_append(&out, data, header_end);
	for (offset = header_end; offset < len;) {
		char *line = data + offset;
		char *newline = memchr(line, '\n', len - offset);
		size_t line_len;
		time_t received;
		char *json;
		size_t json_len;

		/* A torn last line is a datagram cut short, or an end record
		 * cut short, which is not counted. */
		if (newline == NULL) {
			if (strncmp(line, "end", len - offset < 3 ? len - offset
								 : 3) != 0)
				(*dropped)++;
			break;
		}
		line_len = (size_t)(newline - line);
		offset += line_len + 1;
		if (strncmp(line, "end ", 4) == 0)
			break;	/* a complete file that was not yet linked */
		/* batch_read() rejects a whole file for one NUL byte, so a
		 * line with one, such as zeros that an operating-system crash
		 * left, is dropped rather than kept. */
		if (memchr(line, '\0', line_len) != NULL
		    || split_line(line, line_len, &cache, &received, &json,
				  &json_len) != 0) {
			(*dropped)++;
			continue;
		}
		strbuf_append(&out, line, line_len + 1);
		(*kept)++;
	}
	strbuf_printf(&out, "end %llu\n", *kept);
	status = replace_file(tmp_path, out.data, out.len);
	if (status != 0)
		strbuf_printf(error, "cannot write the repaired copy of %s: %s",
			      tmp_path, strerror(errno));
	strbuf_free(&out);
	free(data);
	return status;
}
