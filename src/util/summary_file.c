/*
 * summary_file: write and read day summary files; see summary_file.h.
 *
 * The stream reader reads the file twice. The first pass checks every
 * line, as summary_read() does, and notes where each sorted run starts,
 * so that no report is built from a file that turns out to be bad. The
 * second pass merges the runs: each run has its own read buffer and its
 * head line parsed, and the smallest (domain, record) key among the heads
 * is the next group. Memory is one buffer and one head per run plus the
 * lines of one group.
 *
 * A file with more runs than limits->merge_runs is sorted first: chunks
 * of about limits->sort_chunk octets are sorted in memory and written to
 * an unlinked scratch file, one run per chunk, and those runs are merged.
 * Every chunk but the last has at least sort_chunk octets, so with the
 * defaults a file of SUMMARY_MAX_FILE octets makes at most 65 chunks, and
 * one merge pass with 65 read buffers is enough. Sorting keeps one chunk
 * with its keys and an index in memory, a small multiple of sort_chunk.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "datagram.h"
#include "domain.h"
#include "msg.h"
#include "qrec.h"
#include "summary_file.h"
#include "utc_time.h"
#include "xalloc.h"

int summary_writer_open(struct summary_writer *summary, const char *owner,
			const char *day, const char *kind)
{
	char now[UTC_TIME_LEN + 1];

	memset(summary, 0, sizeof(*summary));
	if (queue_file_create(&summary->file, owner) != 0)
		return -1;
	utc_time_format(utc_now(), now);
	qrec_write_version(summary->file.fp, SUMMARY_KIND, SUMMARY_VERSION);
	qrec_write_field(summary->file.fp, "day", day);
	qrec_write_field(summary->file.fp, "kind", kind);
	qrec_write_field(summary->file.fp, "created", now);
	qrec_write_field(summary->file.fp, "host", config_str("myhostname"));
	qrec_write_body_start(summary->file.fp);
	return 0;
}

/* Build the common part of a counter line; policy_json is our own text. */
static cJSON *counter_object(const char *domain, const char *record,
			     const char *policy_json)
{
	cJSON *line = cJSON_CreateObject();
	cJSON *policy = cJSON_Parse(policy_json);

	if (line == NULL || policy == NULL)
		msg_panic("summary: cannot build a counter line from policy "
			  "\"%.200s\"", policy_json);
	cJSON_AddStringToObject(line, "domain", domain);
	cJSON_AddStringToObject(line, "record", record);
	cJSON_AddItemToObject(line, "policy", policy);
	return line;
}

static int write_line(struct summary_writer *summary, const char *type,
		      cJSON *line)
{
	char *text = cJSON_PrintUnformatted(line);

	cJSON_Delete(line);
	if (text == NULL)
		msg_fatal("out of memory printing a summary line");
	fprintf(summary->file.fp, "%s %s\n", type, text);
	cJSON_free(text);
	summary->count++;
	return ferror(summary->file.fp) ? -1 : 0;
}

int summary_writer_add_policy(struct summary_writer *summary,
			      const char *domain, const char *record,
			      const char *policy_json,
			      unsigned long long success,
			      unsigned long long failure)
{
	cJSON *line = counter_object(domain, record, policy_json);

	cJSON_AddNumberToObject(line, "success", (double)success);
	cJSON_AddNumberToObject(line, "failure", (double)failure);
	return write_line(summary, "policy", line);
}

int summary_writer_add_detail(struct summary_writer *summary,
			      const char *domain, const char *record,
			      const char *policy_json, const char *detail_json,
			      unsigned long long count)
{
	cJSON *line = counter_object(domain, record, policy_json);
	cJSON *detail = cJSON_Parse(detail_json);

	if (detail == NULL)
		msg_panic("summary: invalid detail \"%.200s\"", detail_json);
	cJSON_AddItemToObject(line, "detail", detail);
	cJSON_AddNumberToObject(line, "count", (double)count);
	return write_line(summary, "detail", line);
}

int summary_writer_commit(struct summary_writer *summary, const char *dir,
			  const char *name)
{
	qrec_write_end(summary->file.fp, summary->count);
	return queue_file_commit(&summary->file, dir, name);
}

void summary_writer_abort(struct summary_writer *summary)
{
	queue_file_abort(&summary->file);
}

