/*
 * receive_loop: drain the socket, validate, append or reject, and close
 * batches on time; see receive_loop.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "datagram.h"
#include "json_arena.h"
#include "monotonic.h"
#include "receive_loop.h"
#include "utc_time.h"
#include "xalloc.h"

#define MAX_GROUPS 32	  /* recvmmsg() calls before signals are checked */
#define CLOSE_RETRY_MS 20 /* wait before asking again for a spare batch */

/* Reset the first count message headers, the ones that the previous
 * recvmmsg() call filled; the kernel leaves the others as they were. */
static void prepare_group(struct receive_loop *loop, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		struct msghdr *header = &loop->messages[i].msg_hdr;

		loop->vectors[i].iov_base =
		    loop->data + i * (size_t)DATAGRAM_MAX_SIZE;
		loop->vectors[i].iov_len = DATAGRAM_MAX_SIZE;
		memset(header, 0, sizeof(*header));
		header->msg_iov = &loop->vectors[i];
		header->msg_iovlen = 1;
		header->msg_control = loop->control + i * loop->control_len;
		header->msg_controllen = loop->control_len;
		loop->messages[i].msg_len = 0;
	}
}

void receive_loop_init(struct receive_loop *loop, int fd,
		       struct committer *committer,
		       struct receiver_counters *counters,
		       struct receiver_settings *settings,
		       struct open_batch *first_batch)
{
	struct msg_rate mismatch_rate = MSG_RATE_INIT("failure-details count "
						      "mismatch",
						      10, 60);
	struct msg_rate write_rate = MSG_RATE_INIT("cannot write batch", 1, 60);
	struct msg_rate behind_rate =
	    MSG_RATE_INIT("commit thread behind", 1, 60);
	struct msg_rate unauthorized_rate =
	    MSG_RATE_INIT("rejected datagram from unauthorized uid", 10, 60);

	memset(loop, 0, sizeof(*loop));
	loop->fd = fd;
	loop->committer = committer;
	loop->counters = counters;
	loop->settings = settings;
	loop->batch = first_batch;
	loop->mismatch_rate = mismatch_rate;
	loop->write_rate = write_rate;
	loop->behind_rate = behind_rate;
	loop->unauthorized_rate = unauthorized_rate;
	loop->messages = xcalloc(RECEIVE_GROUP, sizeof(*loop->messages));
	loop->vectors = xcalloc(RECEIVE_GROUP, sizeof(*loop->vectors));
	loop->data = xmalloc((size_t)RECEIVE_GROUP * DATAGRAM_MAX_SIZE);
	loop->control_len = CMSG_SPACE(sizeof(struct ucred));
	loop->control = xmalloc(RECEIVE_GROUP * loop->control_len);
	loop->line = xmalloc(DATAGRAM_MAX_SIZE);
	prepare_group(loop, RECEIVE_GROUP);
	loop->filled = 0;
	strbuf_init(&loop->reason);
	json_arena_install();
}

/* Close file descriptors that a sender passed with SCM_RIGHTS: the
 * receiver never uses them, and keeping them would leak. */
static void close_passed_fds(const struct cmsghdr *cmsg)
{
	size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	size_t i;

	for (i = 0; i < count; i++) {
		int fd;

		memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(fd));
		close(fd);
	}
}

/* Return the sender's uid from SCM_CREDENTIALS, or -1. */
static long long peer_uid(struct msghdr *header)
{
	struct cmsghdr *cmsg;
	struct ucred credentials;
	long long uid = -1;

	for (cmsg = CMSG_FIRSTHDR(header); cmsg != NULL;
	     cmsg = CMSG_NXTHDR(header, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET)
			continue;
		if (cmsg->cmsg_type == SCM_CREDENTIALS &&
		    cmsg->cmsg_len >= CMSG_LEN(sizeof(credentials))) {
			memcpy(&credentials, CMSG_DATA(cmsg),
			       sizeof(credentials));
			uid = (long long)credentials.uid;
		} else if (cmsg->cmsg_type == SCM_RIGHTS) {
			close_passed_fds(cmsg);
		}
	}
	return uid;
}

static void note_write_failure(struct receive_loop *loop)
{
	struct batch_writer *writer = &loop->batch->writer;

	if (loop->batch->write_failed)
		return;
	loop->batch->write_failed = true;
	if (msg_rate_allow(&loop->write_rate))
		msg_error("%s: cannot write batch %s: %s; closing it",
			  writer->file.id, writer->file.tmp_path,
			  strerror(errno));
}

