/*
 * fuzz_qrec: libFuzzer target for qrec_parse(), the common layer under
 * every queue file format.
 *
 * The kind is fixed as "batch" version 1, so the batch seeds serve here
 * too. A file that parses is walked the way consumers walk it, and what
 * qrec.h promises is checked, with an abort on a violation: header names
 * of lower-case letters, digits and '-', values without line breaks, a
 * body within the data, and body lines that cover the body exactly.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "qrec.h"
#include "strbuf.h"

static _Noreturn void broken(const char *problem)
{
	fprintf(stderr, "fuzz_qrec: %s\n", problem);
	abort();
}

static void check_fields(const struct qrec *rec)
{
	size_t i;
	const char *cursor;

	for (i = 0; i < rec->field_count; i++) {
		const struct qrec_field *field = &rec->fields[i];

		if (field->name[0] == '\0')
			broken("empty header name");
		for (cursor = field->name; *cursor != '\0'; cursor++)
			if (!islower((unsigned char)*cursor) &&
			    !isdigit((unsigned char)*cursor) && *cursor != '-')
				broken("invalid character in a header name");
		if (strchr(field->value, '\n') != NULL)
			broken("line break in a header value");
		if (qrec_get(rec, field->name) == NULL)
			broken("qrec_get() misses a header");
	}
}

static void check_body(const struct qrec *rec, size_t size)
{
	size_t offset = 0;
	size_t covered = 0;
	size_t len;
	char *line;

	if (rec->body < rec->data ||
	    rec->body + rec->body_len > rec->data + size)
		broken("body outside the data");
	while (qrec_next_line(rec, &offset, &line, &len)) {
		if (memchr(line, '\n', len) != NULL)
			broken("body line with a line break inside");
		covered += len + 1;
	}
	if (covered != rec->body_len)
		broken("body lines do not cover the body");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = fuzz_copy_text(data, size);
	struct qrec rec;
	struct strbuf error;

	/* qrec_parse() takes ownership of copy, as qrec_read() hands it the
	 * buffer it read. */
	strbuf_init(&error);
	if (qrec_parse(copy, size, "batch", 1, &rec, &error) == 0) {
		check_fields(&rec);
		check_body(&rec, size);
	} else if (error.len == 0) {
		abort(); /* every rejection must say why */
	}
	qrec_free(&rec);
	strbuf_free(&error);
	return 0;
}
