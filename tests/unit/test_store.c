/*
 * Unit tests for the aggregator's Berkeley DB store, each in a fresh
 * temporary environment. They cover the round trip of a folded batch and
 * a replayed batch ID, also after a process died without closing the
 * store. Then export in key order, supplements for closed days, a reopen
 * with recovery, expiry, the lock against a second opener, and log
 * removal over many batches.
 */
#include <dirent.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "datagram.h"
#include "fold.h"
#include "queue_file.h"
#include "store.h"
#include "strbuf.h"
#include "xalloc.h"

#define BATCH_A "00000000A000000000001000"
#define BATCH_B "00000000B000000000001000"

struct environment {
	char dir[64];
	char *home;
	struct store *store;
};

/* Every counter that store_export() produced, as a line whose fields are
 * separated by SEP, a byte below every printable one, so that strcmp()
 * orders lines as the store orders its NUL-separated keys. */
#define SEP "\x01"

/* The lines of one export. */
struct exported {
	char **lines;
	size_t count;
	size_t policies;
};

static char *read_sample(const char *relative, size_t *len)
{
	const char *base = getenv("TLSRPTD_TEST_DATA");
	char *path = xasprintf("%s/%s", base ? base : "tests/data", relative);
	char *data;

	assert_int_equal(queue_read_file(path, 1 << 20, &data, len), 0);
	free(path);
	return data;
}

static void add_sample(struct fold *fold, const char *when,
		       const char *relative)
{
	struct strbuf reason;
	struct datagram dg;
	time_t received;
	size_t len;
	char *data = read_sample(relative, &len);

	assert_int_equal(utc_time_parse(when, &received), 0);
	strbuf_init(&reason);
	if (datagram_parse(data, len, &dg, &reason) != 0)
		fail_msg("%s rejected: %s", relative, reason.data);
	fold_add(fold, received, &dg);
	datagram_free(&dg);
	strbuf_free(&reason);
	free(data);
}

/* A batch of samples: two on 2026-12-04, one just after midnight. */
static void sample_batch(struct fold *fold)
{
	fold_init(fold);
	add_sample(
	    fold, "2026-12-04T23:59:59Z",
	    "datagrams/05-example5-two-policies-sts-fail-tlsa-fail.json");
	add_sample(fold, "2026-12-04T12:00:00Z",
		   "datagrams/01-example1-no-policy-found-success.json");
	add_sample(fold, "2026-12-05T00:00:00Z",
		   "postfix/03-no-starttls-encrypt.json");
	fold_finish(fold);
}

static struct store *open_store(const char *home)
{
	struct strbuf error;
	struct store *store;

	strbuf_init(&error);
	store = store_open(home, &error);
	if (store == NULL)
		fail_msg("store_open %s: %s", home, error.data);
	strbuf_free(&error);
	return store;
}

static void close_store(struct store *store)
{
	struct strbuf error;

	strbuf_init(&error);
	if (store_close(store, &error) != 0)
		fail_msg("store_close: %s", error.data);
	strbuf_free(&error);
}