static void flush_batch(struct receive_loop *loop)
{
	if (batch_writer_flush(&loop->batch->writer) != 0)
		note_write_failure(loop);
}

/* Hand the open batch to the commit thread if a spare one is ready. */
static void close_batch(struct receive_loop *loop)
{
	struct open_batch *spare;

	flush_batch(loop);
	spare = committer_take_spare(loop->committer);
	if (spare == NULL) {
		if (!loop->close_pending && msg_rate_allow(&loop->behind_rate))
			msg_warn("%s: no next batch file ready, the commit "
				 "thread is behind; keeping this batch open",
				 loop->batch->writer.file.id);
		loop->close_pending = true;
		return;
	}
	committer_close_batch(loop->committer, loop->batch);
	loop->batch = spare;
	loop->first_ms = 0;
	loop->close_pending = false;
}

static bool batch_due(const struct receive_loop *loop)
{
	const struct open_batch *batch = loop->batch;
	long long size = atomic_load(&loop->settings->batch_size);
	long long interval = atomic_load(&loop->settings->batch_interval_ms);

	if (batch->writer.count == 0 && !batch->write_failed)
		return false;
	return loop->close_pending || batch->write_failed ||
	       batch->writer.count >= (unsigned long long)size ||
	       monotonic_ms() - loop->first_ms >= interval;
}

void receive_loop_close_if_due(struct receive_loop *loop)
{
	if (batch_due(loop))
		close_batch(loop);
}

/* Milliseconds until the open batch is due, or -1 when it is empty. */
int receive_loop_timeout_ms(const struct receive_loop *loop)
{
	const struct open_batch *batch = loop->batch;
	long long interval = atomic_load(&loop->settings->batch_interval_ms);
	long long remaining;

	if (batch->writer.count == 0 && !batch->write_failed)
		return -1;
	if (loop->close_pending || batch->write_failed)
		return CLOSE_RETRY_MS;
	remaining = loop->first_ms + interval - monotonic_ms();
	if (remaining < 0)
		return 0;
	return remaining > 1000000 ? 1000000 : (int)remaining;
}

static void reject(struct receive_loop *loop, enum datagram_error error,
		   time_t now, long long uid, size_t size, const void *data,
		   size_t data_len)
{
	struct corrupt_datagram *datagram;

	counter_add(&loop->counters->rejected, 1);
	counter_add(&loop->counters->rejected_class[error], 1);
	datagram = corrupt_datagram_new(now, uid, size, data, data_len,
					loop->reason.data);
	if (!committer_queue_corrupt(loop->committer, datagram)) {
		corrupt_datagram_free(datagram);
		counter_add(&loop->counters->corrupt_dropped, 1);
	}
}

/* Count and log a datagram from a sender that receiver_authorized_users
 * does not admit. It is not saved in corrupt/: nothing is wrong with it,
 * and a local user who may not send must not fill corrupt/ either. */
static void reject_unauthorized(struct receive_loop *loop, long long uid,
				size_t size)
{
	counter_add(&loop->counters->rejected, 1);
	counter_add(&loop->counters->unauthorized, 1);
	if (!msg_rate_allow(&loop->unauthorized_rate))
		return;
	if (uid < 0)
		msg_warn("rejected datagram of %zu bytes without sender "
			 "credentials: receiver_authorized_users is set; not "
			 "saved", size);
	else
		msg_warn("rejected datagram of %zu bytes from unauthorized uid "
			 "%lld: not in receiver_authorized_users; not saved",
			 size, uid);
}

/* Log each protocol version other than "1" once. */
static void note_version(struct receive_loop *loop, const char *version,
			 long long uid)
{
	size_t i;

	if (strcmp(version, "1") == 0)
		return;
	for (i = 0; i < loop->version_count; i++)
		if (strcmp(loop->versions[i], version) == 0)
			return;
	if (loop->version_count == RECEIVE_MAX_VERSIONS)
		return;
	snprintf(loop->versions[loop->version_count++],
		 sizeof(loop->versions[0]), "%s", version);
	msg_warn("datagram protocol version \"%s\" from uid %lld is not the "
		 "known version 1; its datagrams are accepted when they "
		 "validate as version 1",
		 version, uid);
}

