/*
 * Unit tests for queue_file commits that fail. They cover a commit that
 * can be retried, an abort that takes back a link, a sync failure that
 * cannot be retried, and batch commits that link all or nothing. The
 * repair of a batch file through a copy renamed over it is here too.
 */
#include <errno.h>
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
#include "queue_file.h"
#include "strbuf.h"
#include "xalloc.h"

#define BATCH_FILES 5

static char queue_dir[64];
static char start_dir[4096];

static int make_queue(void **state)
{
	static const char *const subdirs[] = {QUEUE_TMP, QUEUE_OUTGOING,
					      QUEUE_DEFERRED};
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

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static char *read_text(const char *path)
{
	char *data;
	size_t len;

	if (queue_read_file(path, 1024 * 1024, &data, &len) != 0)
		fail_msg("cannot read %s: %s", path, strerror(errno));
	return data;
}

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static void create_with(struct queue_file *file, const char *text)
{
	assert_int_equal(queue_file_create(file, "test"), 0);
	fputs(text, file->fp);
}

static void commit_retried_after_conflict(void **state)
{
	struct queue_file first;
	struct queue_file second;
	char *tmp_path;
	char *text;

	(void)state;
	create_with(&first, "first\n");
	assert_int_equal(queue_file_commit(&first, QUEUE_OUTGOING, "NAME"), 0);
	create_with(&second, "second\n");
	assert_int_equal(queue_file_commit(&second, QUEUE_OUTGOING, "NAME"),
			 -1);
	assert_int_equal(errno, EEXIST);

	/* The content is durable, so the commit may simply be retried. */
	assert_true(second.synced);
	assert_null(second.fp);
	assert_true(exists(second.tmp_path));
	tmp_path = xstrdup(second.tmp_path);

	assert_int_equal(rename(QUEUE_OUTGOING "/NAME",
				QUEUE_DEFERRED "/NAME"), 0);
	assert_int_equal(queue_file_commit(&second, QUEUE_OUTGOING, "NAME"), 0);
	assert_null(second.tmp_path);
	assert_false(exists(tmp_path));
	text = read_text(QUEUE_OUTGOING "/NAME");
	assert_string_equal(text, "second\n");
	free(text);
	free(tmp_path);
}

/* A link made by a commit whose directory fsync failed is found again by
 * the retry, which then finishes the commit. */
static void retry_finds_own_link(void **state)
{
	struct queue_file file;
	char *path;
	struct stat st;

	(void)state;
	create_with(&file, "content\n");
	assert_int_equal(queue_file_sync(&file), 0);
	path = xasprintf("%s/%s", QUEUE_OUTGOING, file.id);
	assert_int_equal(link(file.tmp_path, path), 0);

	assert_int_equal(queue_file_commit(&file, QUEUE_OUTGOING, NULL), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_nlink, 1);
	free(path);
}

static void abort_takes_back_link(void **state)
{
	struct queue_file file;
	char *path;
	char *tmp_path;

	(void)state;
	create_with(&file, "content\n");
	assert_int_equal(queue_file_sync(&file), 0);
	path = xasprintf("%s/%s", QUEUE_OUTGOING, file.id);
	assert_int_equal(link(file.tmp_path, path), 0);
	file.linked_path = xstrdup(path);
	tmp_path = xstrdup(file.tmp_path);

	queue_file_abort(&file);
	assert_false(exists(path));
	assert_false(exists(tmp_path));
	assert_null(file.linked_path);
	assert_null(file.tmp_path);
	free(path);
	free(tmp_path);
}

/* A failed write leaves the content incomplete: the file stays in tmp/
 * for a repair or an abort, and a retry of the commit is refused. */
static void write_failure_not_retried(void **state)
{
	struct queue_file file;
	char *tmp_path;
	char *path;

	(void)state;
	create_with(&file, "lost in the buffer\n");
	close(fileno(file.fp));
	tmp_path = xstrdup(file.tmp_path);

	assert_int_equal(queue_file_commit(&file, QUEUE_OUTGOING, NULL), -1);
	assert_false(file.synced);
	assert_null(file.fp);
	assert_true(exists(tmp_path));
	assert_int_equal(queue_file_commit(&file, QUEUE_OUTGOING, NULL), -1);
	assert_int_equal(errno, EIO);
	path = xasprintf("%s/%s", QUEUE_OUTGOING, file.id);
	assert_false(exists(path));

	queue_file_abort(&file);
	assert_false(exists(tmp_path));
	free(path);
	free(tmp_path);
}

static void stage(struct queue_batch *batch, size_t count,
		  char ids[][QUEUE_ID_LEN + 1])
{
	size_t i;

	for (i = 0; i < count; i++) {
		struct queue_file file;
		char text[32];

		snprintf(text, sizeof(text), "file %zu\n", i);
		create_with(&file, text);
		memcpy(ids[i], file.id, sizeof(file.id));
		queue_batch_add(batch, &file);
		assert_null(file.tmp_path);
	}
}

static void batch_commit_links_every_file(void **state)
{
	char ids[BATCH_FILES][QUEUE_ID_LEN + 1];
	struct queue_batch batch;
	size_t i;

	(void)state;
	queue_batch_init(&batch, QUEUE_OUTGOING);
	stage(&batch, BATCH_FILES, ids);
	assert_int_equal(queue_batch_commit(&batch), 0);
	for (i = 0; i < BATCH_FILES; i++) {
		char *path = xasprintf("%s/%s", QUEUE_OUTGOING, ids[i]);
		char *tmp_path = xasprintf("%s/test.%s", QUEUE_TMP, ids[i]);
		char expected[32];
		char *text = read_text(path);

		snprintf(expected, sizeof(expected), "file %zu\n", i);
		assert_string_equal(text, expected);
		assert_false(exists(tmp_path));
		assert_string_equal(batch.files[i].id, ids[i]);
		free(text);
		free(path);
		free(tmp_path);
	}

	/* The reset after a commit removes nothing that was committed. */
	queue_batch_reset(&batch);
	assert_int_equal(batch.count, 0);
	for (i = 0; i < BATCH_FILES; i++) {
		char *path = xasprintf("%s/%s", QUEUE_OUTGOING, ids[i]);

		assert_true(exists(path));
		free(path);
	}
	queue_batch_free(&batch);
}

/* One file that cannot be linked fails the whole batch: the links made
 * before it are taken back, and the reset removes the staged files. */
static void batch_conflict_takes_back_links(void **state)
{
	char ids[BATCH_FILES][QUEUE_ID_LEN + 1];
	struct queue_batch batch;
	char *blocker;
	char *text;
	size_t i;

	(void)state;
	queue_batch_init(&batch, QUEUE_OUTGOING);
	stage(&batch, BATCH_FILES, ids);
	blocker = xasprintf("%s/%s", QUEUE_OUTGOING, ids[3]);
	write_text(blocker, "someone else\n");

	assert_int_equal(queue_batch_commit(&batch), -1);
	assert_int_equal(errno, EEXIST);
	for (i = 0; i < BATCH_FILES; i++) {
		char *path = xasprintf("%s/%s", QUEUE_OUTGOING, ids[i]);
		char *tmp_path = xasprintf("%s/test.%s", QUEUE_TMP, ids[i]);

		if (i != 3)
			assert_false(exists(path));
		assert_true(exists(tmp_path));
		free(path);
		free(tmp_path);
	}

	queue_batch_reset(&batch);
	for (i = 0; i < BATCH_FILES; i++) {
		char *tmp_path = xasprintf("%s/test.%s", QUEUE_TMP, ids[i]);

		assert_false(exists(tmp_path));
		free(tmp_path);
	}
	text = read_text(blocker);
	assert_string_equal(text, "someone else\n");
	free(text);
	free(blocker);
	queue_batch_free(&batch);
}

/* The repaired copy replaces the file through a rename; a copy that an
 * interrupted repair left is overwritten and gone afterwards. */
static void repair_replaces_through_copy(void **state)
{
	unsigned long long kept;
	unsigned long long dropped;
	struct strbuf error;
	struct stat before;
	struct stat after;
	char *text;

	(void)state;
	write_text(QUEUE_TMP "/receiver.torn",
		   "tlsrptd-batch 1\n"
		   "\n"
		   "2026-12-04T20:33:03Z {\"dpv\":\"1\"}\n"
		   "2026-12-04T20:33:04Z {\"dpv\":\"1\",\"d\":\"cut");
	write_text(QUEUE_TMP "/receiver.torn.repair", "stale copy\n");
	assert_int_equal(stat(QUEUE_TMP "/receiver.torn", &before), 0);
	strbuf_init(&error);

	assert_int_equal(batch_recover(QUEUE_TMP "/receiver.torn", &kept,
				       &dropped, &error),
			 0);
	assert_int_equal(kept, 1);
	assert_int_equal(dropped, 1);
	assert_false(exists(QUEUE_TMP "/receiver.torn.repair"));
	assert_int_equal(stat(QUEUE_TMP "/receiver.torn", &after), 0);
	assert_true(after.st_ino != before.st_ino);
	text = read_text(QUEUE_TMP "/receiver.torn");
	assert_string_equal(text, "tlsrptd-batch 1\n"
				  "\n"
				  "2026-12-04T20:33:03Z {\"dpv\":\"1\"}\n"
				  "end 1\n");
	free(text);
	strbuf_free(&error);
}

/* A torn end record is not a torn datagram: nothing is counted dropped. */
static void torn_end_record_not_dropped(void **state)
{
	unsigned long long kept;
	unsigned long long dropped;
	struct strbuf error;

	(void)state;
	write_text(QUEUE_TMP "/receiver.end",
		   "tlsrptd-batch 1\n"
		   "\n"
		   "2026-12-04T20:33:03Z {\"dpv\":\"1\"}\n"
		   "en");
	strbuf_init(&error);
	assert_int_equal(batch_recover(QUEUE_TMP "/receiver.end", &kept,
				       &dropped, &error),
			 0);
	assert_int_equal(kept, 1);
	assert_int_equal(dropped, 0);
	strbuf_free(&error);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(commit_retried_after_conflict),
		cmocka_unit_test(retry_finds_own_link),
		cmocka_unit_test(abort_takes_back_link),
		cmocka_unit_test(write_failure_not_retried),
		cmocka_unit_test(batch_commit_links_every_file),
		cmocka_unit_test(batch_conflict_takes_back_links),
		cmocka_unit_test(repair_replaces_through_copy),
		cmocka_unit_test(torn_end_record_not_dropped),
	};

	return cmocka_run_group_tests(tests, make_queue, remove_queue);
}