static const char *get_text(const cJSON *object, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);

	return cJSON_IsString(item) ? item->valuestring : NULL;
}

static int get_count(const cJSON *object, const char *name,
		     unsigned long long *count)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
	double value;

	if (!cJSON_IsNumber(item))
		return -1;
	value = item->valuedouble;
	if (!isfinite(value) || floor(value) != value || value < 0
	    || value > (double)SUMMARY_MAX_COUNT)
		return -1;
	*count = (unsigned long long)value;
	return 0;
}

static bool is_string_array(const cJSON *item)
{
	const cJSON *entry;

	if (!cJSON_IsArray(item))
		return false;
	cJSON_ArrayForEach(entry, item)
		if (!cJSON_IsString(entry))
			return false;
	return true;
}

/* Check the report-shaped policy object that the reporter will copy. */
static const char *check_policy(const cJSON *policy)
{
	const char *type = get_text(policy, "policy-type");

	if (!cJSON_IsObject(policy))
		return "policy is not an object";
	if (type == NULL || (strcmp(type, "tlsa") != 0
			     && strcmp(type, "sts") != 0
			     && strcmp(type, "no-policy-found") != 0))
		return "invalid policy-type";
	if (get_text(policy, "policy-domain") == NULL)
		return "missing policy-domain";
	if (!is_string_array(cJSON_GetObjectItemCaseSensitive(policy,
							      "policy-string")))
		return "policy-string is not an array of strings";
	if (!is_string_array(cJSON_GetObjectItemCaseSensitive(policy,
							      "mx-host")))
		return "mx-host is not an array of strings";
	return NULL;
}

static const char *check_detail(const cJSON *detail)
{
	const cJSON *item;

	if (!cJSON_IsObject(detail))
		return "detail is not an object";
	if (get_text(detail, "result-type") == NULL)
		return "missing result-type";
	cJSON_ArrayForEach(item, detail)
		if (!cJSON_IsString(item))
			return "detail member is not a string";
	return NULL;
}

static const char *parse_counter(char *line, size_t len,
				 struct summary_counter *counter)
{
	char *json;

	if (len > 7 && strncmp(line, "policy ", 7) == 0) {
		json = line + 7;
	} else if (len > 7 && strncmp(line, "detail ", 7) == 0) {
		json = line + 7;
		counter->is_detail = true;
	} else {
		return "line is neither \"policy\" nor \"detail\"";
	}
	line[len] = '\0';
	counter->tree = cJSON_Parse(json);
	if (!cJSON_IsObject(counter->tree))
		return "invalid JSON";
	counter->domain = get_text(counter->tree, "domain");
	counter->record = get_text(counter->tree, "record");
	counter->policy = cJSON_GetObjectItemCaseSensitive(counter->tree,
							   "policy");
	if (counter->domain == NULL || counter->record == NULL)
		return "missing domain or record";
	if (check_policy(counter->policy) != NULL)
		return check_policy(counter->policy);
	if (!counter->is_detail) {
		if (get_count(counter->tree, "success", &counter->success) != 0
		    || get_count(counter->tree, "failure",
				 &counter->failure) != 0)
			return "invalid success or failure count";
		return NULL;
	}
	counter->detail = cJSON_GetObjectItemCaseSensitive(counter->tree,
							   "detail");
	if (check_detail(counter->detail) != NULL)
		return check_detail(counter->detail);
	if (get_count(counter->tree, "count", &counter->count) != 0)
		return "invalid count";
	return NULL;
}

static int copy_header(struct qrec *rec, struct summary *summary,
		       struct strbuf *error)
{
	const char *day = qrec_get(rec, "day");
	const char *kind = qrec_get(rec, "kind");
	time_t start;

	if (day == NULL || utc_day_parse(day, &start) != 0) {
		strbuf_puts(error, "missing or invalid day header");
		return -1;
	}
	if (kind == NULL || (strcmp(kind, SUMMARY_FINAL) != 0
			     && strcmp(kind, SUMMARY_PREVIEW) != 0
			     && strcmp(kind, SUMMARY_SUPPLEMENT) != 0)) {
		strbuf_puts(error, "missing or invalid kind header");
		return -1;
	}
	summary->day = xstrdup(day);
	summary->kind = xstrdup(kind);
	summary->created = xstrdup(qrec_get(rec, "created") ?
				   qrec_get(rec, "created") : "");
	summary->host = xstrdup(qrec_get(rec, "host") ?
				qrec_get(rec, "host") : "");
	return 0;
}

