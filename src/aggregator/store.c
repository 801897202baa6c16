/*
 * store: the counter database in Berkeley DB 5.3; see store.h.
 *
 * Every change runs in a transaction that commits with a synchronous log
 * write, because the caller deletes the batch file right after the
 * commit: a commit that could be lost would lose the batch. Recovery at
 * every start rolls back a transaction that a crash interrupted.
 * Checkpoints bound the recovery time, and log files that no checkpoint
 * needs any more are removed, so db/ does not grow without bound.
 *
 * The aggregator is single-threaded and the only process in the
 * environment, so no transaction ever waits for a lock held by another.
 */
#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msg.h"
#include "store.h"
#include "xalloc.h"

/* Memory pool size. The pages that one batch changes must fit. In
 * bench/aggregator.py, 1,000,000 datagrams to 100,000 domains made 36 MB
 * of tables, and a pool of 64 or 128 MB counted them no faster than this
 * one (bench/RESULTS.md). */
#define STORE_CACHE_BYTES (32U * 1024 * 1024)
#define STORE_LOG_FILE_BYTES (8U * 1024 * 1024)

/* One transaction holds a lock on every page it changes. Batches of
 * 10,000 datagrams to 100,000 domains (bench/aggregator.py, some 8,000
 * distinct counters a batch) held at most 3,854 locks (db5.3_stat -c, on
 * x86-64), so this limit leaves a margin of 13 times. Berkeley DB sizes
 * its lock hash table from it, so it is not larger. */
#define STORE_MAX_LOCKS 50000
#define STORE_MAX_LOCK_OBJECTS 50000

/* Counters per transaction of a large batch. The locks of a transaction
 * grow with the pages it changes: one batch of 250 datagrams with 512,000
 * new failure-details for domains that detail.db already held ran out of
 * STORE_MAX_LOCKS. So a batch with more counters than this is applied in
 * parts of this many, each recording its progress. A part changes at
 * most a page per counter, so it stays below the limit. */
#define STORE_APPLY_CHUNK 20000

/* The meta.db key of a batch applied in part: the prefix, then the
 * batch ID. Its value is the number of counters applied so far. */
#define STORE_META_PROGRESS "progress "

/* Checkpoint after this much log or this much time, whichever first.
 * A checkpoint writes every dirty page, so checkpoints after 2 MB of log
 * took 17 % of the aggregator's time on a large backlog; after 8 MB, db/
 * keeps at most about three log files of STORE_LOG_FILE_BYTES. */
#define STORE_CHECKPOINT_KBYTES 8192
#define STORE_CHECKPOINT_MINUTES 1

/* Expiry deletes in transactions of at most this many keys, so that
 * expiring a large day never needs one huge transaction. */
#define STORE_EXPIRE_CHUNK 10000

#define STORE_LOCK_FILE "aggregator.lock"
#define STORE_META_EXPIRED "expired-before"

enum store_table {
	TABLE_POLICY,
	TABLE_DETAIL,
	TABLE_DAY,
	TABLE_BATCH,
	TABLE_APPLIED,
	TABLE_SUPPLEMENT,
	TABLE_META,
	TABLE_COUNT
};

static const char *const table_files[TABLE_COUNT] = {
    "policy.db",  "detail.db",	   "day.db",  "batch.db",
    "applied.db", "supplement.db", "meta.db",
};

struct store {
	DB_ENV *env;
	DB *tables[TABLE_COUNT];
	int lock_fd;
	bool needs_recovery;
	size_t apply_chunk;	/* counters per transaction of a batch */
};

/* The length of "YYYY-MM-DD\0", the prefix of a day's counter keys. */
#define DAY_PREFIX_LEN (UTC_DAY_LEN + 1)

static int db_failed(struct store *store, int ret, struct strbuf *error,
		     const char *what)
{
	if (ret == DB_RUNRECOVERY)
		store->needs_recovery = true;
	strbuf_printf(error, "%s: %s", what, db_strerror(ret));
	return -1;
}

static void report_db_error(const DB_ENV *env, const char *prefix,
			    const char *text)
{
	(void)env;
	(void)prefix;
	msg_warn("Berkeley DB: %s", text);
}

static void report_db_message(const DB_ENV *env, const char *text)
{
	(void)env;
	msg_info("Berkeley DB: %s", text);
}

static DBT dbt_of(const void *data, size_t size)
{
	DBT dbt;

	memset(&dbt, 0, sizeof(dbt));
	dbt.data = (void *)data;
	dbt.size = (u_int32_t)size;
	return dbt;
}

static DBT dbt_empty(void)
{
	return dbt_of(NULL, 0);
}

static void put_u64(unsigned char *out, unsigned long long value)
{
	int i;

	for (i = 7; i >= 0; i--) {
		out[i] = (unsigned char)(value & 0xFF);
		value >>= 8;
	}
}

static unsigned long long get_u64(const unsigned char *in)
{
	unsigned long long value = 0;
	int i;

	for (i = 0; i < 8; i++)
		value = (value << 8) | in[i];
	return value;
}