static int setup(void **state)
{
	struct environment *env = xcalloc(1, sizeof(*env));

	snprintf(env->dir, sizeof(env->dir), "/tmp/test_store.XXXXXX");
	if (mkdtemp(env->dir) == NULL)
		return -1;
	env->home = xasprintf("%s/db", env->dir);
	env->store = open_store(env->home);
	*state = env;
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
	struct environment *env = *state;

	if (env->store != NULL)
		close_store(env->store);
	nftw(env->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(env->home);
	free(env);
	return 0;
}

static int save_policy(const char *domain, const char *record,
		       const char *policy, unsigned long long success,
		       unsigned long long failure, void *context)
{
	struct exported *out = context;

	out->lines =
	    xreallocarray(out->lines, out->count + 1, sizeof(*out->lines));
	out->lines[out->count++] =
	    xasprintf("policy %s" SEP "%s" SEP "%s" SEP "%llu" SEP "%llu",
		      domain, record, policy, success, failure);
	out->policies++;
	return 0;
}

static int save_detail(const char *domain, const char *record,
		       const char *policy, const char *detail,
		       unsigned long long count, void *context)
{
	struct exported *out = context;

	out->lines =
	    xreallocarray(out->lines, out->count + 1, sizeof(*out->lines));
	out->lines[out->count++] =
	    xasprintf("detail %s" SEP "%s" SEP "%s" SEP "%s" SEP "%llu", domain,
		      record, policy, detail, count);
	return 0;
}

static void export_day(struct store *store, const char *day,
		       struct exported *out)
{
	static const struct store_visitor visitor = {save_policy, save_detail};
	struct strbuf error;

	memset(out, 0, sizeof(*out));
	strbuf_init(&error);
	if (store_export(store, day, &visitor, out, &error) != 0)
		fail_msg("store_export %s: %s", day, error.data);
	strbuf_free(&error);
}

static void exported_free(struct exported *out)
{
	size_t i;

	for (i = 0; i < out->count; i++)
		free(out->lines[i]);
	free(out->lines);
}

static int apply(struct store *store, const char *id, const struct fold *fold,
		 struct store_supplement **supplements, size_t *count)
{
	struct strbuf error;
	int status;

	strbuf_init(&error);
	status = store_apply(store, id, "2026-12-05", fold, supplements, count,
			     &error);
	if (status < 0)
		fail_msg("store_apply %s: %s", id, error.data);
	strbuf_free(&error);
	return status;
}

static void apply_plain(struct store *store, const char *id,
			const struct fold *fold, int expected)
{
	struct store_supplement *supplements;
	size_t count;

	assert_int_equal(apply(store, id, fold, &supplements, &count),
			 expected);
	assert_int_equal(count, 0);
	free(supplements);
}

static const char *find_line(const struct exported *out, const char *part)
{
	size_t i;

	for (i = 0; i < out->count; i++)
		if (strstr(out->lines[i], part) != NULL)
			return out->lines[i];
	return NULL;
}

static void round_trip(void **state)
{
	struct environment *env = *state;
	struct exported day4;
	struct exported day5;
	struct fold fold;
	const char *line;

	sample_batch(&fold);
	apply_plain(env->store, BATCH_A, &fold, 0);
	export_day(env->store, "2026-12-04", &day4);
	export_day(env->store, "2026-12-05", &day5);

	/* Example 5 has an sts and a tlsa policy, both failed; example 1
	 * one successful no-policy-found policy. */
	assert_int_equal(day4.policies, 3);
	line = find_line(&day4, "\"policy-type\":\"tlsa\"");
	assert_non_null(line);
	assert_non_null(strstr(line, SEP "0" SEP "1"));
	line = find_line(&day4, "\"policy-type\":\"no-policy-found\"");
	assert_non_null(line);
	assert_non_null(strstr(line, SEP "1" SEP "0"));
	assert_int_equal(day4.count - day4.policies, 3);
	assert_non_null(
	    find_line(&day4, "\"result-type\":\"sts-webpki-invalid\""));

	/* The datagram received at 00:00:00 belongs to the next day. */
	assert_int_equal(day5.policies, 1);
	assert_non_null(strstr(day5.lines[0], "notls-enc.test"));
	assert_non_null(find_line(&day5, "starttls-not-supported"));

	exported_free(&day4);
	exported_free(&day5);
	fold_free(&fold);
}

static void replay_changes_nothing(void **state)
{
	struct environment *env = *state;
	struct exported before;
	struct exported after;
	struct fold fold;
	size_t i;

	sample_batch(&fold);
	apply_plain(env->store, BATCH_A, &fold, 0);
	export_day(env->store, "2026-12-04", &before);
	apply_plain(env->store, BATCH_A, &fold, 1);
	export_day(env->store, "2026-12-04", &after);

	assert_int_equal(before.count, after.count);
	for (i = 0; i < before.count; i++)
		assert_string_equal(before.lines[i], after.lines[i]);

	/* Another batch ID with the same content counts again. */
	exported_free(&after);
	apply_plain(env->store, BATCH_B, &fold, 0);
	export_day(env->store, "2026-12-04", &after);
	assert_non_null(
	    strstr(find_line(&after, "no-policy-found"), SEP "2" SEP "0"));

	exported_free(&before);
	exported_free(&after);
	fold_free(&fold);
}

static void export_in_key_order(void **state)
{
	struct environment *env = *state;
	struct exported out;
	struct fold fold;
	size_t i;

	fold_init(&fold);
	add_sample(&fold, "2026-12-04T01:00:00Z",
		   "datagrams/10-blaster-tlsa-2-failures.json");
	add_sample(&fold, "2026-12-04T02:00:00Z",
		   "datagrams/03-example3-sts-failures-mx-patterns.json");
	add_sample(&fold, "2026-12-04T03:00:00Z",
		   "postfix/09-dane-tlsa-mismatch.json");
	add_sample(&fold, "2026-12-04T04:00:00Z",
		   "datagrams/12-escaping-mixed-case-trailing-dot-domain.json");
	fold_finish(&fold);
	apply_plain(env->store, BATCH_A, &fold, 0);
	export_day(env->store, "2026-12-04", &out);

	/* Policy lines first, then detail lines, each group sorted. */
	assert_true(out.policies >= 4);
	for (i = 1; i < out.count; i++) {
		if (i == out.policies)
			continue;
		if (strcmp(out.lines[i - 1], out.lines[i]) >= 0)
			fail_msg("line %zu out of order:\n%s\n%s", i,
				 out.lines[i - 1], out.lines[i]);
	}
	for (i = 0; i < out.count; i++)
		assert_int_equal(
		    strncmp(out.lines[i],
			    i < out.policies ? "policy " : "detail ", 7),
		    0);
	exported_free(&out);
	fold_free(&fold);
}

static void day_state(struct store *store, const char *name,
		      struct store_day *day)
{
	struct strbuf error;

	strbuf_init(&error);
	if (store_day_get(store, name, day, &error) != 0)
		fail_msg("store_day_get %s: %s", name, error.data);
	strbuf_free(&error);
}

static void closed_day_gets_supplement(void **state)
{
	struct environment *env = *state;
	struct store_supplement *supplements;
	struct store_supplement *again;
	struct store_day day;
	struct strbuf error;
	struct fold fold;
	size_t count;
	size_t again_count;

	sample_batch(&fold);
	apply_plain(env->store, BATCH_A, &fold, 0);
	day_state(env->store, "2026-12-04", &day);
	assert_int_equal(day.state, STORE_DAY_OPEN);

	strbuf_init(&error);
	assert_int_equal(store_day_closing(env->store, "2026-12-04",
					   "0000000000000000000C0001", &error),
			 0);
	assert_int_equal(store_day_closed(env->store, "2026-12-04", &error), 0);
	day_state(env->store, "2026-12-04", &day);
	assert_int_equal(day.state, STORE_DAY_CLOSED);
	assert_string_equal(day.summary_id, "0000000000000000000C0001");

	/* Only the closed day of the batch needs a supplement. */
	assert_int_equal(
	    apply(env->store, BATCH_B, &fold, &supplements, &count), 0);
	assert_int_equal(count, 1);
	assert_string_equal(supplements[0].day, "2026-12-04");
	assert_true(queue_id_valid(supplements[0].summary_id));

	/* A replay returns the same unfinished supplement, until it is
	 * marked done. */
	assert_int_equal(
	    apply(env->store, BATCH_B, &fold, &again, &again_count), 1);
	assert_int_equal(again_count, 1);
	assert_string_equal(again[0].summary_id, supplements[0].summary_id);
	free(again);
	assert_int_equal(store_supplements_done(env->store, BATCH_B, &error),
			 0);
	apply_plain(env->store, BATCH_B, &fold, 1);

	free(supplements);
	strbuf_free(&error);
	fold_free(&fold);
}

static void reopen_keeps_counters(void **state)
{
	struct environment *env = *state;
	struct exported before;
	struct exported after;
	struct fold fold;
	size_t i;

	sample_batch(&fold);
	apply_plain(env->store, BATCH_A, &fold, 0);
	export_day(env->store, "2026-12-04", &before);
	close_store(env->store);
	env->store = open_store(env->home);

	export_day(env->store, "2026-12-04", &after);
	assert_int_equal(before.count, after.count);
	for (i = 0; i < before.count; i++)
		assert_string_equal(before.lines[i], after.lines[i]);
	apply_plain(env->store, BATCH_A, &fold, 1);

	exported_free(&before);
	exported_free(&after);
	fold_free(&fold);
}

static void expiry_deletes_day(void **state)
{
	struct environment *env = *state;
	struct store_supplement *supplements;
	struct store_expiry expiry;
	struct store_day *days;
	struct store_day day;
	struct exported out;
	struct strbuf error;
	unsigned long long batches;
	struct fold fold;
	size_t count;

	sample_batch(&fold);
	apply_plain(env->store, BATCH_A, &fold, 0);
	strbuf_init(&error);
	assert_int_equal(
	    store_expire_day(env->store, "2026-12-04", &expiry, &error), 0);
	assert_int_equal(expiry.policies, 3);
	assert_int_equal(expiry.details, 3);
	export_day(env->store, "2026-12-04", &out);
	assert_int_equal(out.count, 0);
	exported_free(&out);

	/* The other day stays; the expired one counts as closed now. */
	assert_int_equal(store_days(env->store, &days, &count, &error), 0);
	assert_int_equal(count, 1);
	assert_string_equal(days[0].day, "2026-12-05");
	free(days);
	day_state(env->store, "2026-12-04", &day);
	assert_int_equal(day.state, STORE_DAY_CLOSED);
	day_state(env->store, "2026-12-03", &day);
	assert_int_equal(day.state, STORE_DAY_CLOSED);
	day_state(env->store, "2026-12-06", &day);
	assert_int_equal(day.state, STORE_DAY_NONE);

	/* A late batch for the expired day is a supplement. */
	assert_int_equal(
	    apply(env->store, BATCH_B, &fold, &supplements, &count), 0);
	assert_int_equal(count, 1);
	assert_string_equal(supplements[0].day, "2026-12-04");
	free(supplements);

	/* Batch IDs applied on 2026-12-05 expire before 2026-12-06 only. */
	assert_int_equal(
	    store_expire_batches(env->store, "2026-12-05", &batches, &error),
	    0);
	assert_int_equal(batches, 0);
	assert_int_equal(
	    store_expire_batches(env->store, "2026-12-06", &batches, &error),
	    0);
	assert_int_equal(batches, 2);

	/* An expired batch ID no longer protects against a replay. */
	assert_int_equal(
	    apply(env->store, BATCH_A, &fold, &supplements, &count), 0);
	free(supplements);

	strbuf_free(&error);
	fold_free(&fold);
}

static void second_open_locked_out(void **state)
{
	struct environment *env = *state;
	struct strbuf error;

	strbuf_init(&error);
	assert_null(store_open(env->home, &error));
	assert_non_null(strstr(error.data, "another aggregator"));
	strbuf_free(&error);
}

/* A process dies right after its commit, before it could remove the batch
 * file or close the store: the next opener runs recovery and must still
 * recognise the batch. */
static void replay_after_crash_changes_nothing(void **state)
{
	struct environment *env = *state;
	struct exported before;
	struct exported after;
	struct fold fold;
	int wstatus;
	pid_t child;
	size_t i;

	sample_batch(&fold);
	close_store(env->store);
	env->store = NULL;

	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct store_supplement *supplements;
		struct strbuf error;
		struct store *store;
		size_t count;

		strbuf_init(&error);
		store = store_open(env->home, &error);
		if (store == NULL ||
		    store_apply(store, BATCH_A, "2026-12-05", &fold,
				&supplements, &count, &error) != 0)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(child, &wstatus, 0), child);
	assert_true(WIFEXITED(wstatus));
	assert_int_equal(WEXITSTATUS(wstatus), 0);

	env->store = open_store(env->home);
	export_day(env->store, "2026-12-04", &before);
	assert_int_equal(before.policies, 3);
	apply_plain(env->store, BATCH_A, &fold, 1);
	export_day(env->store, "2026-12-04", &after);
	assert_int_equal(before.count, after.count);
	for (i = 0; i < before.count; i++)
		assert_string_equal(before.lines[i], after.lines[i]);

	exported_free(&before);
	exported_free(&after);
	fold_free(&fold);
}