int summary_read(const char *path, struct summary *summary,
		 struct strbuf *error)
{
	struct qrec rec;
	size_t offset = 0;
	size_t len;
	char *line;
	int status = 0;

	memset(summary, 0, sizeof(*summary));
	if (qrec_read(path, SUMMARY_MAX_FILE, SUMMARY_KIND, SUMMARY_VERSION,
		      &rec, error) != 0
	    || copy_header(&rec, summary, error) != 0) {
		qrec_free(&rec);
		return -1;
	}
	while (status == 0 && qrec_next_line(&rec, &offset, &line, &len)) {
		struct summary_counter *counter;
		const char *problem;

		/* The stream reader rejects longer lines, and both readers
		 * must accept the same files. */
		if (len > SUMMARY_MAX_LINE) {
			strbuf_printf(error, "line %zu is longer than %d octets",
				      summary->counter_count + 1,
				      SUMMARY_MAX_LINE);
			status = -1;
			break;
		}
		summary->counters = xreallocarray(summary->counters,
						  summary->counter_count + 1,
						  sizeof(*summary->counters));
		counter = &summary->counters[summary->counter_count++];
		memset(counter, 0, sizeof(*counter));
		problem = parse_counter(line, len, counter);
		if (problem != NULL) {
			strbuf_printf(error, "line %zu: %s",
				      summary->counter_count, problem);
			status = -1;
		}
	}
	if (status == 0 && summary->counter_count != rec.end_count) {
		strbuf_printf(error, "end record counts %llu lines, file has "
			      "%zu", rec.end_count, summary->counter_count);
		status = -1;
	}
	qrec_free(&rec);
	if (status != 0)
		summary_free(summary);
	return status;
}

void summary_free(struct summary *summary)
{
	size_t i;

	for (i = 0; i < summary->counter_count; i++)
		cJSON_Delete(summary->counters[i].tree);
	free(summary->counters);
	free(summary->day);
	free(summary->kind);
	free(summary->created);
	free(summary->host);
	memset(summary, 0, sizeof(*summary));
}

/*
 * The stream reader.
 */

#define READ_BLOCK		65536
#define SUMMARY_MAX_HEADER	65536	/* octets before the blank line */

/* The part [next, end) of a file, read line by line with pread(). */
struct line_reader {
	int fd;
	off_t next;		/* file offset of the first byte not in buf */
	off_t end;
	struct strbuf buf;	/* bytes read; the unread ones start at pos */
	size_t pos;
};

/* One sorted run being merged, with its first unused line parsed. */
struct merge_run {
	struct line_reader reader;
	struct summary_counter head;	/* head.tree is NULL at the end */
	char *domain;			/* group key of head */
	char *invalid_reason;
};

struct summary_stream_state {
	int fd;				/* the summary file */
	int scratch_fd;			/* sorted chunks, or -1 */
	struct merge_run *runs;
	size_t run_count;
	unsigned long long lines_merged;
	struct summary_counter *group;	/* lines of the last group */
	size_t group_count;
	size_t group_cap;
	char *group_domain;
	char *group_reason;
	char *group_record;
};

/* Start offsets of the sorted runs, found by the first pass. Only the
 * first max + 1 are kept, because with more the file is sorted anyway. */
struct run_starts {
	off_t *offsets;
	size_t count;
	size_t max;
	char *last_domain;		/* key of the previous line */
	char *last_record;
};

static void reader_init(struct line_reader *reader, int fd, off_t start,
			off_t end)
{
	reader->fd = fd;
	reader->next = start;
	reader->end = end;
	strbuf_init(&reader->buf);
	reader->pos = 0;
}

/* The file offset of the next line. */
static off_t reader_offset(const struct line_reader *reader)
{
	return reader->next - (off_t)(reader->buf.len - reader->pos);
}