static void note_count_mismatch(struct receive_loop *loop,
				const struct datagram *dg, long long uid)
{
	const struct datagram_policy *policy;
	size_t index;

	if (!datagram_detail_count_mismatch(dg, &index))
		return;
	counter_add(&loop->counters->count_mismatch, 1);
	if (!msg_rate_allow(&loop->mismatch_rate))
		return;
	policy = &dg->policies[index];
	msg_warn("datagram for %.80s from uid %lld: policies[%zu].t is %lld "
		 "but failure-details has %zu entries; keeping the datagram "
		 "with the entries it has",
		 dg->domain, uid, index, policy->declared_details,
		 policy->detail_count);
}

static void append(struct receive_loop *loop, time_t now, const char *line,
		   size_t len)
{
	struct open_batch *batch = loop->batch;
	long long size = atomic_load(&loop->settings->batch_size);

	if (batch->writer.count == 0)
		loop->first_ms = monotonic_ms();
	if (batch_writer_append(&batch->writer, now, line, len) != 0)
		note_write_failure(loop);
	if (batch->writer.count >= (unsigned long long)size)
		close_batch(loop);
}

static void accept_or_reject(struct receive_loop *loop, time_t now,
			     long long uid, const void *data, size_t size)
{
	struct datagram dg;

	strbuf_reset(&loop->reason);
	if (datagram_parse(data, size, &dg, &loop->reason) != 0) {
		enum datagram_error error = dg.error;

		datagram_free(&dg);
		json_arena_reset();
		reject(loop, error, now, uid, size, data, size);
		return;
	}
	note_version(loop, dg.version, uid);
	note_count_mismatch(loop, &dg, uid);
	datagram_free(&dg);
	json_arena_reset();

	append(loop, now, datagram_line(data, size, loop->line), size);
	counter_add(&loop->counters->accepted, 1);
}

static void handle_datagram(struct receive_loop *loop, size_t index, time_t now)
{
	struct mmsghdr *message = &loop->messages[index];
	const void *data = loop->vectors[index].iov_base;
	long long uid = peer_uid(&message->msg_hdr);
	size_t size = message->msg_len;

	counter_add(&loop->counters->received, 1);
	counter_add(&loop->counters->bytes, size);
	if (!authorized_users_admit(&loop->settings->authorized, uid)) {
		reject_unauthorized(loop, uid, size);
		return;
	}

	/* With MSG_TRUNC, Linux reports the datagram's real size. */
	if ((message->msg_hdr.msg_flags & MSG_TRUNC) != 0 ||
	    size > DATAGRAM_MAX_SIZE) {
		size_t data_len =
		    size < DATAGRAM_MAX_SIZE ? size : DATAGRAM_MAX_SIZE;

		counter_add(&loop->counters->truncated, 1);
		strbuf_reset(&loop->reason);
		strbuf_printf(&loop->reason, "datagram larger than %d bytes",
			      DATAGRAM_MAX_SIZE);
		reject(loop, DATAGRAM_ERROR_SIZE, now, uid, size, data,
		       data_len);
		return;
	}
	accept_or_reject(loop, now, uid, data, size);
}

/*
 * Read what the socket holds. Returns 0 when the queue is empty or after
 * MAX_GROUPS calls, -1 with errno set on a socket error.
 */
int receive_loop_drain(struct receive_loop *loop)
{
	int groups;

	for (groups = 0; groups < MAX_GROUPS; groups++) {
		time_t now;
		int count;
		int i;

		prepare_group(loop, loop->filled);
		loop->filled = 0;
		count = recvmmsg(loop->fd, loop->messages, RECEIVE_GROUP,
				 MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC,
				 NULL);
		if (count < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ||
				       errno == EINTR
				   ? 0
				   : -1;

		/* NOTE: from here until flush_batch() the group exists only
		 * in this process, so a SIGKILL now loses it. Peeking first
		 * would trade that loss for duplicates after a restart. */
		loop->filled = (size_t)count;
		now = utc_now();
		for (i = 0; i < count; i++)
			handle_datagram(loop, (size_t)i, now);

		/* The group reaches the page cache before the next read. */
		flush_batch(loop);
		receive_loop_close_if_due(loop);
		if (count < RECEIVE_GROUP)
			break;
	}
	return 0;
}

/* Hand the open batch, even an empty one, to the commit thread. */
void receive_loop_finish(struct receive_loop *loop)
{
	flush_batch(loop);
	committer_close_batch(loop->committer, loop->batch);
	loop->batch = NULL;
	free(loop->messages);
	free(loop->vectors);
	free(loop->data);
	free(loop->control);
	free(loop->line);
	strbuf_free(&loop->reason);
}