/* Build day\0domain\0record\0policy[\0detail]; the key has no final NUL. */
static void counter_key(struct strbuf *key, const struct fold_counter *counter)
{
	strbuf_reset(key);
	strbuf_append(key, counter->day, strlen(counter->day) + 1);
	strbuf_append(key, counter->domain, strlen(counter->domain) + 1);
	strbuf_append(key, counter->record, strlen(counter->record) + 1);
	strbuf_puts(key, counter->policy);
	if (counter->detail != NULL) {
		strbuf_putc(key, '\0');
		strbuf_puts(key, counter->detail);
	}
}

/* Split a counter key copied into buf (NUL-terminated) into its parts;
 * return the number of parts found, at most max_parts. */
static size_t split_key(struct strbuf *buf, const DBT *key, const char **parts,
			size_t max_parts)
{
	size_t count = 0;
	size_t offset = 0;

	strbuf_reset(buf);
	strbuf_append(buf, key->data, key->size);
	while (count < max_parts && offset <= buf->len) {
		parts[count++] = buf->data + offset;
		offset += strlen(buf->data + offset) + 1;
	}
	return offset > buf->len ? count : 0;
}

static int open_lock(struct store *store, const char *home,
		     struct strbuf *error)
{
	char *path = xasprintf("%s/%s", home, STORE_LOCK_FILE);