static int reader_fill(struct line_reader *reader, struct strbuf *error)
{
	size_t unread = reader->buf.len - reader->pos;
	size_t want = READ_BLOCK;
	ssize_t got;

	memmove(reader->buf.data, reader->buf.data + reader->pos, unread);
	strbuf_truncate(&reader->buf, unread);
	reader->pos = 0;
	if ((off_t)want > reader->end - reader->next)
		want = (size_t)(reader->end - reader->next);
	strbuf_reserve(&reader->buf, want);
	do
		got = pread(reader->fd, reader->buf.data + reader->buf.len,
			    want, reader->next);
	while (got < 0 && errno == EINTR);
	if (got <= 0) {
		strbuf_printf(error, "read error at offset %lld: %s",
			      (long long)reader->next, got < 0
			      ? strerror(errno) : "the file became shorter");
		return -1;
	}
	reader->buf.len += (size_t)got;
	reader->buf.data[reader->buf.len] = '\0';
	reader->next += got;
	return 0;
}

/*
 * Return the next line in *line, its '\n' replaced by NUL, and its length.
 * Returns 1, 0 at the end of the part, or -1 with error set: a read
 * error, a line longer than SUMMARY_MAX_LINE, or a last line without '\n'.
 */
static int reader_next(struct line_reader *reader, char **line, size_t *len,
		       struct strbuf *error)
{
	for (;;) {
		char *start = reader->buf.data + reader->pos;
		size_t unread = reader->buf.len - reader->pos;
		char *newline = memchr(start, '\n', unread);

		if (newline != NULL && newline - start <= SUMMARY_MAX_LINE) {
			*newline = '\0';
			*line = start;
			*len = (size_t)(newline - start);
			reader->pos += *len + 1;
			return 1;
		}
		if (newline != NULL || unread > SUMMARY_MAX_LINE) {
			strbuf_printf(error, "line at offset %lld is longer "
				      "than %d octets",
				      (long long)reader_offset(reader),
				      SUMMARY_MAX_LINE);
			return -1;
		}
		if (reader->next >= reader->end) {
			if (unread == 0)
				return 0;
			strbuf_puts(error, "file does not end with a complete "
				    "line (torn file)");
			return -1;
		}
		if (reader_fill(reader, error) != 0)
			return -1;
	}
}

static void reader_free(struct line_reader *reader)
{
	strbuf_free(&reader->buf);
}

/* The group key of a domain: normalised, or as written with *reason set
 * when it is invalid. Both strings belong to the caller. */
static char *group_domain(const char *domain, char **reason)
{
	struct strbuf why;
	char *normalised;

	strbuf_init(&why);
	if (domain_normalise(domain, false, &normalised, &why) == 0) {
		strbuf_free(&why);
		*reason = NULL;
		return normalised;
	}
	*reason = strbuf_detach(&why, NULL);
	return xstrdup(domain);
}

static int compare_keys(const char *domain_a, const char *record_a,
			const char *domain_b, const char *record_b)
{
	int order = strcmp(domain_a, domain_b);

	return order != 0 ? order : strcmp(record_a, record_b);
}

/* Parse one body line into counter, which then owns a tree. */
static const char *parse_line(char *line, size_t len,
			      struct summary_counter *counter)
{
	memset(counter, 0, sizeof(*counter));
	if (strlen(line) != len)
		return "NUL byte in line";
	return parse_counter(line, len, counter);
}

/* Read the header through its blank line and parse it with qrec_parse(),
 * as a file with an empty body. */
static int read_header(struct line_reader *reader,
		       struct summary_stream *stream, struct strbuf *error)
{
	struct summary header;
	struct strbuf text;
	struct qrec rec;
	char *line;
	size_t len;
	size_t text_len;
	int status;

	strbuf_init(&text);
	do {
		status = reader_next(reader, &line, &len, error);
		if (status == 0)
			strbuf_puts(error, "missing blank line after header");
		if (status == 1 && text.len + len >= SUMMARY_MAX_HEADER) {
			strbuf_printf(error, "header longer than %d octets",
				      SUMMARY_MAX_HEADER);
			status = -1;
		}
		if (status != 1) {
			strbuf_free(&text);
			return -1;
		}
		strbuf_append(&text, line, len);
		strbuf_putc(&text, '\n');
	} while (len > 0);
	strbuf_puts(&text, "end 0\n");

