/*
 * qrec: parse and write the version/header/body/end shape of queue files;
 * see qrec.h.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qrec.h"
#include "queue_file.h"
#include "xalloc.h"

#define QREC_MAX_FIELDS	64

/* Return the line at *offset (without its '\n') and advance past it. */
static bool next_line(char *data, size_t len, size_t *offset, char **line,
		      size_t *line_len)
{
	char *start = data + *offset;
	char *newline;

	if (*offset >= len)
		return false;
	newline = memchr(start, '\n', len - *offset);
	if (newline == NULL)
		return false;
	*line = start;
	*line_len = (size_t)(newline - start);
	*offset += *line_len + 1;
	return true;
}

static bool valid_field_name(const char *name, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!(islower((unsigned char)c) || isdigit((unsigned char)c)
		      || c == '-'))
			return false;
	}
	return true;
}

static int parse_end_record(char *data, size_t len, struct qrec *rec,
			    size_t *body_end, struct strbuf *error)
{
	char *last;
	char *end;

	if (len == 0 || data[len - 1] != '\n') {
		strbuf_puts(error, "file does not end with a complete line "
			    "(torn file)");
		return -1;
	}
	data[len - 1] = '\0';
	last = strrchr(data, '\n');
	last = last == NULL ? data : last + 1;
	data[len - 1] = '\n';
	if (strncmp(last, "end ", 4) != 0 || !isdigit((unsigned char)last[4])) {
		strbuf_puts(error, "missing end record (torn file)");
		return -1;
	}
	errno = 0;
	rec->end_count = strtoull(last + 4, &end, 10);
	if (errno != 0 || *end != '\n') {
		strbuf_puts(error, "invalid end record");
		return -1;
	}
	*body_end = (size_t)(last - data);
	return 0;
}

static int parse_version(char *line, size_t len, const char *kind,
			 int version, struct strbuf *error)
{
	char expected[64];

	snprintf(expected, sizeof(expected), "tlsrptd-%s %d", kind, version);
	if (len != strlen(expected) || memcmp(line, expected, len) != 0) {
		strbuf_printf(error, "invalid format version line \"%.*s\"; "
			      "expected \"%s\"", (int)(len > 64 ? 64 : len),
			      line, expected);
		return -1;
	}
	return 0;
}

static int parse_field(struct qrec *rec, char *line, size_t len,
		       struct strbuf *error)
{
	char *colon = memchr(line, ':', len);
	struct qrec_field *field;

	if (colon == NULL || colon + 1 >= line + len || colon[1] != ' '
	    || !valid_field_name(line, (size_t)(colon - line))) {
		strbuf_printf(error, "invalid header line \"%.*s\"",
			      (int)(len > 80 ? 80 : len), line);
		return -1;
	}
	if (rec->field_count >= QREC_MAX_FIELDS) {
		strbuf_printf(error, "more than %d header lines",
			      QREC_MAX_FIELDS);
		return -1;
	}
	*colon = '\0';
	line[len] = '\0';
	field = &rec->fields[rec->field_count++];
	field->name = line;
	field->value = colon + 2;
	return 0;
}

int qrec_parse(char *data, size_t len, const char *kind, int version,
	       struct qrec *rec, struct strbuf *error)
{
	size_t offset = 0;
	size_t body_end;
	size_t line_len;
	char *line;

	memset(rec, 0, sizeof(*rec));
	rec->data = data;
	rec->fields = xcalloc(QREC_MAX_FIELDS, sizeof(*rec->fields));
	if (memchr(data, '\0', len) != NULL) {
		strbuf_puts(error, "NUL byte in file");
		return -1;
	}
	if (parse_end_record(data, len, rec, &body_end, error) != 0)
		return -1;
	if (!next_line(data, body_end, &offset, &line, &line_len)
	    || parse_version(line, line_len, kind, version, error) != 0) {
		if (error->len == 0)
			strbuf_puts(error, "missing format version line");
		return -1;
	}
	for (;;) {
		if (!next_line(data, body_end, &offset, &line, &line_len)) {
			strbuf_puts(error, "missing blank line after header");
			return -1;
		}
		if (line_len == 0)
			break;
		if (parse_field(rec, line, line_len, error) != 0)
			return -1;
	}
	rec->body = data + offset;
	rec->body_len = body_end - offset;
	return 0;
}

int qrec_read(const char *path, size_t max_size, const char *kind,
	      int version, struct qrec *rec, struct strbuf *error)
{
	char *data;
	size_t len;

	memset(rec, 0, sizeof(*rec));
	if (queue_read_file(path, max_size, &data, &len) != 0) {
		strbuf_printf(error, "cannot read %s: %s", path,
			      errno == EFBIG ? "file is larger than allowed"
			      : errno == EINVAL ? "not a regular file"
			      : strerror(errno));
		return -1;
	}
	return qrec_parse(data, len, kind, version, rec, error);
}

void qrec_free(struct qrec *rec)
{
	free(rec->data);
	free(rec->fields);
	memset(rec, 0, sizeof(*rec));
}

const char *qrec_get(const struct qrec *rec, const char *name)
{
	size_t i;

	for (i = 0; i < rec->field_count; i++)
		if (strcmp(rec->fields[i].name, name) == 0)
			return rec->fields[i].value;
	return NULL;
}

bool qrec_next_line(const struct qrec *rec, size_t *offset, char **line,
		    size_t *len)
{
	return next_line(rec->body, rec->body_len, offset, line, len);
}

void qrec_write_version(FILE *fp, const char *kind, int version)
{
	fprintf(fp, "tlsrptd-%s %d\n", kind, version);
}

void qrec_write_field(FILE *fp, const char *name, const char *value)
{
	fprintf(fp, "%s: ", name);
	for (; *value != '\0'; value++) {
		unsigned char c = (unsigned char)*value;

		fputc(c < 0x20 || c == 0x7f ? ' ' : c, fp);
	}
	fputc('\n', fp);
}

void qrec_write_body_start(FILE *fp)
{
	fputc('\n', fp);
}

void qrec_write_end(FILE *fp, unsigned long long count)
{
	fprintf(fp, "end %llu\n", count);
}