	store->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (store->lock_fd < 0) {
		strbuf_printf(error, "cannot open %s: %s", path,
			      strerror(errno));
		free(path);
		return -1;
	}
	if (flock(store->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		strbuf_printf(error,
			      "cannot lock %s: %s; is another "
			      "aggregator running on this queue directory?",
			      path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

static int configure_env(struct store *store, struct strbuf *error)
{
	DB_ENV *env = store->env;
	int ret;

	env->set_errcall(env, report_db_error);
	env->set_msgcall(env, report_db_message);
	if ((ret = env->set_cachesize(env, 0, STORE_CACHE_BYTES, 1)) != 0 ||
	    (ret = env->set_lg_max(env, STORE_LOG_FILE_BYTES)) != 0 ||
	    (ret = env->set_lk_max_locks(env, STORE_MAX_LOCKS)) != 0 ||
	    (ret = env->set_lk_max_objects(env, STORE_MAX_LOCK_OBJECTS)) != 0)
		return db_failed(store, ret, error,
				 "cannot configure the "
				 "database environment");
	return 0;
}

static int open_tables(struct store *store, const char *home,
		       struct strbuf *error)
{
	int table;
	int ret;

	for (table = 0; table < TABLE_COUNT; table++) {
		DB *db;

		if ((ret = db_create(&db, store->env, 0)) != 0)
			return db_failed(store, ret, error, "db_create");
		store->tables[table] = db;
		ret = db->open(db, NULL, table_files[table], NULL, DB_BTREE,
			       DB_CREATE | DB_AUTO_COMMIT, 0600);
		if (ret != 0) {
			strbuf_printf(error, "cannot open %s/%s: %s", home,
				      table_files[table], db_strerror(ret));
			return -1;
		}
	}
	return 0;
}

struct store *store_open(const char *home, struct strbuf *error)
{
	struct store *store = xcalloc(1, sizeof(*store));
	u_int32_t flags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOG | DB_INIT_LOCK |
			  DB_INIT_MPOOL | DB_RECOVER;
	int ret;

	store->lock_fd = -1;
	store->apply_chunk = STORE_APPLY_CHUNK;
	if (mkdir(home, 0700) != 0 && errno != EEXIST) {
		strbuf_printf(error, "cannot create %s: %s", home,
			      strerror(errno));
		goto fail;
	}
	if (open_lock(store, home, error) != 0)
		goto fail;
	if ((ret = db_env_create(&store->env, 0)) != 0) {
		db_failed(store, ret, error, "db_env_create");
		goto fail;
	}
	if (configure_env(store, error) != 0)
		goto fail;

	/* DB_RECOVER rolls the environment forward to the last committed
	 * transaction; it is safe only because the lock above keeps every
	 * other process out. */
	if ((ret = store->env->open(store->env, home, flags, 0600)) != 0) {
		strbuf_printf(error,
			      "cannot open the database environment "
			      "%s: %s",
			      home, db_strerror(ret));
		goto fail;
	}
	if (open_tables(store, home, error) != 0)
		goto fail;
	return store;

fail:
	store_close(store, NULL);
	return NULL;
}

int store_close(struct store *store, struct strbuf *error)
{
	int status = 0;
	int table;
	int ret;

	/* A forced checkpoint makes the next start's recovery quick; error
	 * is NULL only when store_open() gives up halfway. */
	if (store->env != NULL && error != NULL)
		status = store_checkpoint(store, true, error);
	for (table = 0; table < TABLE_COUNT; table++) {
		if (store->tables[table] == NULL)
			continue;
		ret = store->tables[table]->close(store->tables[table], 0);
		if (ret != 0 && error != NULL && status == 0)
			status =
			    db_failed(store, ret, error, table_files[table]);
	}
	if (store->env != NULL) {
		ret = store->env->close(store->env, 0);
		if (ret != 0 && error != NULL && status == 0)
			status = db_failed(store, ret, error,
					   "closing the "
					   "database environment");
	}
	if (store->lock_fd >= 0)
		close(store->lock_fd);
	free(store);
	return status;
}

bool store_needs_recovery(const struct store *store)
{
	return store->needs_recovery;
}

int store_checkpoint(struct store *store, bool force, struct strbuf *error)
{
	DB_ENV *env = store->env;
	int ret;

	if (force)
		ret = env->txn_checkpoint(env, 0, 0, DB_FORCE);
	else
		ret = env->txn_checkpoint(env, STORE_CHECKPOINT_KBYTES,
					  STORE_CHECKPOINT_MINUTES, 0);
	if (ret != 0)
		return db_failed(store, ret, error, "checkpoint");

	/* Log files before the checkpoint are no longer needed for
	 * recovery. */
	if ((ret = env->log_archive(env, NULL, DB_ARCH_REMOVE)) != 0)
		return db_failed(store, ret, error, "removing old log files");
	return 0;
}

static int begin(struct store *store, DB_TXN **txn, struct strbuf *error)
{
	int ret = store->env->txn_begin(store->env, NULL, txn, 0);

	if (ret != 0)
		return db_failed(store, ret, error,
				 "cannot begin a "
				 "transaction");
	return 0;
}

static int commit(struct store *store, DB_TXN *txn, struct strbuf *error)
{
	int ret = txn->commit(txn, 0);

	if (ret != 0)
		return db_failed(store, ret, error, "cannot commit");
	return 0;
}

/* Abort after a failure; the first error stays the one reported. */
static int abort_with(struct store *store, DB_TXN *txn)
{
	int ret = txn->abort(txn);

	if (ret == DB_RUNRECOVERY)
		store->needs_recovery = true;
	return -1;
}

/* Get a text value into out; return 1 when the key is absent. */
static int get_text(struct store *store, DB_TXN *txn, enum store_table table,
		    const char *name, struct strbuf *out, struct strbuf *error)
{
	DBT key = dbt_of(name, strlen(name));
	DBT data = dbt_empty();
	int ret = store->tables[table]->get(store->tables[table], txn, &key,
					    &data, 0);

	strbuf_reset(out);
	if (ret == DB_NOTFOUND)
		return 1;
	if (ret != 0)
		return db_failed(store, ret, error, table_files[table]);
	strbuf_append(out, data.data, data.size);
	return 0;
}

static int put_text(struct store *store, DB_TXN *txn, enum store_table table,
		    const char *name, const char *value, struct strbuf *error)
{
	DBT key = dbt_of(name, strlen(name));
	DBT data = dbt_of(value, strlen(value));
	int ret = store->tables[table]->put(store->tables[table], txn, &key,
					    &data, 0);

	if (ret != 0)
		return db_failed(store, ret, error, table_files[table]);
	return 0;
}

static int delete_text(struct store *store, DB_TXN *txn, enum store_table table,
		       const char *name, struct strbuf *error)
{
	DBT key = dbt_of(name, strlen(name));
	int ret = store->tables[table]->del(store->tables[table], txn, &key, 0);

	if (ret != 0 && ret != DB_NOTFOUND)
		return db_failed(store, ret, error, table_files[table]);
	return 0;
}

/* Day rows read "open", "closing ID" or "closed ID". */
static void parse_day_row(const char *row, struct store_day *day)
{
	const char *id = "";

	if (strncmp(row, "closing", 7) == 0) {
		day->state = STORE_DAY_CLOSING;
		id = row + 7;
	} else if (strncmp(row, "closed", 6) == 0) {
		day->state = STORE_DAY_CLOSED;
		id = row + 6;
	} else {
		day->state = STORE_DAY_OPEN;
	}
	while (*id == ' ')
		id++;
	snprintf(day->summary_id, sizeof(day->summary_id), "%s", id);
}

static int put_day_row(struct store *store, DB_TXN *txn,
		       const struct store_day *day, struct strbuf *error)
{
	static const char *const names[] = {
	    [STORE_DAY_NONE] = "open",
	    [STORE_DAY_OPEN] = "open",
	    [STORE_DAY_CLOSING] = "closing",
	    [STORE_DAY_CLOSED] = "closed",
	};
	char row[32 + QUEUE_ID_LEN];

	if (day->summary_id[0] != '\0')
		snprintf(row, sizeof(row), "%s %s", names[day->state],
			 day->summary_id);
	else
		snprintf(row, sizeof(row), "%s", names[day->state]);
	return put_text(store, txn, TABLE_DAY, day->day, row, error);
}

/* Read a day's state; a day without a row before "expired-before" was
 * closed and expired. */
static int get_day(struct store *store, DB_TXN *txn, const char *name,
		   struct store_day *day, struct strbuf *error)
{
	struct strbuf value;
	int status;

	memset(day, 0, sizeof(*day));
	snprintf(day->day, sizeof(day->day), "%s", name);
	strbuf_init(&value);
	status = get_text(store, txn, TABLE_DAY, name, &value, error);
	if (status == 0) {
		parse_day_row(value.data, day);
	} else if (status == 1) {
		status = get_text(store, txn, TABLE_META, STORE_META_EXPIRED,
				  &value, error);
		if (status == 0 && strcmp(name, value.data) < 0)
			day->state = STORE_DAY_CLOSED;
		else if (status >= 0)
			day->state = STORE_DAY_NONE;
		status = status < 0 ? -1 : 0;
	}
	strbuf_free(&value);
	return status;
}

/* Add deltas to the counter at key: one B-tree search with a cursor,
 * which reads with a write lock (DB_RMW) and then writes in place. */
static int add_counter(struct store *store, DBC *cursor, enum store_table table,
		       const struct strbuf *key_text,
		       const unsigned long long *deltas, size_t count,
		       struct strbuf *error)
{
	DBT key = dbt_of(key_text->data, key_text->len);
	DBT data = dbt_empty();
	unsigned char value[16];
	unsigned long long current;
	size_t i;
	int ret;

	ret = cursor->get(cursor, &key, &data, DB_SET | DB_RMW);
	if (ret != 0 && ret != DB_NOTFOUND)
		return db_failed(store, ret, error, table_files[table]);
	if (ret == 0 && data.size != count * 8) {
		strbuf_printf(error,
			      "%s: counter value of %u bytes, expected "
			      "%zu",
			      table_files[table], data.size, count * 8);
		return -1;
	}
	for (i = 0; i < count; i++) {
		current =
		    ret == 0 ? get_u64((unsigned char *)data.data + i * 8) : 0;
		put_u64(value + i * 8, fold_saturating_add(current, deltas[i]));
	}
	data = dbt_of(value, count * 8);
	ret = cursor->put(cursor, &key, &data,
			  ret == 0 ? DB_CURRENT : DB_KEYFIRST);
	if (ret != 0)
		return db_failed(store, ret, error, table_files[table]);
	return 0;
}

static int open_cursor(struct store *store, DB_TXN *txn,
		       enum store_table table, DBC **cursor,
		       struct strbuf *error)
{
	DB *db = store->tables[table];
	int ret = db->cursor(db, txn, cursor, 0);

	if (ret != 0)
		return db_failed(store, ret, error, table_files[table]);
	return 0;
}

static int close_cursor(struct store *store, DBC *cursor, int status,
			enum store_table table, struct strbuf *error)
{
	int ret = cursor->close(cursor);

	if (ret != 0 && status == 0)
		return db_failed(store, ret, error, table_files[table]);
	return status;
}

/* Add the policy counters from index first up to last, not included. */
static int add_policy_counters(struct store *store, DB_TXN *txn,
			       const struct fold *fold, size_t first,
			       size_t last, struct strbuf *key,
			       struct strbuf *error)
{
	DBC *cursor;
	size_t i;
	int status = 0;

	if (first >= last)
		return 0;
	if (open_cursor(store, txn, TABLE_POLICY, &cursor, error) != 0)
		return -1;
	for (i = first; status == 0 && i < last; i++) {
		const struct fold_counter *counter = &fold->policies[i];
		unsigned long long deltas[2] = {counter->success,
						counter->failure};

		counter_key(key, counter);
		status = add_counter(store, cursor, TABLE_POLICY, key, deltas,
				     2, error);
	}
	return close_cursor(store, cursor, status, TABLE_POLICY, error);
}

/* Add the detail counters from index first up to last, not included. */
static int add_detail_counters(struct store *store, DB_TXN *txn,
			       const struct fold *fold, size_t first,
			       size_t last, struct strbuf *key,
			       struct strbuf *error)
{
	DBC *cursor;
	size_t i;
	int status = 0;

	if (first >= last)
		return 0;
	if (open_cursor(store, txn, TABLE_DETAIL, &cursor, error) != 0)
		return -1;
	for (i = first; status == 0 && i < last; i++) {
		const struct fold_counter *counter = &fold->details[i];

		counter_key(key, counter);
		status = add_counter(store, cursor, TABLE_DETAIL, key,
				     &counter->count, 1, error);
	}
	return close_cursor(store, cursor, status, TABLE_DETAIL, error);
}

/* The counters of a fold, policies then details, numbered from 0. */
static size_t fold_counters(const struct fold *fold)
{
	return fold->policy_count + fold->detail_count;
}

/* Add the counters numbered first up to last, not included. */
static int add_counters(struct store *store, DB_TXN *txn,
			const struct fold *fold, size_t first, size_t last,
			struct strbuf *error)
{
	size_t policies = fold->policy_count;
	struct strbuf key;
	int status;

	strbuf_init(&key);
	status = add_policy_counters(store, txn, fold,
				     first < policies ? first : policies,
				     last < policies ? last : policies, &key,
				     error);
	if (status == 0)
		status = add_detail_counters(
		    store, txn, fold, first > policies ? first - policies : 0,
		    last > policies ? last - policies : 0, &key, error);
	strbuf_free(&key);
	return status;
}

static void supplement_add(struct store_supplement **list, size_t *count,
			   const char *day, const char *summary_id)
{
	struct store_supplement *entry;

	*list = xreallocarray(*list, *count + 1, sizeof(**list));
	entry = &(*list)[(*count)++];
	snprintf(entry->day, sizeof(entry->day), "%s", day);
	snprintf(entry->summary_id, sizeof(entry->summary_id), "%s",
		 summary_id);
}

/* Parse the "day id" lines that mark_days() stores. */
static void parse_supplements(const char *text, struct store_supplement **list,
			      size_t *count)
{
	char day[UTC_DAY_LEN + 1];
	char id[QUEUE_ID_LEN + 1];
	const char *line = text;

	while (*line != '\0') {
		if (sscanf(line, "%10s %24s", day, id) == 2)
			supplement_add(list, count, day, id);
		line += strcspn(line, "\n");
		line += *line == '\n';
	}
}

/* Create the rows of the days of the batch that have none yet. */
static int open_new_days(struct store *store, DB_TXN *txn,
			 const struct fold *fold, struct strbuf *error)
{
	size_t i;

	for (i = 0; i < fold->day_count; i++) {
		struct store_day day;

		if (get_day(store, txn, fold->days[i].day, &day, error) != 0)
			return -1;
		if (day.state != STORE_DAY_NONE)
			continue;
		day.state = STORE_DAY_OPEN;
		if (put_day_row(store, txn, &day, error) != 0)
			return -1;
	}
	return 0;
}

/* Create missing day rows and choose a supplement ID for every day of
 * the batch that is already closed. */
static int mark_days(struct store *store, DB_TXN *txn, const struct fold *fold,
		     struct strbuf *pending, struct store_supplement **list,
		     size_t *count, struct strbuf *error)
{
	size_t i;

	if (open_new_days(store, txn, fold, error) != 0)
		return -1;
	for (i = 0; i < fold->day_count; i++) {
		struct store_day day;
		char id[QUEUE_ID_LEN + 1];

		if (get_day(store, txn, fold->days[i].day, &day, error) != 0)
			return -1;
		if (day.state == STORE_DAY_OPEN)
			continue;

		/* A closed day without a row was expired; its row comes back
		 * so that the next expiry deletes the new counters too. */
		if (day.summary_id[0] == '\0' &&
		    put_day_row(store, txn, &day, error) != 0)
			return -1;
		queue_id_new(id);
		supplement_add(list, count, day.day, id);
		strbuf_printf(pending, "%s %s\n", day.day, id);
	}
	return 0;
}

static int record_batch(struct store *store, DB_TXN *txn, const char *batch_id,
			const char *applied_day, const struct fold *fold,
			struct strbuf *error)
{
	struct strbuf text;
	DB *applied = store->tables[TABLE_APPLIED];
	DBT key;
	DBT data = dbt_empty();
	int ret;

	strbuf_init(&text);
	strbuf_printf(&text, "%s %llu", applied_day, fold->datagrams);
	if (put_text(store, txn, TABLE_BATCH, batch_id, text.data, error) !=
	    0) {
		strbuf_free(&text);
		return -1;
	}
	strbuf_reset(&text);
	strbuf_append(&text, applied_day, strlen(applied_day) + 1);
	strbuf_puts(&text, batch_id);
	key = dbt_of(text.data, text.len);
	ret = applied->put(applied, txn, &key, &data, 0);
	strbuf_free(&text);
	if (ret != 0)
		return db_failed(store, ret, error, "applied.db");
	return 0;
}

/* Read into *done how many counters of the batch earlier parts applied:
 * 0 unless the batch is applied in parts. */
static int get_progress(struct store *store, DB_TXN *txn, const char *key,
			size_t total, size_t *done, struct strbuf *error)
{
	struct strbuf value;
	int status;

	*done = 0;
	strbuf_init(&value);
	status = get_text(store, txn, TABLE_META, key, &value, error);
	if (status == 0)
		*done = (size_t)strtoull(value.data, NULL, 10);
	strbuf_free(&value);

	/* Only a fold that changed since the earlier parts, such as after an
	 * upgrade in the middle of a batch, can be shorter. */
	if (*done > total) {
		msg_warn("%s: %zu counters recorded as counted, but the batch "
			 "now has %zu; counting the rest of the batch as none",
			 key + strlen(STORE_META_PROGRESS), *done, total);
		*done = total;
	}
	return status < 0 ? -1 : 0;
}

static int put_progress(struct store *store, DB_TXN *txn, const char *key,
			size_t done, struct strbuf *error)
{
	char value[32];

	snprintf(value, sizeof(value), "%zu", done);
	return put_text(store, txn, TABLE_META, key, value, error);
}

/* Apply the next store->apply_chunk counters of a large batch and record
 * how far it got, so that the next call goes on from there. */
static int apply_part(struct store *store, DB_TXN *txn,
		      const struct fold *fold, const char *progress,
		      size_t done, struct strbuf *error)
{
	size_t next = done + store->apply_chunk;

	if (open_new_days(store, txn, fold, error) != 0 ||
	    add_counters(store, txn, fold, done, next, error) != 0 ||
	    put_progress(store, txn, progress, next, error) != 0)
		return -1;
	return 0;
}

int store_apply(struct store *store, const char *batch_id,
		const char *applied_day, const struct fold *fold,
		struct store_supplement **supplements, size_t *count,
		struct strbuf *error)
{
	char *progress = xasprintf("%s%s", STORE_META_PROGRESS, batch_id);
	size_t total = fold_counters(fold);
	struct strbuf value;
	DB_TXN *txn;
	size_t done;
	int status;

	*supplements = NULL;
	*count = 0;
	if (begin(store, &txn, error) != 0) {
		free(progress);
		return -1;
	}
	strbuf_init(&value);

	/* A recorded ID means the batch was committed before a crash
	 * prevented its removal: return its unfinished supplements only. */
	status = get_text(store, txn, TABLE_BATCH, batch_id, &value, error);
	if (status == 0) {
		status = get_text(store, txn, TABLE_SUPPLEMENT, batch_id,
				  &value, error);
		if (status == 0)
			parse_supplements(value.data, supplements, count);
		status = status < 0 ? abort_with(store, txn)
				    : commit(store, txn, error);
		strbuf_free(&value);
		free(progress);
		if (status == 0)
			return 1;
		goto free_list;
	}
	if (status < 0 ||
	    get_progress(store, txn, progress, total, &done, error) != 0)
		goto fail;

	/* A part of a large batch commits on its own. */
	if (total - done > store->apply_chunk) {
		if (apply_part(store, txn, fold, progress, done, error) != 0)
			goto fail;
		strbuf_free(&value);
		free(progress);
		return commit(store, txn, error) == 0 ? 2 : -1;
	}

	strbuf_reset(&value);
	if (mark_days(store, txn, fold, &value, supplements, count, error) !=
		0 ||
	    add_counters(store, txn, fold, done, total, error) != 0 ||
	    record_batch(store, txn, batch_id, applied_day, fold, error) != 0)
		goto fail;
	if (done > 0 &&
	    delete_text(store, txn, TABLE_META, progress, error) != 0)
		goto fail;
	if (value.len > 0 && put_text(store, txn, TABLE_SUPPLEMENT, batch_id,
				      value.data, error) != 0)
		goto fail;
	strbuf_free(&value);
	free(progress);
	if (commit(store, txn, error) != 0)
		goto free_list;
	return 0;

fail:
	abort_with(store, txn);
	strbuf_free(&value);
	free(progress);
free_list:
	free(*supplements);
	*supplements = NULL;
	*count = 0;
	return -1;
}

void store_set_apply_chunk(struct store *store, size_t counters)
{
	store->apply_chunk = counters > 0 ? counters : STORE_APPLY_CHUNK;
}

int store_supplements_done(struct store *store, const char *batch_id,
			   struct strbuf *error)
{
	DB_TXN *txn;

	if (begin(store, &txn, error) != 0)
		return -1;
	if (delete_text(store, txn, TABLE_SUPPLEMENT, batch_id, error) != 0)
		return abort_with(store, txn);
	return commit(store, txn, error);
}

int store_supplement_batches(struct store *store, char ***batch_ids,
			     size_t *count, struct strbuf *error)
{
	DB *db = store->tables[TABLE_SUPPLEMENT];
	DBC *cursor;
	DBT key = dbt_empty();
	DBT data = dbt_empty();
	int ret;

	*batch_ids = NULL;
	*count = 0;
	if ((ret = db->cursor(db, NULL, &cursor, 0)) != 0)
		return db_failed(store, ret, error, "supplement.db");
	while ((ret = cursor->get(cursor, &key, &data, DB_NEXT)) == 0) {
		*batch_ids =
		    xreallocarray(*batch_ids, *count + 1, sizeof(**batch_ids));
		(*batch_ids)[(*count)++] = xstrndup(key.data, key.size);
	}
	cursor->close(cursor);
	if (ret != DB_NOTFOUND)
		return db_failed(store, ret, error, "supplement.db");
	return 0;
}

int store_days(struct store *store, struct store_day **days, size_t *count,
	       struct strbuf *error)
{
	DB *db = store->tables[TABLE_DAY];
	struct strbuf row;
	DBC *cursor;
	DBT key = dbt_empty();
	DBT data = dbt_empty();
	int ret;

	*days = NULL;
	*count = 0;
	if ((ret = db->cursor(db, NULL, &cursor, 0)) != 0)
		return db_failed(store, ret, error, "day.db");
	strbuf_init(&row);
	while ((ret = cursor->get(cursor, &key, &data, DB_NEXT)) == 0) {
		struct store_day *day;

		if (key.size != UTC_DAY_LEN)
			continue;
		*days = xreallocarray(*days, *count + 1, sizeof(**days));
		day = &(*days)[(*count)++];
		memset(day, 0, sizeof(*day));
		memcpy(day->day, key.data, UTC_DAY_LEN);
		strbuf_reset(&row);
		strbuf_append(&row, data.data, data.size);
		parse_day_row(row.data, day);
	}
	cursor->close(cursor);
	strbuf_free(&row);
	if (ret != DB_NOTFOUND)
		return db_failed(store, ret, error, "day.db");
	return 0;
}

int store_day_get(struct store *store, const char *day,
		  struct store_day *result, struct strbuf *error)
{
	DB_TXN *txn;

	if (begin(store, &txn, error) != 0)
		return -1;
	if (get_day(store, txn, day, result, error) != 0)
		return abort_with(store, txn);
	return commit(store, txn, error);
}

int store_day_closing(struct store *store, const char *day,
		      const char *summary_id, struct strbuf *error)
{
	struct store_day row;
	DB_TXN *txn;

	if (begin(store, &txn, error) != 0)
		return -1;
	if (get_day(store, txn, day, &row, error) != 0)
		return abort_with(store, txn);
	if (row.state == STORE_DAY_CLOSED) {
		strbuf_printf(error, "day %s is already closed", day);
		return abort_with(store, txn);
	}
	row.state = STORE_DAY_CLOSING;
	snprintf(row.summary_id, sizeof(row.summary_id), "%s", summary_id);
	if (put_day_row(store, txn, &row, error) != 0)
		return abort_with(store, txn);
	return commit(store, txn, error);
}

int store_day_closed(struct store *store, const char *day, struct strbuf *error)
{
	struct store_day row;
	DB_TXN *txn;

	if (begin(store, &txn, error) != 0)
		return -1;
	if (get_day(store, txn, day, &row, error) != 0)
		return abort_with(store, txn);
	row.state = STORE_DAY_CLOSED;
	if (put_day_row(store, txn, &row, error) != 0)
		return abort_with(store, txn);
	return commit(store, txn, error);
}

/* Visit the counters of one day in one table, in key order. */
static int export_table(struct store *store, DB_TXN *txn,
			enum store_table table, const char *day,
			const struct store_visitor *visitor, void *context,
			struct strbuf *error)
{
	DB *db = store->tables[table];
	char prefix[DAY_PREFIX_LEN];
	struct strbuf copy;
	DBC *cursor;
	DBT key;
	DBT data = dbt_empty();
	u_int32_t flag = DB_SET_RANGE;
	int status = 0;
	int ret;

	memcpy(prefix, day, UTC_DAY_LEN);
	prefix[UTC_DAY_LEN] = '\0';
	key = dbt_of(prefix, sizeof(prefix));
	if ((ret = db->cursor(db, txn, &cursor, 0)) != 0)
		return db_failed(store, ret, error, table_files[table]);
	strbuf_init(&copy);
	while (status == 0 &&
	       (ret = cursor->get(cursor, &key, &data, flag)) == 0) {
		const char *parts[5];
		const unsigned char *value = data.data;

		flag = DB_NEXT;
		if (key.size < sizeof(prefix) ||
		    memcmp(key.data, prefix, sizeof(prefix)) != 0)
			break;
		if (table == TABLE_POLICY &&
		    split_key(&copy, &key, parts, 4) == 4 && data.size == 16)
			status = visitor->policy(parts[1], parts[2], parts[3],
						 get_u64(value),
						 get_u64(value + 8), context);
		else if (table == TABLE_DETAIL &&
			 split_key(&copy, &key, parts, 5) == 5 &&
			 data.size == 8)
			status =
			    visitor->detail(parts[1], parts[2], parts[3],
					    parts[4], get_u64(value), context);
		else
			msg_warn("%s: skipping a malformed counter of day %s",
				 table_files[table], day);
	}
	cursor->close(cursor);
	strbuf_free(&copy);
	if (status != 0)
		return status;
	if (ret != 0 && ret != DB_NOTFOUND)
		return db_failed(store, ret, error, table_files[table]);
	return 0;
}

int store_export(struct store *store, const char *day,
		 const struct store_visitor *visitor, void *context,
		 struct strbuf *error)
{
	DB_TXN *txn;
	int status;

	if (begin(store, &txn, error) != 0)
		return -1;
	status = export_table(store, txn, TABLE_POLICY, day, visitor, context,
			      error);
	if (status == 0)
		status = export_table(store, txn, TABLE_DETAIL, day, visitor,
				      context, error);
	if (status != 0) {
		abort_with(store, txn);
		return status;
	}
	return commit(store, txn, error);
}

/* Delete up to STORE_EXPIRE_CHUNK keys that start with prefix in one
 * transaction; set *deleted. */
static int delete_prefix_chunk(struct store *store, enum store_table table,
			       const void *prefix, size_t prefix_len,
			       unsigned long long *deleted,
			       struct strbuf *error)
{
	DB *db = store->tables[table];
	DB_TXN *txn;
	DBC *cursor;
	DBT key = dbt_of(prefix, prefix_len);
	DBT data = dbt_empty();
	u_int32_t flag = DB_SET_RANGE;
	int ret;

	*deleted = 0;
	if (begin(store, &txn, error) != 0)
		return -1;
	if ((ret = db->cursor(db, txn, &cursor, 0)) != 0) {
		db_failed(store, ret, error, table_files[table]);
		return abort_with(store, txn);
	}
	while (*deleted < STORE_EXPIRE_CHUNK &&
	       (ret = cursor->get(cursor, &key, &data, flag)) == 0) {
		flag = DB_NEXT;
		if (key.size < prefix_len ||
		    memcmp(key.data, prefix, prefix_len) != 0)
			break;
		if ((ret = cursor->del(cursor, 0)) != 0)
			break;
		(*deleted)++;
	}
	cursor->close(cursor);
	if (ret != 0 && ret != DB_NOTFOUND) {
		db_failed(store, ret, error, table_files[table]);
		return abort_with(store, txn);
	}
	return commit(store, txn, error);
}

static int delete_prefix(struct store *store, enum store_table table,
			 const char *prefix, size_t prefix_len,
			 unsigned long long *total, struct strbuf *error)
{
	unsigned long long deleted;

	*total = 0;
	do {
		if (delete_prefix_chunk(store, table, prefix, prefix_len,
					&deleted, error) != 0)
			return -1;
		*total += deleted;
	} while (deleted == STORE_EXPIRE_CHUNK);
	return 0;
}

/* Delete the day row and raise "expired-before" past the day. */
static int forget_day(struct store *store, const char *day,
		      struct strbuf *error)
{
	char next[UTC_DAY_LEN + 1];
	struct strbuf current;
	time_t start;
	DB_TXN *txn;
	int status;

	if (utc_day_parse(day, &start) != 0) {
		strbuf_printf(error, "invalid day \"%s\"", day);
		return -1;
	}
	utc_day_format(start + UTC_DAY_SECONDS, next);
	if (begin(store, &txn, error) != 0)
		return -1;
	strbuf_init(&current);
	status = get_text(store, txn, TABLE_META, STORE_META_EXPIRED, &current,
			  error);
	if (status >= 0 && (status == 1 || strcmp(current.data, next) < 0))
		status = put_text(store, txn, TABLE_META, STORE_META_EXPIRED,
				  next, error);
	if (status >= 0)
		status = delete_text(store, txn, TABLE_DAY, day, error);
	strbuf_free(&current);
	if (status < 0)
		return abort_with(store, txn);
	return commit(store, txn, error);
}

int store_expire_day(struct store *store, const char *day,
		     struct store_expiry *expiry, struct strbuf *error)
{
	char prefix[DAY_PREFIX_LEN];

	memset(expiry, 0, sizeof(*expiry));
	if (strlen(day) != UTC_DAY_LEN) {
		strbuf_printf(error, "invalid day \"%s\"", day);
		return -1;
	}
	memcpy(prefix, day, UTC_DAY_LEN);
	prefix[UTC_DAY_LEN] = '\0';

	/* The day row goes last: if expiry stops halfway, the next run
	 * finds the day again and finishes it. */
	if (delete_prefix(store, TABLE_POLICY, prefix, sizeof(prefix),
			  &expiry->policies, error) != 0 ||
	    delete_prefix(store, TABLE_DETAIL, prefix, sizeof(prefix),
			  &expiry->details, error) != 0)
		return -1;
	return forget_day(store, day, error);
}

/* Delete up to STORE_EXPIRE_CHUNK batch IDs applied before a day. */
static int expire_batch_chunk(struct store *store, const char *before_day,
			      unsigned long long *deleted, struct strbuf *error)
{
	DB *applied = store->tables[TABLE_APPLIED];
	DB_TXN *txn;
	DBC *cursor;
	DBT key = dbt_empty();
	DBT data = dbt_empty();
	char id[QUEUE_ID_LEN + 1];
	int ret;

	*deleted = 0;
	if (begin(store, &txn, error) != 0)
		return -1;
	if ((ret = applied->cursor(applied, txn, &cursor, 0)) != 0) {
		db_failed(store, ret, error, "applied.db");
		return abort_with(store, txn);
	}
	while (*deleted < STORE_EXPIRE_CHUNK &&
	       (ret = cursor->get(cursor, &key, &data, DB_NEXT)) == 0) {
		size_t id_len = key.size - DAY_PREFIX_LEN;

		if (key.size <= DAY_PREFIX_LEN || id_len > QUEUE_ID_LEN ||
		    memcmp(key.data, before_day, UTC_DAY_LEN) >= 0)
			break;
		memcpy(id, (char *)key.data + DAY_PREFIX_LEN, id_len);
		id[id_len] = '\0';
		if (delete_text(store, txn, TABLE_BATCH, id, error) != 0) {
			cursor->close(cursor);
			return abort_with(store, txn);
		}
		if ((ret = cursor->del(cursor, 0)) != 0)
			break;
		(*deleted)++;
	}
	cursor->close(cursor);
	if (ret != 0 && ret != DB_NOTFOUND) {
		db_failed(store, ret, error, "applied.db");
		return abort_with(store, txn);
	}
	return commit(store, txn, error);
}

int store_expire_batches(struct store *store, const char *before_day,
			 unsigned long long *count, struct strbuf *error)
{
	unsigned long long deleted;

	*count = 0;
	if (strlen(before_day) != UTC_DAY_LEN) {
		strbuf_printf(error, "invalid day \"%s\"", before_day);
		return -1;
	}
	do {
		if (expire_batch_chunk(store, before_day, &deleted, error) != 0)
			return -1;
		*count += deleted;
	} while (deleted == STORE_EXPIRE_CHUNK);
	return 0;
}