	memset(&header, 0, sizeof(header));
	line = strbuf_detach(&text, &text_len);
	status = qrec_parse(line, text_len, SUMMARY_KIND, SUMMARY_VERSION, &rec,
			    error);
	if (status == 0)
		status = copy_header(&rec, &header, error);
	qrec_free(&rec);
	stream->day = header.day;
	stream->kind = header.kind;
	stream->created = header.created;
	stream->host = header.host;
	return status;
}

static int parse_end(const char *line, unsigned long long *count)
{
	char *end;

	if (strncmp(line, "end ", 4) != 0 || !isdigit((unsigned char)line[4]))
		return -1;
	errno = 0;
	*count = strtoull(line + 4, &end, 10);
	return errno == 0 && *end == '\0' ? 0 : -1;
}

/* Note a line's key; a key smaller than the one before starts a run. */
static void note_key(struct run_starts *starts, off_t offset, char *domain,
		     const char *record)
{
	bool new_run = starts->last_domain == NULL
		|| compare_keys(domain, record, starts->last_domain,
				starts->last_record) < 0;

	if (new_run) {
		if (starts->count <= starts->max) {
			starts->offsets = xreallocarray(
				starts->offsets, starts->count + 1,
				sizeof(*starts->offsets));
			starts->offsets[starts->count] = offset;
		}
		starts->count++;
	}
	free(starts->last_domain);
	free(starts->last_record);
	starts->last_domain = domain;
	starts->last_record = xstrdup(record);
}

/* Read the end record at the current line and make sure nothing
 * follows it. */
static int check_end(struct line_reader *reader, const char *line,
		     size_t len, unsigned long long lines,
		     struct summary_stream *stream, struct strbuf *error)
{
	char *extra;
	size_t extra_len;
	int status;

	/* summary_read() rejects a NUL byte anywhere, so this reader must
	 * not stop at one in the end record either. */
	if (strlen(line) != len ||
	    parse_end(line, &stream->counter_count) != 0) {
		strbuf_puts(error, "invalid end record");
		return -1;
	}
	status = reader_next(reader, &extra, &extra_len, error);
	if (status != 0) {
		if (status > 0)
			strbuf_puts(error, "data after the end record");
		return -1;
	}
	if (lines != stream->counter_count) {
		strbuf_printf(error, "end record counts %llu lines, file has "
			      "%llu", stream->counter_count, lines);
		return -1;
	}
	return 0;
}

/* The first pass: check every line and find the sorted runs. Sets
 * *body_end to the offset of the end record. */
static int check_body(struct line_reader *reader,
		      struct summary_stream *stream, struct run_starts *starts,
		      off_t *body_end, struct strbuf *error)
{
	unsigned long long lines = 0;

	for (;;) {
		off_t offset = reader_offset(reader);
		struct summary_counter counter;
		const char *problem;
		char *reason;
		char *line;
		size_t len;
		int status = reader_next(reader, &line, &len, error);

		if (status == 0)
			strbuf_puts(error, "missing end record (torn file)");
		if (status <= 0)
			return -1;
		if (strncmp(line, "end ", 4) == 0) {
			*body_end = offset;
			return check_end(reader, line, len, lines, stream,
					 error);
		}
		lines++;
		problem = parse_line(line, len, &counter);
		if (problem != NULL) {
			strbuf_printf(error, "line %llu: %s", lines, problem);
			cJSON_Delete(counter.tree);
			return -1;
		}
		note_key(starts, offset, group_domain(counter.domain, &reason),
			 counter.record);
		free(reason);
		cJSON_Delete(counter.tree);
	}
}

static void add_run(struct summary_stream_state *state, int fd, off_t start,
		    off_t end)
{
	struct merge_run *run;

	state->runs = xreallocarray(state->runs, state->run_count + 1,
				    sizeof(*state->runs));
	run = &state->runs[state->run_count++];
	memset(run, 0, sizeof(*run));
	reader_init(&run->reader, fd, start, end);
}

/* One line of a chunk being sorted; the pointers are set just before
 * the sort, when the chunk's buffers no longer move. */
struct sort_line {
	size_t line;			/* offsets into the chunk's text */
	size_t len;
	size_t domain;			/* offsets into the chunk's keys */
	size_t record;
	const char *line_text;
	const char *domain_text;
	const char *record_text;
};

