/*
 * fuzz_batch_file: libFuzzer target for batch files (incoming/ and the
 * receiver's tmp/).
 *
 * Each input is read twice: as a committed batch with batch_read(), the
 * aggregator's path, and as an unfinished one with batch_recover(), the
 * receiver's path at start. Besides the sanitizers, two properties are
 * checked, and a violation aborts:
 * - batch_read() hands every line to the visitor as a NUL-terminated
 *   string of the length it reports, without a line break;
 * - a batch that batch_recover() rewrote is accepted by batch_read() with
 *   exactly the kept lines, unless its header alone is already rejected
 *   (recovery keeps the header as it found it). A recovered batch that
 *   the aggregator rejects would lose every datagram in it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_file.h"
#include "fuzz_support.h"
#include "queue_file.h"
#include "strbuf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logs();
	return 0;
}

static int count_line(time_t received, const char *json, size_t len,
		      void *context)
{
	(void)received;
	if (strlen(json) != len || memchr(json, '\n', len) != NULL) {
		fprintf(stderr,
			"fuzz_batch_file: batch line of %zu bytes "
			"is not one NUL-terminated line\n",
			len);
		abort();
	}
	(*(unsigned long long *)context)++;
	return 0;
}

/* Tell whether batch_read() accepts the header of data on its own. */
static bool header_accepted(const char *data, size_t len)
{
	const char *blank = memmem(data, len, "\n\n", 2);
	struct strbuf text;
	struct strbuf error;
	unsigned long long lines = 0;
	char *path;
	int status;

	if (blank == NULL)
		return false;
	strbuf_init(&text);
	strbuf_init(&error);
	strbuf_append(&text, data, (size_t)(blank - data) + 2);
	strbuf_puts(&text, "end 0\n");
	path = fuzz_write_file("header", (const uint8_t *)text.data, text.len);
	status = batch_read(path, count_line, &lines, &error);
	free(path);
	strbuf_free(&text);
	strbuf_free(&error);
	return status == 0;
}

static void check_recovered(const char *path, unsigned long long kept)
{
	unsigned long long lines = 0;
	struct strbuf error;
	char *data;
	size_t len;

	strbuf_init(&error);
	if (batch_read(path, count_line, &lines, &error) == 0) {
		if (lines != kept) {
			fprintf(stderr,
				"fuzz_batch_file: recovery kept %llu "
				"lines, batch_read() read %llu\n",
				kept, lines);
			abort();
		}
		strbuf_free(&error);
		return;
	}
	if (queue_read_file(path, BATCH_MAX_FILE, &data, &len) != 0)
		abort();
	if (header_accepted(data, len)) {
		fprintf(stderr,
			"fuzz_batch_file: batch_read() rejects the "
			"recovered batch (%s)\n",
			error.data);
		abort();
	}
	free(data);
	strbuf_free(&error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned long long lines = 0;
	unsigned long long kept;
	unsigned long long dropped;
	struct strbuf error;
	char *path;

	strbuf_init(&error);
	path = fuzz_write_file("batch", data, size);
	if (batch_read(path, count_line, &lines, &error) != 0 && error.len == 0)
		abort(); /* every rejection must say why */
	free(path);

	/* batch_recover() rewrites its file, so it gets a file of its own. */
	strbuf_reset(&error);
	path = fuzz_write_file("tmp-batch", data, size);
	if (batch_recover(path, &kept, &dropped, &error) == 0)
		check_recovered(path, kept);
	free(path);
	strbuf_free(&error);
	return 0;
}
