/*
 * Unit tests for the queue file discipline and the shared file shapes:
 * queue IDs, no-clobber commit and move, the qrec version/header/end
 * checks, delivery and request files round trip, base64 and gzip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base64.h"
#include "delivery_file.h"
#include "gzip.h"
#include "qrec.h"
#include "queue_file.h"
#include "request_file.h"
#include "strbuf.h"
#include "xalloc.h"

static char queue_dir[64];
static char start_dir[4096];

static int make_queue(void **state)
{
	static const char *const subdirs[] = {
		QUEUE_TMP, QUEUE_OUTGOING, QUEUE_DEFERRED, QUEUE_REQUESTS,
	};
	size_t i;

	(void)state;
	if (getcwd(start_dir, sizeof(start_dir)) == NULL)
		return -1;
	snprintf(queue_dir, sizeof(queue_dir), "/tmp/tlsrptd-queue-XXXXXX");
	if (mkdtemp(queue_dir) == NULL || chdir(queue_dir) != 0)
		return -1;
	for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++)
		if (mkdir(subdirs[i], 0700) != 0)
			return -1;
	return 0;
}

static int remove_queue(void **state)
{
	char *command = xasprintf("rm -rf '%s'", queue_dir);
	int status;

	(void)state;
	if (chdir(start_dir) != 0)
		return -1;
	status = system(command);
	free(command);
	return status;
}

static void queue_ids_unique_and_valid(void **state)
{
	char first[QUEUE_ID_LEN + 1];
	char second[QUEUE_ID_LEN + 1];

	(void)state;
	queue_id_new(first);
	queue_id_new(second);
	assert_true(queue_id_valid(first));
	assert_true(queue_id_valid(second));
	assert_string_not_equal(first, second);
	assert_true(strcmp(first, second) < 0);
	assert_false(queue_id_valid("0123"));
	assert_false(queue_id_valid("0123456789abcdef01234567"));
	assert_false(queue_id_valid("../../../../etc/passwd000"));
}

static void commit_never_overwrites(void **state)
{
	struct queue_file file;
	struct queue_file twin;
	char *path;
	struct stat st;

	(void)state;
	assert_int_equal(queue_file_create(&file, "test"), 0);
	fputs("first\n", file.fp);
	assert_int_equal(queue_file_commit(&file, QUEUE_OUTGOING, "NAME"), 0);
	assert_int_equal(queue_file_create(&twin, "test"), 0);
	fputs("second\n", twin.fp);
	assert_int_equal(queue_file_commit(&twin, QUEUE_OUTGOING, "NAME"), -1);

	/* The loser stays in tmp/ until it is aborted, and the winner is
	 * intact. */
	path = xasprintf("%s/%s.%s", QUEUE_TMP, "test", twin.id);
	assert_int_equal(stat(path, &st), 0);
	queue_file_abort(&twin);
	assert_int_equal(stat(path, &st), -1);
	free(path);
	assert_int_equal(stat(QUEUE_OUTGOING "/NAME", &st), 0);
	assert_int_equal(st.st_size, 6);

	assert_int_equal(queue_move(QUEUE_OUTGOING, "NAME", QUEUE_DEFERRED),
			 0);
	assert_int_equal(stat(QUEUE_DEFERRED "/NAME", &st), 0);
	assert_int_equal(stat(QUEUE_OUTGOING "/NAME", &st), -1);
}