struct sort_chunk {
	struct strbuf text;		/* lines, each ending in '\n' */
	struct strbuf keys;		/* domain NUL record NUL, per line */
	struct sort_line *lines;
	size_t count;
	size_t cap;
};

static int compare_sort_lines(const void *left, const void *right)
{
	const struct sort_line *a = left;
	const struct sort_line *b = right;

	return compare_keys(a->domain_text, a->record_text, b->domain_text,
			    b->record_text);
}

static void chunk_add(struct sort_chunk *chunk, const char *line, size_t len,
		      const char *domain, const char *record)
{
	struct sort_line *entry;

	if (chunk->count == chunk->cap) {
		chunk->cap = chunk->cap ? 2 * chunk->cap : 1024;
		chunk->lines = xreallocarray(chunk->lines, chunk->cap,
					     sizeof(*chunk->lines));
	}
	entry = &chunk->lines[chunk->count++];
	entry->line = chunk->text.len;
	entry->len = len;
	strbuf_append(&chunk->text, line, len);
	strbuf_putc(&chunk->text, '\n');
	entry->domain = chunk->keys.len;
	strbuf_append(&chunk->keys, domain, strlen(domain) + 1);
	entry->record = chunk->keys.len;
	strbuf_append(&chunk->keys, record, strlen(record) + 1);
}

/* Sort a chunk and append it to out as one run. */
static int chunk_flush(struct sort_chunk *chunk, FILE *out,
		       struct summary_stream_state *state)
{
	off_t start = ftello(out);
	size_t i;

	if (chunk->count == 0)
		return 0;
	for (i = 0; i < chunk->count; i++) {
		struct sort_line *entry = &chunk->lines[i];

		entry->line_text = chunk->text.data + entry->line;
		entry->domain_text = chunk->keys.data + entry->domain;
		entry->record_text = chunk->keys.data + entry->record;
	}
	qsort(chunk->lines, chunk->count, sizeof(*chunk->lines),
	      compare_sort_lines);
	for (i = 0; i < chunk->count; i++)
		fwrite(chunk->lines[i].line_text, 1, chunk->lines[i].len + 1,
		       out);
	if (fflush(out) != 0 || ferror(out))
		return -1;
	add_run(state, state->scratch_fd, start, ftello(out));
	strbuf_reset(&chunk->text);
	strbuf_reset(&chunk->keys);
	chunk->count = 0;
	return 0;
}

static int open_scratch(const char *scratch_template, struct strbuf *error)
{
	char *path = xstrdup(scratch_template);
	int fd = mkstemp(path);

	if (fd < 0)
		strbuf_printf(error, "cannot create a scratch file %s for "
			      "sorting: %s", scratch_template, strerror(errno));
	else
		unlink(path);
	free(path);
	return fd;
}

/* Copy the body [start, end) into the scratch file as sorted chunks, and
 * make those chunks the runs to merge. */
static int sort_body(struct summary_stream_state *state, off_t start,
		     off_t end, const char *scratch_template,
		     size_t chunk_size, struct strbuf *error)
{
	struct line_reader reader;
	struct sort_chunk chunk;
	FILE *out = NULL;
	int status = 0;
	int copy;

	state->scratch_fd = open_scratch(scratch_template, error);
	if (state->scratch_fd < 0)
		return -1;
	copy = dup(state->scratch_fd);
	if (copy < 0 || (out = fdopen(copy, "w")) == NULL) {
		strbuf_printf(error, "cannot open the scratch file: %s",
			      strerror(errno));
		if (copy >= 0)
			close(copy);
		return -1;
	}
	memset(&chunk, 0, sizeof(chunk));
	strbuf_init(&chunk.text);
	strbuf_init(&chunk.keys);
	reader_init(&reader, state->fd, start, end);
	while (status == 0) {
		struct summary_counter counter;
		char *domain;
		char *reason;
		char *line;
		size_t len;

		status = reader_next(&reader, &line, &len, error);
		if (status <= 0)
			break;
		if (parse_line(line, len, &counter) != NULL) {
			strbuf_puts(error, "the file changed after it was "
				    "checked");
			cJSON_Delete(counter.tree);
			status = -1;
			break;
		}
		domain = group_domain(counter.domain, &reason);
		chunk_add(&chunk, line, len, domain, counter.record);
		free(domain);
		free(reason);
		cJSON_Delete(counter.tree);
		status = chunk.text.len >= chunk_size
			? chunk_flush(&chunk, out, state) : 0;
	}
	if (status == 0 && chunk_flush(&chunk, out, state) != 0)
		status = -1;
	if (fclose(out) != 0 && status == 0)
		status = -1;
	if (status != 0 && error->len == 0)
		strbuf_printf(error, "cannot write the scratch file: %s",
			      strerror(errno));
	reader_free(&reader);
	strbuf_free(&chunk.text);
	strbuf_free(&chunk.keys);
	free(chunk.lines);
	return status;
}

