/*
 * recovery: commit the batches that a receiver left unfinished in tmp/.
 *
 * The receive loop pushes every drained group of datagrams to the kernel,
 * so a receiver killed with SIGKILL leaves its open batch as
 * tmp/receiver.<QUEUEID> with every datagram it had read, perhaps with a
 * torn last line. At start, before the socket is read, each such file is
 * repaired with batch_recover() (whole lines kept, a torn line dropped,
 * the end record added) and linked into incoming/ under its queue ID. A
 * file that is already linked into incoming/ (the receiver died between
 * link and unlink) is only removed from tmp/. Corrupt files in progress
 * (tmp/receiver-corrupt.*) are removed; the datagram they held was
 * already counted and logged as rejected. recovery_run() adds the
 * datagrams it kept to the "recovered" counter and the lines it dropped
 * to "torn".
 *
 * The commit thread uses recovery_commit_batch() as well, for a batch
 * whose writes failed: repairing the file keeps every whole line that
 * reached it.
 */
#ifndef TLSRPTD_RECEIVER_RECOVERY_H
#define TLSRPTD_RECEIVER_RECOVERY_H

#include "counters.h"
#include "strbuf.h"

#define RECEIVER_BATCH_OWNER "receiver" /* tmp/ file prefix */

enum recovery_result {
	RECOVERY_COMMITTED,	    /* linked into incoming/ */
	RECOVERY_EMPTY,		    /* no whole line; removed */
	RECOVERY_ALREADY_COMMITTED, /* was in incoming/; tmp copy removed */
	RECOVERY_FAILED,	    /* left in tmp/; error says why */
};

struct recovery_outcome {
	enum recovery_result result;
	unsigned long long kept;    /* datagrams committed */
	unsigned long long dropped; /* torn or malformed lines */
};

void recovery_commit_batch(const char *tmp_path, const char *id,
			   struct recovery_outcome *outcome,
			   struct strbuf *error);
void recovery_log_outcome(const char *id,
			  const struct recovery_outcome *outcome,
			  const char *error);
void recovery_run(struct receiver_counters *counters);

#endif