/* Count the log files in db/ and set the highest log file number. */
static size_t count_log_files(const char *home, unsigned long *highest)
{
	DIR *dir = opendir(home);
	struct dirent *entry;
	size_t count = 0;

	assert_non_null(dir);
	*highest = 0;
	while ((entry = readdir(dir)) != NULL) {
		unsigned long number;

		if (sscanf(entry->d_name, "log.%lu", &number) != 1)
			continue;
		count++;
		if (number > *highest)
			*highest = number;
	}
	closedir(dir);
	return count;
}

static long long file_size(const char *home, const char *name)
{
	char *path = xasprintf("%s/%s", home, name);
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	free(path);
	return (long long)st.st_size;
}

/* Fold a batch with one policy and one failure-detail counter for each
 * of the given number of distinct domains. */
static void wide_batch(struct fold *fold, size_t domains)
{
	struct strbuf reason;
	struct datagram dg;
	char json[512];
	time_t received;
	size_t i;

	assert_int_equal(utc_time_parse("2026-12-04T12:00:00Z", &received), 0);
	strbuf_init(&reason);
	fold_init(fold);
	for (i = 0; i < domains; i++) {
		snprintf(json, sizeof(json),
			 "{\"dpv\":\"1\",\"d\":\"d%zu.example\",\"pr\":"
			 "\"v=TLSRPTv1; rua=mailto:r@d%zu.example\","
			 "\"policies\":[{\"policy-type\":2,\"policy-string\":"
			 "[\"version: STSv1\",\"mode: enforce\"],\"mx-host\":"
			 "[\"mx.d%zu.example\"],\"failure-details\":[{\"c\":"
			 "301,\"n\":\"mx.d%zu.example\"}],\"f\":1}]}",
			 i, i, i, i);
		if (datagram_parse(json, strlen(json), &dg, &reason) != 0)
			fail_msg("wide batch datagram rejected: %s",
				 reason.data);
		fold_add(fold, received, &dg);
		datagram_free(&dg);
	}
	fold_finish(fold);
	strbuf_free(&reason);
}