/*
 * Read the next line of a run into its head. previous_domain and
 * previous_record are the key of the line before, NULL for the first
 * line. A smaller key means that the file changed after the first pass.
 */
static int run_advance(struct merge_run *run, struct summary_stream_state
		       *state, const char *previous_domain,
		       const char *previous_record, struct strbuf *error)
{
	char *line;
	size_t len;
	int status;

	free(run->domain);
	free(run->invalid_reason);
	run->domain = NULL;
	run->invalid_reason = NULL;
	cJSON_Delete(run->head.tree);
	memset(&run->head, 0, sizeof(run->head));
	status = reader_next(&run->reader, &line, &len, error);
	if (status <= 0)
		return status;
	state->lines_merged++;
	if (parse_line(line, len, &run->head) != NULL) {
		cJSON_Delete(run->head.tree);
		memset(&run->head, 0, sizeof(run->head));
		strbuf_puts(error, "the file changed after it was checked");
		return -1;
	}
	run->domain = group_domain(run->head.domain, &run->invalid_reason);
	if (previous_domain != NULL
	    && compare_keys(run->domain, run->head.record, previous_domain,
			    previous_record) < 0) {
		strbuf_puts(error, "the file changed after it was checked: "
			    "lines out of order");
		return -1;
	}
	return 1;
}

static void free_group(struct summary_stream_state *state)
{
	size_t i;

	for (i = 0; i < state->group_count; i++)
		cJSON_Delete(state->group[i].tree);
	state->group_count = 0;
	free(state->group_domain);
	free(state->group_reason);
	free(state->group_record);
	state->group_domain = NULL;
	state->group_reason = NULL;
	state->group_record = NULL;
}

/* Move the head of a run into the current group. */
static void take_head(struct summary_stream_state *state,
		      struct merge_run *run)
{
	if (state->group_count == state->group_cap) {
		state->group_cap = state->group_cap ? 2 * state->group_cap : 16;
		state->group = xreallocarray(state->group, state->group_cap,
					     sizeof(*state->group));
	}
	state->group[state->group_count++] = run->head;
	memset(&run->head, 0, sizeof(run->head));
}

static void close_state(struct summary_stream_state *state)
{
	size_t i;

	free_group(state);
	free(state->group);
	for (i = 0; i < state->run_count; i++) {
		reader_free(&state->runs[i].reader);
		cJSON_Delete(state->runs[i].head.tree);
		free(state->runs[i].domain);
		free(state->runs[i].invalid_reason);
	}
	free(state->runs);
	if (state->scratch_fd >= 0)
		close(state->scratch_fd);
	if (state->fd >= 0)
		close(state->fd);
	free(state);
}

static void free_starts(struct run_starts *starts)
{
	free(starts->offsets);
	free(starts->last_domain);
	free(starts->last_record);
}

