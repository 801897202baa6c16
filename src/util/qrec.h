/*
 * qrec: the common shape of every queue file format.
 *
 *	tlsrptd-<kind> <version>	format version line
 *	name: value			header fields, one per line
 *					a blank line
 *	...				body lines, meaning set by the kind
 *	end <count>			end record
 *
 * The end record makes a torn file detectable: a file whose last line is
 * not "end <count>" is rejected, and each consumer checks the count
 * against what it read (lines or bytes, as the kind defines). Header
 * names are lower case letters, digits and '-'; a value never contains a
 * line break (the writer replaces control characters with spaces).
 */
#ifndef TLSRPTD_QREC_H
#define TLSRPTD_QREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "strbuf.h"

struct qrec_field {
	const char *name;
	const char *value;
};

/* A parsed file. Every pointer points into data, which the qrec owns. */
struct qrec {
	char *data;
	struct qrec_field *fields;
	size_t field_count;
	char *body;		/* body lines, each ending in '\n' */
	size_t body_len;
	unsigned long long end_count;
};

int qrec_parse(char *data, size_t len, const char *kind, int version,
	       struct qrec *rec, struct strbuf *error);
int qrec_read(const char *path, size_t max_size, const char *kind,
	      int version, struct qrec *rec, struct strbuf *error);
void qrec_free(struct qrec *rec);
const char *qrec_get(const struct qrec *rec, const char *name);
bool qrec_next_line(const struct qrec *rec, size_t *offset, char **line,
		    size_t *len);

void qrec_write_version(FILE *fp, const char *kind, int version);
void qrec_write_field(FILE *fp, const char *name, const char *value);
void qrec_write_body_start(FILE *fp);
void qrec_write_end(FILE *fp, unsigned long long count);

#endif