static void qrec_detects_torn_files(void **state)
{
	static const struct {
		const char *text;
		const char *error;
	} cases[] = {
		{"tlsrptd-test 1\na: b\n\nline\nend 1", "complete line"},
		{"tlsrptd-test 1\na: b\n\nline\n", "missing end record"},
		{"tlsrptd-test 2\na: b\n\nend 0\n", "invalid format version"},
		{"tlsrptd-other 1\n\nend 0\n", "invalid format version"},
		{"tlsrptd-test 1\nBad Name: x\n\nend 0\n", "invalid header"},
		{"tlsrptd-test 1\na: b\nend 0\n", "missing blank line"},
		{"tlsrptd-test 1\n\nend x\n", "missing end record"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct qrec rec;
		struct strbuf error;
		char *data = xstrdup(cases[i].text);

		strbuf_init(&error);
		if (qrec_parse(data, strlen(data), "test", 1, &rec, &error)
		    == 0)
			fail_msg("case %zu accepted", i);
		if (strstr(error.data, cases[i].error) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i,
				 error.data, cases[i].error);
		qrec_free(&rec);
		strbuf_free(&error);
	}
}

static void qrec_reads_fields_and_body(void **state)
{
	struct qrec rec;
	struct strbuf error;
	char *data = xstrdup("tlsrptd-test 1\nday: 2026-12-04\nempty: \n\n"
			     "one\ntwo\nend 2\n");
	size_t offset = 0;
	size_t len;
	char *line;

	(void)state;
	strbuf_init(&error);
	assert_int_equal(qrec_parse(data, strlen(data), "test", 1, &rec,
				    &error), 0);
	assert_string_equal(qrec_get(&rec, "day"), "2026-12-04");
	assert_string_equal(qrec_get(&rec, "empty"), "");
	assert_null(qrec_get(&rec, "missing"));
	assert_int_equal(rec.end_count, 2);
	assert_true(qrec_next_line(&rec, &offset, &line, &len));
	assert_memory_equal(line, "one", 3);
	assert_true(qrec_next_line(&rec, &offset, &line, &len));
	assert_memory_equal(line, "two", 3);
	assert_false(qrec_next_line(&rec, &offset, &line, &len));
	qrec_free(&rec);
	strbuf_free(&error);
}

static void delivery_round_trip(void **state)
{
	unsigned char payload[300];
	struct delivery delivery = {
		.report_id = "2026-12-04.example.com.0123456789abcdef@r.example",
		.report_domain = "example.com",
		.day = "2026-12-04",
		.destination = "mailto:tlsrpt@example.com",
		.rua = "mailto:tlsrpt@example.com https://r.example/v1",
		.submitter = "r.example",
		.filename = "r.example!example.com!1!2!0123456789abcdef.json.gz",
		.created = "2026-12-05T00:30:00Z",
		.last_error = "421 4.3.2 line\nbreak",
		.attempts = 3,
		.first_attempt = 1796428800,
		.next_attempt = 1796430000,
		.payload = payload,
		.payload_len = sizeof(payload),
	};
	struct delivery copy;
	struct strbuf error;
	char id[QUEUE_ID_LEN + 1];
	char *path;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (unsigned char)(i * 7);
	assert_int_equal(delivery_write(&delivery, "test", QUEUE_OUTGOING,
					NULL, id), 0);
	path = xasprintf("%s/%s", QUEUE_OUTGOING, id);
	strbuf_init(&error);
	assert_int_equal(delivery_read(path, &copy, &error), 0);
	assert_string_equal(copy.report_id, delivery.report_id);
	assert_string_equal(copy.rua, delivery.rua);
	assert_string_equal(copy.last_error, "421 4.3.2 line break");
	assert_int_equal(copy.attempts, 3);
	assert_int_equal(copy.first_attempt, delivery.first_attempt);
	assert_int_equal(copy.next_attempt, delivery.next_attempt);
	assert_int_equal(copy.payload_len, sizeof(payload));
	assert_memory_equal(copy.payload, payload, sizeof(payload));
	delivery_free(&copy);

	/* Moving keeps the ID: a rewrite under the same name elsewhere. */
	assert_int_equal(delivery_write(&delivery, "test", QUEUE_DEFERRED, id,
					NULL), 0);
	free(path);
	path = xasprintf("%s/%s", QUEUE_DEFERRED, id);
	assert_int_equal(delivery_read(path, &copy, &error), 0);
	delivery_free(&copy);
	free(path);
	strbuf_free(&error);
}

static void request_round_trip(void **state)
{
	struct request request = {.day = "2026-12-04", .target = "export"};
	struct request copy;
	struct strbuf error;
	char id[QUEUE_ID_LEN + 1];
	char *path;

	(void)state;
	assert_int_equal(request_write(&request, "admin", id), 0);
	path = xasprintf("%s/%s", QUEUE_REQUESTS, id);
	strbuf_init(&error);
	assert_int_equal(request_read(path, &copy, &error), 0);
	assert_string_equal(copy.day, "2026-12-04");
	assert_string_equal(copy.target, "export");
	free(path);
	strbuf_free(&error);
}

static void base64_and_gzip_round_trip(void **state)
{
	const char *text = "{\"organization-name\":\"Example\"}";
	struct strbuf encoded;
	unsigned char *decoded;
	size_t decoded_len;
	unsigned char *packed;
	size_t packed_len;
	char *unpacked;
	size_t unpacked_len;

	(void)state;
	strbuf_init(&encoded);
	base64_encode_lines((const unsigned char *)text, strlen(text), 8,
			    "\r\n", &encoded);
	assert_int_equal(base64_decode(encoded.data, encoded.len, &decoded,
				       &decoded_len), 0);
	assert_int_equal(decoded_len, strlen(text));
	assert_memory_equal(decoded, text, decoded_len);
	free(decoded);
	assert_int_equal(base64_decode("a*==", 4, &decoded, &decoded_len), -1);
	strbuf_free(&encoded);

	assert_int_equal(gzip_compress(text, strlen(text), &packed,
				       &packed_len), 0);
	assert_int_equal(packed[0], 0x1f);
	assert_int_equal(packed[1], 0x8b);
	assert_int_equal(gzip_decompress(packed, packed_len, 1024, &unpacked,
					 &unpacked_len), 0);
	assert_string_equal(unpacked, text);
	free(unpacked);

	/* Over the limit, or with bytes after the member: rejected. */
	assert_int_equal(gzip_decompress(packed, packed_len, 4, &unpacked,
					 &unpacked_len), -1);
	packed = xrealloc(packed, packed_len + 2);
	memcpy(packed + packed_len, "\r\n", 2);
	assert_int_equal(gzip_decompress(packed, packed_len + 2, 1024,
					 &unpacked, &unpacked_len), -1);
	free(packed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(queue_ids_unique_and_valid),
		cmocka_unit_test(commit_never_overwrites),
		cmocka_unit_test(qrec_detects_torn_files),
		cmocka_unit_test(qrec_reads_fields_and_body),
		cmocka_unit_test(delivery_round_trip),
		cmocka_unit_test(request_round_trip),
		cmocka_unit_test(base64_and_gzip_round_trip),
	};

	return cmocka_run_group_tests_name("queue files", tests, make_queue,
					   remove_queue);
}