/* Over many batches, checkpoints remove old log files, and counters that
 * only change do not make the tables grow. */
static void log_files_removed(void **state)
{
	struct environment *env = *state;
	struct strbuf error;
	struct fold fold;
	unsigned long highest;
	long long policy_size = 0;
	long long detail_size = 0;
	size_t logs;
	int batch;

	wide_batch(&fold, 2000);
	strbuf_init(&error);
	for (batch = 0; batch < 240; batch++) {
		char id[QUEUE_ID_LEN + 1];

		snprintf(id, sizeof(id), "%024X", batch + 1);
		apply_plain(env->store, id, &fold, 0);
		if (store_checkpoint(env->store, false, &error) != 0)
			fail_msg("store_checkpoint: %s", error.data);
		if (batch == 0) {
			/* A forced checkpoint writes the pages to the files. */
			if (store_checkpoint(env->store, true, &error) != 0)
				fail_msg("store_checkpoint: %s", error.data);
			policy_size = file_size(env->home, "policy.db");
			detail_size = file_size(env->home, "detail.db");
		}
		logs = count_log_files(env->home, &highest);
		if (logs > 3)
			fail_msg("%zu log files after batch %d", logs, batch);
	}

	/* The test is void unless the log went past several files. */
	logs = count_log_files(env->home, &highest);
	if (highest < 5)
		fail_msg("only %lu log files were written; the batches are "
			 "too small to test log removal",
			 highest);
	if (store_checkpoint(env->store, true, &error) != 0)
		fail_msg("store_checkpoint: %s", error.data);
	assert_true(file_size(env->home, "policy.db") == policy_size);
	assert_true(file_size(env->home, "detail.db") == detail_size);
	strbuf_free(&error);
	fold_free(&fold);
}