/* Open the file and run the first pass: header, lines, end record. */
static int open_checked(struct summary_stream *stream, const char *path,
			struct run_starts *starts, off_t *body_start,
			off_t *body_end, struct strbuf *error)
{
	struct summary_stream_state *state = stream->state;
	struct line_reader reader;
	struct stat st;
	int status;

	/* O_NONBLOCK: opening a FIFO must not block; it is refused below. */
	state->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (state->fd < 0 || fstat(state->fd, &st) != 0) {
		strbuf_printf(error, "cannot read %s: %s", path,
			      strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > SUMMARY_MAX_FILE) {
		strbuf_printf(error, "cannot read %s: %s", path,
			      S_ISREG(st.st_mode) ? "file is larger than "
			      "allowed" : "not a regular file");
		return -1;
	}
	reader_init(&reader, state->fd, 0, st.st_size);
	status = read_header(&reader, stream, error);
	*body_start = reader_offset(&reader);
	if (status == 0)
		status = check_body(&reader, stream, starts, body_end, error);
	reader_free(&reader);
	return status;
}

/* Read the first line of every run. */
static int start_runs(struct summary_stream_state *state,
		      struct strbuf *error)
{
	size_t i;

	for (i = 0; i < state->run_count; i++)
		if (run_advance(&state->runs[i], state, NULL, NULL, error) < 0)
			return -1;
	return 0;
}

int summary_stream_open(struct summary_stream *stream, const char *path,
			const char *scratch_template,
			const struct summary_stream_limits *limits,
			struct strbuf *error)
{
	static const struct summary_stream_limits defaults = {
		SUMMARY_MERGE_RUNS, SUMMARY_SORT_CHUNK
	};
	struct run_starts starts;
	off_t body_start = 0;
	off_t body_end = 0;
	size_t i;
	int status;

	if (limits == NULL)
		limits = &defaults;
	memset(stream, 0, sizeof(*stream));
	memset(&starts, 0, sizeof(starts));
	starts.max = limits->merge_runs;
	stream->state = xcalloc(1, sizeof(*stream->state));
	stream->state->fd = -1;
	stream->state->scratch_fd = -1;

	status = open_checked(stream, path, &starts, &body_start, &body_end,
			      error);
	stream->run_count = starts.count;
	if (status == 0 && starts.count > limits->merge_runs) {
		stream->sorted = true;
		status = sort_body(stream->state, body_start, body_end,
				   scratch_template, limits->sort_chunk, error);
	} else if (status == 0) {
		for (i = 0; i < starts.count; i++)
			add_run(stream->state, stream->state->fd,
				starts.offsets[i], i + 1 < starts.count
				? starts.offsets[i + 1] : body_end);
	}
	if (status == 0)
		status = start_runs(stream->state, error);
	free_starts(&starts);
	if (status != 0)
		summary_stream_close(stream);
	return status;
}

/* The run whose head has the smallest key, or NULL when all are done. */
static struct merge_run *smallest_head(struct summary_stream_state *state)
{
	struct merge_run *smallest = NULL;
	size_t i;

	for (i = 0; i < state->run_count; i++) {
		struct merge_run *run = &state->runs[i];

		if (run->head.tree == NULL)
			continue;
		if (smallest == NULL
		    || compare_keys(run->domain, run->head.record,
				    smallest->domain,
				    smallest->head.record) < 0)
			smallest = run;
	}
	return smallest;
}

int summary_stream_next(struct summary_stream *stream,
			struct summary_group *group, struct strbuf *error)
{
	struct summary_stream_state *state = stream->state;
	struct merge_run *smallest;
	size_t i;

	memset(group, 0, sizeof(*group));
	free_group(state);
	smallest = smallest_head(state);
	if (smallest == NULL) {
		if (state->lines_merged == stream->counter_count)
			return 0;
		strbuf_printf(error, "the file changed after it was checked: "
			      "%llu lines merged, %llu expected",
			      state->lines_merged, stream->counter_count);
		return -1;
	}
	state->group_domain = xstrdup(smallest->domain);
	state->group_reason = smallest->invalid_reason != NULL
		? xstrdup(smallest->invalid_reason) : NULL;
	state->group_record = xstrdup(smallest->head.record);

	/* Every run is sorted, so the group's lines are at each run's head. */
	for (i = 0; i < state->run_count; i++) {
		struct merge_run *run = &state->runs[i];

		while (run->head.tree != NULL
		       && compare_keys(run->domain, run->head.record,
				       state->group_domain,
				       state->group_record) == 0) {
			take_head(state, run);
			if (run_advance(run, state, state->group_domain,
					state->group_record, error) < 0)
				return -1;
		}
	}
	group->domain = state->group_domain;
	group->invalid_reason = state->group_reason;
	group->record = state->group_record;
	group->counters = state->group;
	group->counter_count = state->group_count;
	return 1;
}

void summary_stream_close(struct summary_stream *stream)
{
	if (stream->state != NULL)
		close_state(stream->state);
	free(stream->day);
	free(stream->kind);
	free(stream->created);
	free(stream->host);
	memset(stream, 0, sizeof(*stream));
}
