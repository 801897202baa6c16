/*
 * queue_file: the durability discipline of every queue file.
 *
 * A queue file is written under tmp/, flushed and fsync'ed, then linked
 * into its directory without overwriting anything, after which the
 * directory itself is fsync'ed. A reader therefore never sees a partial
 * file, and a committed file survives an operating-system crash.
 *
 * Every path here is relative to the queue directory: the daemons chdir
 * there at start, as Postfix daemons do.
 *
 * Queue IDs are 24 upper-case hex digits: seconds (9), microseconds (5),
 * process ID (6) and a per-process counter (4). They are unique without
 * coordination and sort by creation time.
 *
 * Functions return 0 on success and -1 with errno set on failure.
 */
#ifndef TLSRPTD_QUEUE_FILE_H
#define TLSRPTD_QUEUE_FILE_H

#include <stdbool.h>
#include <stdio.h>

#define QUEUE_ID_LEN	24

/* Queue subdirectories, as named in the design. */
#define QUEUE_TMP	"tmp"
#define QUEUE_INCOMING	"incoming"
#define QUEUE_CORRUPT	"corrupt"
#define QUEUE_OUTGOING	"outgoing"
#define QUEUE_DEFERRED	"deferred"
#define QUEUE_HOLD	"hold"
#define QUEUE_SENT	"sent"
#define QUEUE_FAILED	"failed"
#define QUEUE_DB	"db"
#define QUEUE_DAYS	"days"
#define QUEUE_REQUESTS	"requests"
#define QUEUE_EXPORT	"export"
#define QUEUE_PID	"pid"
#define QUEUE_PRIVATE	"private"

void queue_id_new(char id[QUEUE_ID_LEN + 1]);
bool queue_id_valid(const char *id);

/*
 * A file being written under tmp/ as "tmp/<owner>.<id>". Commit links it
 * as "<dir>/<name>", or "<dir>/<id>" when name is NULL.
 *
 * A commit has two stages, and a failure leaves the file in tmp/ either
 * way. Until synced is true, a failure means the content may be
 * incomplete (a write, flush or fsync failed): the caller either aborts
 * or repairs the file at tmp_path. Once synced is true, the content is
 * whole and durable, and only the link or the directory fsync failed: the
 * caller may call queue_file_commit() again later, which does not
 * rewrite anything. A link that exists while its directory fsync failed
 * stays in place for the retry (linked_path), and an abort takes it
 * back.
 */
struct queue_file {
	FILE *fp;		/* NULL once closed */
	char *tmp_path;		/* NULL once committed or aborted */
	char *linked_path;	/* linked, directory fsync still missing */
	bool synced;		/* content durable, fp closed */
	char id[QUEUE_ID_LEN + 1];
};

int queue_file_create(struct queue_file *file, const char *owner);
int queue_file_sync(struct queue_file *file);
int queue_file_commit(struct queue_file *file, const char *dir,
		      const char *name);
void queue_file_abort(struct queue_file *file);

/*
 * Files committed together into one directory, each linked under its
 * queue ID. Staged files are written without an fsync each. The batch
 * commit pushes them all to the disk at once, fsyncs each, links each,
 * and fsyncs the directory once: two fsyncs per file become one, and
 * most of the waiting overlaps.
 *
 * A failed batch commit takes back every link it made, so nothing of the
 * batch is left in the directory. Its files stay staged until
 * queue_batch_reset(), which removes what was not committed, so a caller
 * rebuilds the batch rather than retrying it. After a successful commit,
 * files[i].id names what was committed until the reset.
 */
struct queue_batch {
	const char *dir;
	struct queue_file *files;
	size_t count;
	size_t size;		/* allocated entries */
};

void queue_batch_init(struct queue_batch *batch, const char *dir);
void queue_batch_add(struct queue_batch *batch, struct queue_file *file);
int queue_batch_commit(struct queue_batch *batch);
void queue_batch_reset(struct queue_batch *batch);
void queue_batch_free(struct queue_batch *batch);

int queue_move(const char *from_dir, const char *name, const char *to_dir);
int queue_fsync_dir(const char *dir);
int queue_list(const char *dir, char ***names, size_t *count);
void queue_list_free(char **names, size_t count);
int queue_read_file(const char *path, size_t max_size, char **data,
		    size_t *len);

#endif