/* Apply a batch part by part until it is done; return the calls made. */
static int apply_all_parts(struct store *store, const char *id,
			   const struct fold *fold)
{
	struct store_supplement *supplements;
	size_t count;
	int calls = 0;
	int status;

	do {
		status = apply(store, id, fold, &supplements, &count);
		free(supplements);
		calls++;
	} while (status == 2);
	assert_int_equal(status, 0);
	return calls;
}

/* Check that every counter of a wide batch (see wide_batch()) was added
 * exactly once: one failed session and one failure-detail per domain. */
static void expect_wide_counts(struct store *store, size_t domains)
{
	struct exported out;
	size_t i;

	export_day(store, "2026-12-04", &out);
	assert_int_equal(out.policies, domains);
	assert_int_equal(out.count, 2 * domains);
	for (i = 0; i < out.count; i++) {
		const char *line = out.lines[i];
		const char *end = strrchr(line, SEP[0]);

		if (strncmp(line, "policy ", 7) == 0) {
			assert_non_null(end);
			assert_true(end - line >= 2);
			assert_string_equal(end - 2, SEP "0" SEP "1");
		} else {
			assert_string_equal(end, SEP "1");
		}
	}
	exported_free(&out);
}

/* A batch of 120,000 counters is applied in six parts of at most 20,000
 * counters, every counter once, and a replay changes nothing. */
