/*
 * receive_loop: read datagrams from the socket, validate them and append
 * the valid ones to the open batch, without ever waiting on the disk.
 *
 * Each call to receive_loop_drain() reads up to RECEIVE_GROUP datagrams
 * per recvmmsg() call until the socket queue is empty (or MAX_GROUPS
 * calls have run, so that signals are seen in time). Every datagram is
 * checked with datagram_parse(): a valid one is appended to the open
 * batch as compact JSON after its UTC receive time, an invalid one goes
 * to the commit thread for corrupt/. After each group the batch is
 * flushed to the kernel, so a SIGKILL loses nothing that was flushed;
 * a SIGKILL while a group is being checked loses that group.
 *
 * A datagram larger than DATAGRAM_MAX_SIZE is truncated by the kernel
 * (MSG_TRUNC) and rejected; its first DATAGRAM_MAX_SIZE bytes are saved.
 *
 * The batch is closed after receiver_batch_size datagrams or
 * receiver_batch_interval after its first datagram, whichever comes
 * first, and swapped for the batch that the commit thread pre-opened.
 * When none is ready yet, the batch stays open and the swap is retried
 * soon after, rather than waiting.
 */
#ifndef TLSRPTD_RECEIVER_RECEIVE_LOOP_H
#define TLSRPTD_RECEIVER_RECEIVE_LOOP_H

#include <stdbool.h>
#include <sys/socket.h>

#include "committer.h"
#include "counters.h"
#include "datagram.h"
#include "msg.h"
#include "strbuf.h"

#define RECEIVE_GROUP 64	/* datagrams per recvmmsg() call */
#define RECEIVE_MAX_VERSIONS 16 /* dpv values remembered for logging */

struct receive_loop {
	int fd;
	struct committer *committer;
	struct receiver_counters *counters;
	struct receiver_settings *settings;

	struct open_batch *batch; /* the open batch */
	long long first_ms;	  /* monotonic time of its first line */
	bool close_pending;	  /* due, but no spare batch was ready */

	/* recvmmsg() buffers: RECEIVE_GROUP * DATAGRAM_MAX_SIZE bytes of
	 * data, touched only as far as datagrams fill them. */
	struct mmsghdr *messages;
	struct iovec *vectors;
	unsigned char *data;
	unsigned char *control;
	size_t control_len;
	size_t filled; /* messages the last recvmmsg() call filled */
	char *line; /* the batch line of one datagram */

	struct strbuf reason;
	char versions[RECEIVE_MAX_VERSIONS][DATAGRAM_MAX_VERSION + 1];
	size_t version_count;
	struct msg_rate mismatch_rate;
	struct msg_rate write_rate;
	struct msg_rate behind_rate;
	struct msg_rate unauthorized_rate;
};

void receive_loop_init(struct receive_loop *loop, int fd,
		       struct committer *committer,
		       struct receiver_counters *counters,
		       struct receiver_settings *settings,
		       struct open_batch *first_batch);
int receive_loop_drain(struct receive_loop *loop);
void receive_loop_close_if_due(struct receive_loop *loop);
int receive_loop_timeout_ms(const struct receive_loop *loop);
void receive_loop_finish(struct receive_loop *loop);

#endif
