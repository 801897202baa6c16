/*
 * Unit tests for batch files. A written and committed batch reads back
 * line for line, and a damaged end record is rejected. Recovery keeps
 * whole lines, drops a torn last line and gives up on a file cut inside
 * its header. Each test runs in a fresh queue directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

#include "batch_file.h"
#include "config.h"
#include "qrec.h"
#include "queue_file.h"
#include "strbuf.h"
#include "utc_time.h"
#include "xalloc.h"

#define MAX_LINES 8

/* A queue directory of its own, and the directory to return to. */
struct fixture {
	char dir[64];
	int previous_cwd;
	char *sample; /* one captured datagram */
	size_t sample_len;
};

/* What batch_read() handed to the visitor. */
struct visited {
	size_t count;
	time_t received[MAX_LINES];
	char *json[MAX_LINES];
};

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static int setup(void **state)
{
	const char *base = getenv("TLSRPTD_TEST_DATA");
	struct fixture *fixture = xcalloc(1, sizeof(*fixture));
	char *sample_path = xasprintf("%s/datagrams/01-example1-no-policy-"
				      "found-success.json",
				      base ? base : "tests/data");
	struct strbuf error;

	assert_int_equal(queue_read_file(sample_path, 1 << 20, &fixture->sample,
					 &fixture->sample_len),
			 0);
	free(sample_path);

	snprintf(fixture->dir, sizeof(fixture->dir),
		 "/tmp/test_batch_file.XXXXXX");
	assert_non_null(mkdtemp(fixture->dir));
	fixture->previous_cwd = open(".", O_RDONLY | O_DIRECTORY);
	assert_true(fixture->previous_cwd >= 0);
	assert_int_equal(chdir(fixture->dir), 0);
	assert_int_equal(mkdir(QUEUE_TMP, 0700), 0);
	assert_int_equal(mkdir(QUEUE_INCOMING, 0700), 0);
	write_text("main.cf", "myhostname = batch-test.example.org\n");

	strbuf_init(&error);
	if (config_load(".", &error) != 0)
		fail_msg("cannot load main.cf: %s", error.data);
	strbuf_free(&error);
	*state = fixture;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *fixture = *state;

	assert_int_equal(fchdir(fixture->previous_cwd), 0);
	close(fixture->previous_cwd);
	nftw(fixture->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	config_free();
	free(fixture->sample);
	free(fixture);
	return 0;
}

static int visit(time_t received, const char *json, size_t len, void *context)
{
	struct visited *visited = context;

	assert_true(visited->count < MAX_LINES);
	assert_int_equal(strlen(json), len);
	visited->received[visited->count] = received;
	visited->json[visited->count] = xstrdup(json);
	visited->count++;
	return 0;
}

static void visited_free(struct visited *visited)
{
	size_t i;

	for (i = 0; i < visited->count; i++)
		free(visited->json[i]);
}

static void round_trip(void **state)
{
	struct fixture *fixture = *state;
	const time_t first = 1796416383; /* 2026-12-04T20:33:03Z */
	struct batch_writer batch;
	struct visited visited = {0};
	struct strbuf error;
	struct qrec rec;
	char *path;
	size_t i;

	assert_int_equal(batch_writer_open(&batch, "receiver"), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(batch_writer_append(&batch, first + (time_t)i,
						     fixture->sample,
						     fixture->sample_len),
				 0);
	assert_int_equal(batch_writer_flush(&batch), 0);
	assert_int_equal(batch.count, 3);
	path = xasprintf("%s/%s", QUEUE_INCOMING, batch.file.id);
	assert_int_equal(batch_writer_commit(&batch), 0);
	assert_int_equal(access(path, R_OK), 0);

	strbuf_init(&error);
	if (batch_read(path, visit, &visited, &error) != 0)
		fail_msg("committed batch rejected: %s", error.data);
	assert_int_equal(visited.count, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(visited.received[i], first + (time_t)i);
		assert_memory_equal(visited.json[i], fixture->sample,
				    fixture->sample_len);
	}

	assert_int_equal(qrec_read(path, BATCH_MAX_FILE, BATCH_KIND,
				   BATCH_VERSION, &rec, &error),
			 0);
	assert_string_equal(qrec_get(&rec, "host"), "batch-test.example.org");
	assert_non_null(qrec_get(&rec, "created"));
	assert_int_equal(rec.end_count, 3);
	qrec_free(&rec);
	visited_free(&visited);
	strbuf_free(&error);
	free(path);
}

/* Lines of one drained group share a receive time, which the writer
 * formats once; a new time must still reach the next line. */
static void repeated_times_kept(void **state)
{
	struct fixture *fixture = *state;
	const time_t times[] = {0, 0, 1796416383, 1796416383, 1796416384, 0};
	const size_t count = sizeof(times) / sizeof(times[0]);
	struct batch_writer batch;
	struct visited visited = {0};
	struct strbuf error;
	char *path;
	size_t i;

	assert_int_equal(batch_writer_open(&batch, "receiver"), 0);
	for (i = 0; i < count; i++)
		assert_int_equal(batch_writer_append(&batch, times[i],
						     fixture->sample,
						     fixture->sample_len),
				 0);
	path = xasprintf("%s/%s", QUEUE_INCOMING, batch.file.id);
	assert_int_equal(batch_writer_commit(&batch), 0);

	strbuf_init(&error);
	if (batch_read(path, visit, &visited, &error) != 0)
		fail_msg("committed batch rejected: %s", error.data);
	assert_int_equal(visited.count, count);
	for (i = 0; i < count; i++)
		assert_int_equal(visited.received[i], times[i]);
	visited_free(&visited);
	strbuf_free(&error);
	free(path);
}

/* A line whose receive time is invalid is rejected, also after lines
 * whose time was valid. */
static void invalid_time_rejected(void **state)
{
	struct visited visited = {0};
	struct strbuf error;

	(void)state;
	write_text("incoming/bad-time", "tlsrptd-batch 1\n"
					"\n"
					"2026-12-04T20:33:03Z {\"dpv\":\"1\"}\n"
					"2026-12-04T20:33:03Z {\"dpv\":\"1\"}\n"
					"2026-02-30T20:33:03Z {\"dpv\":\"1\"}\n"
					"end 3\n");
	strbuf_init(&error);
	assert_int_equal(batch_read("incoming/bad-time", visit, &visited,
				    &error),
			 -1);
	assert_non_null(strstr(error.data, "malformed batch line 3"));
	assert_int_equal(visited.count, 0);
	strbuf_free(&error);
}

static void append_rejects_line_break(void **state)
{
	struct batch_writer batch;

	(void)state;
	assert_int_equal(batch_writer_open(&batch, "receiver"), 0);
	errno = 0;
	assert_int_equal(batch_writer_append(&batch, 0, "{\"a\":\n1}", 8), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(batch.count, 0);
	batch_writer_abort(&batch);
}

static void end_count_mismatch_rejected(void **state)
{
	struct visited visited = {0};
	struct strbuf error;

	(void)state;
	write_text("incoming/short", "tlsrptd-batch 1\n"
				     "created: 2026-12-04T20:33:03Z\n"
				     "\n"
				     "2026-12-04T20:33:03Z {\"dpv\":\"1\"}\n"
				     "2026-12-04T20:33:04Z {\"dpv\":\"1\"}\n"
				     "end 3\n");
	strbuf_init(&error);
	assert_int_equal(batch_read("incoming/short", visit, &visited, &error),
			 -1);
	assert_non_null(strstr(error.data, "end record counts 3 lines"));
	assert_int_equal(visited.count, 0);
	strbuf_free(&error);
}

static void missing_end_record_rejected(void **state)
{
	struct visited visited = {0};
	struct strbuf error;

	(void)state;
	write_text("incoming/torn", "tlsrptd-batch 1\n"
				    "\n"
				    "2026-12-04T20:33:03Z {\"dpv\":\"1\"}\n");
	strbuf_init(&error);
	assert_int_equal(batch_read("incoming/torn", visit, &visited, &error),
			 -1);
	assert_non_null(strstr(error.data, "torn file"));
	assert_int_equal(visited.count, 0);
	strbuf_free(&error);
}

static void torn_last_line_dropped(void **state)
{
	struct visited visited = {0};
	unsigned long long kept;
	unsigned long long dropped;
	struct strbuf error;

	(void)state;
	write_text("tmp/receiver.torn",
		   "tlsrptd-batch 1\n"
		   "created: 2026-12-04T20:33:03Z\n"
		   "\n"
		   "2026-12-04T20:33:03Z {\"dpv\":\"1\",\"d\":\"a.example\"}\n"
		   "2026-12-04T20:33:04Z {\"dpv\":\"1\",\"d\":\"b.example\"}\n"
		   "2026-12-04T20:33:05Z {\"dpv\":\"1\",\"d\":\"c.ex");
	strbuf_init(&error);
	assert_int_equal(
	    batch_recover("tmp/receiver.torn", &kept, &dropped, &error), 0);
	assert_int_equal(kept, 2);
	assert_int_equal(dropped, 1);

	if (batch_read("tmp/receiver.torn", visit, &visited, &error) != 0)
		fail_msg("recovered batch rejected: %s", error.data);
	assert_int_equal(visited.count, 2);
	assert_string_equal(visited.json[1],
			    "{\"dpv\":\"1\",\"d\":\"b.example\"}");
	visited_free(&visited);
	strbuf_free(&error);
}

static void complete_file_recovered_whole(void **state)
{
	unsigned long long kept;
	unsigned long long dropped;
	struct strbuf error;

	(void)state;
	write_text("tmp/receiver.complete",
		   "tlsrptd-batch 1\n"
		   "\n"
		   "2026-12-04T20:33:03Z {\"dpv\":\"1\"}\n"
		   "end 1\n");
	strbuf_init(&error);
	assert_int_equal(
	    batch_recover("tmp/receiver.complete", &kept, &dropped, &error), 0);
	assert_int_equal(kept, 1);
	assert_int_equal(dropped, 0);
	strbuf_free(&error);
}

static void nul_line_dropped_in_recovery(void **state)
{
	static const char text[] =
		"tlsrptd-batch 1\n"
		"\n"
		"2026-12-04T20:33:03Z {\"dpv\":\"1\"}\n"
		"2026-12-04T20:33:04Z {\"d\0\0\"}\n"
		"2026-12-04T20:33:05Z {\"dpv\":\"1\"}\n";
	struct visited visited = {0};
	unsigned long long kept;
	unsigned long long dropped;
	struct strbuf error;
	FILE *fp = fopen("tmp/receiver.nul", "w");

	(void)state;
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, sizeof(text) - 1, fp),
			 sizeof(text) - 1);
	assert_int_equal(fclose(fp), 0);
	strbuf_init(&error);
	assert_int_equal(
	    batch_recover("tmp/receiver.nul", &kept, &dropped, &error), 0);
	assert_int_equal(kept, 2);
	assert_int_equal(dropped, 1);

	/* A kept NUL byte would make the aggregator reject every line. */
	if (batch_read("tmp/receiver.nul", visit, &visited, &error) != 0)
		fail_msg("recovered batch rejected: %s", error.data);
	assert_int_equal(visited.count, 2);
	visited_free(&visited);
	strbuf_free(&error);
}

static void file_without_header_returns_one(void **state)
{
	unsigned long long kept = 99;
	unsigned long long dropped = 99;
	struct strbuf error;

	(void)state;
	write_text("tmp/receiver.cut", "tlsrptd-batch 1\ncreated: 2026-12-0");
	strbuf_init(&error);
	assert_int_equal(
	    batch_recover("tmp/receiver.cut", &kept, &dropped, &error), 1);
	assert_int_equal(kept, 0);
	assert_int_equal(dropped, 0);
	strbuf_free(&error);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(repeated_times_kept, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(invalid_time_rejected, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(append_rejects_line_break, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(end_count_mismatch_rejected, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(missing_end_record_rejected, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(torn_last_line_dropped, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(complete_file_recovered_whole,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(file_without_header_returns_one,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(nul_line_dropped_in_recovery,
					    setup, teardown),
	};

	return cmocka_run_group_tests_name("batch_file", tests, NULL, NULL);
}