static void large_batch_applied_in_parts(void **state)
{
	struct environment *env = *state;
	struct fold fold;

	wide_batch(&fold, 60000);
	assert_int_equal(apply_all_parts(env->store, BATCH_A, &fold), 6);
	expect_wide_counts(env->store, 60000);
	apply_plain(env->store, BATCH_A, &fold, 1);
	expect_wide_counts(env->store, 60000);
	fold_free(&fold);
}

/* A process dies after two parts of a batch, without closing the store.
 * The next opener goes on from the third part, and no counter is added
 * twice. */
static void interrupted_parts_resume(void **state)
{
	struct environment *env = *state;
	struct fold fold;
	int wstatus;
	pid_t child;

	wide_batch(&fold, 250);
	close_store(env->store);
	env->store = NULL;

	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct store_supplement *supplements;
		struct strbuf error;
		struct store *store;
		size_t count;
		int part;

		strbuf_init(&error);
		store = store_open(env->home, &error);
		if (store == NULL)
			_exit(1);
		store_set_apply_chunk(store, 100);
		for (part = 0; part < 2; part++)
			if (store_apply(store, BATCH_A, "2026-12-05", &fold,
					&supplements, &count, &error) != 2)
				_exit(2);
		_exit(0);
	}
	assert_int_equal(waitpid(child, &wstatus, 0), child);
	assert_true(WIFEXITED(wstatus));
	assert_int_equal(WEXITSTATUS(wstatus), 0);

	/* 500 counters: two parts were done, three calls remain. */
	env->store = open_store(env->home);
	store_set_apply_chunk(env->store, 100);
	assert_int_equal(apply_all_parts(env->store, BATCH_A, &fold), 3);
	expect_wide_counts(env->store, 250);
	apply_plain(env->store, BATCH_A, &fold, 1);
	fold_free(&fold);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(replay_changes_nothing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(export_in_key_order, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(closed_day_gets_supplement, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(reopen_keeps_counters, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(expiry_deletes_day, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(second_open_locked_out, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(replay_after_crash_changes_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(large_batch_applied_in_parts,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(interrupted_parts_resume, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(log_files_removed, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
