/*
 * recovery: repair and commit unfinished batches, remove other leftovers
 * of the receiver in tmp/; see recovery.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch_file.h"
#include "corrupt.h"
#include "msg.h"
#include "queue_file.h"
#include "recovery.h"
#include "xalloc.h"

/* Link the repaired file into incoming/ and make the link durable. */
static int link_into_incoming(const char *tmp_path, const char *id,
			      struct strbuf *error)
{
	char *path = xasprintf("%s/%s", QUEUE_INCOMING, id);
	int status = -1;

	if (link(tmp_path, path) != 0)
		strbuf_printf(error, "cannot link %s to %s: %s", tmp_path, path,
			      strerror(errno));
	else if (queue_fsync_dir(QUEUE_INCOMING) != 0)
		strbuf_printf(error, "cannot fsync %s/: %s", QUEUE_INCOMING,
			      strerror(errno));
	else
		status = 0;
	free(path);
	return status;
}

void recovery_commit_batch(const char *tmp_path, const char *id,
			   struct recovery_outcome *outcome,
			   struct strbuf *error)
{
	struct stat st;
	int status;

	memset(outcome, 0, sizeof(*outcome));
	outcome->result = RECOVERY_FAILED;
	if (lstat(tmp_path, &st) != 0 || !S_ISREG(st.st_mode)) {
		strbuf_printf(error, "%s is not a regular file", tmp_path);
		return;
	}

	/* Our only other link to a batch is its name in incoming/: the
	 * commit got that far and the receiver died before the unlink, or
	 * the directory fsync after the link failed. Rewriting the file now
	 * would change what the aggregator reads. */
	if (st.st_nlink > 1) {
		if (queue_fsync_dir(QUEUE_INCOMING) != 0) {
			strbuf_printf(error, "cannot fsync %s/: %s",
				      QUEUE_INCOMING, strerror(errno));
			return;
		}
		unlink(tmp_path);
		outcome->result = RECOVERY_ALREADY_COMMITTED;
		return;
	}

	status =
	    batch_recover(tmp_path, &outcome->kept, &outcome->dropped, error);
	if (status < 0)
		return;
	if (status > 0 || outcome->kept == 0) {
		unlink(tmp_path);
		outcome->result = RECOVERY_EMPTY;
		return;
	}
	if (link_into_incoming(tmp_path, id, error) != 0)
		return;
	unlink(tmp_path);
	outcome->result = RECOVERY_COMMITTED;
}

void recovery_log_outcome(const char *id,
			  const struct recovery_outcome *outcome,
			  const char *error)
{
	switch (outcome->result) {
	case RECOVERY_COMMITTED:
		msg_info("%s: recovered unfinished batch into %s/, "
			 "datagrams=%llu, dropped=%llu",
			 id, QUEUE_INCOMING, outcome->kept, outcome->dropped);
		break;
	case RECOVERY_EMPTY:
		if (outcome->dropped > 0)
			msg_warn("%s: unfinished batch held no whole datagram, "
				 "dropped=%llu",
				 id, outcome->dropped);
		else if (msg_verbose)
			msg_info("%s: removed empty unfinished batch", id);
		break;
	case RECOVERY_ALREADY_COMMITTED:
		msg_info("%s: removed %s/ copy of a batch already in %s/", id,
			 QUEUE_TMP, QUEUE_INCOMING);
		break;
	case RECOVERY_FAILED:
		msg_warn("%s: cannot recover unfinished batch: %s; the file "
			 "stays in %s/ for the next start",
			 id, error, QUEUE_TMP);
		break;
	}
}

/* Return the queue ID of "<owner>.<QUEUEID>", or NULL. */
static const char *owned_id(const char *name, const char *owner)
{
	size_t len = strlen(owner);

	if (strncmp(name, owner, len) != 0 || name[len] != '.' ||
	    !queue_id_valid(name + len + 1))
		return NULL;
	return name + len + 1;
}

static void recover_one(const char *name, const char *id,
			unsigned long long *kept, unsigned long long *dropped)
{
	char *path = xasprintf("%s/%s", QUEUE_TMP, name);
	struct recovery_outcome outcome;
	struct strbuf error;

	strbuf_init(&error);
	recovery_commit_batch(path, id, &outcome, &error);
	recovery_log_outcome(id, &outcome, error.data);
	*kept += outcome.kept;
	*dropped += outcome.dropped;
	strbuf_free(&error);
	free(path);
}

static void remove_leftover(const char *name)
{
	char *path = xasprintf("%s/%s", QUEUE_TMP, name);

	if (unlink(path) != 0 && errno != ENOENT)
		msg_warn("cannot remove %s: %s", path, strerror(errno));
	else if (msg_verbose)
		msg_info("removed unfinished corrupt file %s", path);
	free(path);
}

void recovery_run(struct receiver_counters *counters)
{
	unsigned long long kept = 0;
	unsigned long long dropped = 0;
	size_t batches = 0;
	char **names;
	size_t count;
	size_t i;

	if (queue_list(QUEUE_TMP, &names, &count) != 0)
		msg_fatal("cannot list %s/ in the queue directory: %s",
			  QUEUE_TMP, strerror(errno));
	for (i = 0; i < count; i++) {
		const char *id = owned_id(names[i], RECEIVER_BATCH_OWNER);

		if (id != NULL) {
			recover_one(names[i], id, &kept, &dropped);
			batches++;
		} else if (owned_id(names[i], CORRUPT_OWNER) != NULL) {
			remove_leftover(names[i]);
		}
	}
	queue_list_free(names, count);
	counter_add(&counters->recovered, kept);
	counter_add(&counters->torn, dropped);
	if (kept > 0 || dropped > 0)
		msg_info("recovery: %zu unfinished batches, datagrams=%llu, "
			 "dropped=%llu",
			 batches, kept, dropped);
}
