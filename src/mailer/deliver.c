/*
 * deliver: one attempt, its outcome and the queue move (see deliver.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "deliver.h"
#include "msg.h"
#include "queue_file.h"
#include "report_mail.h"
#include "transport.h"
#include "utc_time.h"
#include "xalloc.h"

void attempt_set(struct attempt *attempt, enum attempt_status status,
		 const char *format, ...)
{
	va_list ap;

	attempt->status = status;
	strbuf_reset(&attempt->reason);
	va_start(ap, format);
	strbuf_vprintf(&attempt->reason, format, ap);
	va_end(ap);
}

static const char *destination_of(const struct delivery *delivery)
{
	const char *redirect = config_str("delivery_redirect");

	return redirect[0] != '\0' ? redirect : delivery->destination;
}

static bool has_scheme(const char *uri, const char *scheme)
{
	return strncasecmp(uri, scheme, strlen(scheme)) == 0;
}

static void attempt_destination(const struct delivery *delivery,
				const char *uri, struct attempt *attempt)
{
	if (has_scheme(uri, "mailto:")) {
		transport_mailto(delivery, uri, attempt);
	} else if (has_scheme(uri, "file:")) {
		transport_file(delivery, uri, attempt);
	} else if (has_scheme(uri, "https:")) {
		transport_https(delivery, uri, attempt);
	} else {
		attempt_set(attempt, ATTEMPT_BOUNCED, "unsupported destination "
			    "\"%s\": only mailto:, https: and file: are "
			    "supported", uri);
	}
}

/* Return the seconds to wait before the next attempt, given the number
 * of attempts made so far. */
static time_t retry_delay(unsigned attempts)
{
	long long minimum = config_time("minimal_backoff_time");
	long long maximum = config_time("maximal_backoff_time");
	long long delay = minimum;
	unsigned i;

	for (i = 1; i < attempts && delay < maximum; i++)
		delay *= 2;
	if (delay > maximum)
		delay = maximum;

	/* Jitter, so that reports deferred together do not retry in step. */
	delay += delay * (random() % 1001) / 10000;
	return (time_t)delay;
}

/* Record the attempt in the delivery. Returns the directory it goes to. */
static const char *apply_outcome(struct delivery *delivery,
				 struct attempt *attempt)
{
	long long lifetime = config_time("maximal_queue_lifetime");

	delivery->attempts = attempt->number;
	if (delivery->first_attempt == 0)
		delivery->first_attempt = attempt->now;
	delivery->next_attempt = 0;

	if (attempt->status == ATTEMPT_DEFERRED
	    && attempt->now - delivery->first_attempt >= lifetime) {
		struct strbuf reason;

		strbuf_init(&reason);
		strbuf_printf(&reason, "gave up after %u attempts: delivery "
			      "time limit of %llds (maximal_queue_lifetime) "
			      "exceeded; last error: %s", attempt->number,
			      lifetime, attempt->reason.data);
		attempt_set(attempt, ATTEMPT_BOUNCED, "%s", reason.data);
		strbuf_free(&reason);
	}

	free(delivery->last_error);
	delivery->last_error = xstrdup(attempt->status == ATTEMPT_SENT ? ""
				       : attempt->reason.data);
	switch (attempt->status) {
	case ATTEMPT_SENT:
		return QUEUE_SENT;
	case ATTEMPT_DEFERRED:
		delivery->next_attempt = attempt->now
			+ retry_delay(delivery->attempts);
		return QUEUE_DEFERRED;
	case ATTEMPT_BOUNCED:
		break;
	}
	return QUEUE_FAILED;
}

/*
 * Store the updated delivery as to_dir/id and remove from_dir/id.
 * delivery_write() links without overwriting, but a retry rewrites
 * deferred/ID in place, and a crash between a write and the unlink can
 * leave an older copy of the same delivery in to_dir. So the new version
 * is committed under tmp/ and then renamed over to_dir/id in one step.
 * Returns 0, or -1 with errno set.
 */
static int requeue(const struct delivery *delivery, const char *from_dir,
		   const char *id, const char *to_dir)
{
	char *staged_name = xasprintf("%s.%s.next", MAILER_OWNER, id);
	char *staged = xasprintf("%s/%s", QUEUE_TMP, staged_name);
	char *target = xasprintf("%s/%s", to_dir, id);
	char *source = xasprintf("%s/%s", from_dir, id);
	int status = -1;
	int saved;

	unlink(staged);
	if (delivery_write(delivery, MAILER_OWNER, QUEUE_TMP, staged_name,
			   NULL) != 0)
		goto done;
	if (rename(staged, target) != 0) {
		saved = errno;
		unlink(staged);
		errno = saved;
		goto done;
	}
	if (queue_fsync_dir(to_dir) != 0)
		goto done;
	if (strcmp(from_dir, to_dir) != 0
	    && (unlink(source) != 0 || queue_fsync_dir(from_dir) != 0))
		goto done;
	status = 0;

done:
	saved = errno;
	free(staged_name);
	free(staged);
	free(target);
	free(source);
	errno = saved;
	return status;
}

/* Move a sent report's file from dir to sent/ unchanged. A sent/ copy
 * that exists already is the newer version, which a requeue() renamed
 * there before a directory fsync failed; then only dir/id is removed. */
static int move_sent(const char *dir, const char *id)
{
	char *path;
	int status;

	if (queue_move(dir, id, QUEUE_SENT) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	path = xasprintf("%s/%s", dir, id);
	status = unlink(path);
	if (status == 0)
		status = queue_fsync_dir(dir);
	free(path);
	return status;
}

/* Store the outcome; returns false for a sent report that is still in
 * from_dir. */
static bool store_outcome(const struct delivery *delivery,
			  const char *from_dir, const char *id,
			  const char *to_dir, enum attempt_status status)
{
	if (requeue(delivery, from_dir, id, to_dir) == 0)
		return true;
	msg_error("%s: cannot store the delivery in %s/: %s", id, to_dir,
		  strerror(errno));
	if (status != ATTEMPT_SENT) {
		msg_warn("%s: the delivery stays in %s/ and is tried again",
			 id, from_dir);
		return true;
	}

	/* A sent report left in outgoing/ would be sent again at every
	 * scan, so move the old file unchanged, which needs no disk space. */
	if (move_sent(from_dir, id) == 0)
		return true;
	msg_error("%s: cannot move %s/%s to %s/ either: %s; the mailer "
		  "retries the move and does not deliver the report again, "
		  "unless it is restarted first", id, from_dir, id,
		  QUEUE_SENT, strerror(errno));
	return false;
}

/* Seconds since the report was queued. utc_now() counts whole seconds,
 * so the fraction comes from the real-time clock. */
static double delay_since(const char *created, time_t now)
{
	struct timespec clock;
	time_t start;
	double delay;

	if (utc_time_parse(created, &start) != 0)
		return 0;
	clock_gettime(CLOCK_REALTIME, &clock);
	delay = (double)(now - start) + (double)clock.tv_nsec / 1e9;
	return delay > 0 ? delay : 0;
}

/* The recipient for the log: the address of a mailto: URI, else the URI. */
static void format_recipient(const char *uri, struct strbuf *out)
{
	struct strbuf error;

	strbuf_init(&error);
	if (report_mail_address(uri, out, &error) != 0) {
		strbuf_reset(out);
		strbuf_puts(out, uri);
	}
	strbuf_free(&error);
}

static void log_attempt(const struct delivery *delivery, const char *uri,
			const struct attempt *attempt)
{
	static const char *const status_names[] = {
		[ATTEMPT_SENT] = "sent",
		[ATTEMPT_DEFERRED] = "deferred",
		[ATTEMPT_BOUNCED] = "bounced",
	};
	struct strbuf to, orig_to, orig_field;

	strbuf_init(&to);
	strbuf_init(&orig_to);
	strbuf_init(&orig_field);
	format_recipient(uri, &to);
	if (strcmp(uri, delivery->destination) != 0) {
		format_recipient(delivery->destination, &orig_to);
		strbuf_printf(&orig_field, "orig_to=<%s>, ", orig_to.data);
	}
	msg_info("%s: to=<%s>, %srelay=%s, delay=%.2f, status=%s (%s)",
		 attempt->queue_id, to.data, orig_field.data,
		 attempt->relay.data,
		 delay_since(delivery->created, attempt->now),
		 status_names[attempt->status], attempt->reason.data);
	strbuf_free(&to);
	strbuf_free(&orig_to);
	strbuf_free(&orig_field);
}

static struct msg_rate move_errors = MSG_RATE_INIT("corrupt file move", 10,
						    3600);

int deliver_read(const char *dir, const char *id, struct delivery *delivery,
		 enum deliver_result *failure)
{
	char *path = xasprintf("%s/%s", dir, id);
	struct strbuf error;
	int status = 0;

	strbuf_init(&error);
	if (delivery_read(path, delivery, &error) == 0)
		goto done;
	status = -1;
	*failure = DELIVER_GONE;
	if (access(path, F_OK) != 0)
		goto done;
	*failure = DELIVER_CORRUPT;
	msg_warn("%s: invalid delivery file %s: %s; moving it to %s/", id,
		 path, error.data, QUEUE_CORRUPT);
	if (queue_move(dir, id, QUEUE_CORRUPT) != 0
	    && msg_rate_allow(&move_errors))
		msg_error("%s: cannot move %s to %s/: %s", id, path,
			  QUEUE_CORRUPT, strerror(errno));

done:
	strbuf_free(&error);
	free(path);
	return status;
}

static void init_attempt(struct attempt *attempt, const char *id,
			 const struct delivery *delivery,
			 const struct mailer_keys *keys)
{
	memset(attempt, 0, sizeof(*attempt));
	attempt->queue_id = id;
	/* The count stops at the largest value a delivery file may hold. */
	attempt->number = delivery->attempts < DELIVERY_MAX_ATTEMPTS
				  ? delivery->attempts + 1
				  : DELIVERY_MAX_ATTEMPTS;
	attempt->now = utc_now();
	attempt->keys = keys;
	strbuf_init(&attempt->relay);
	strbuf_init(&attempt->reason);
	strbuf_puts(&attempt->relay, "none");
}

/* Record, log and store the outcome of an attempt. */
static enum deliver_result finish_attempt(struct delivery *delivery,
					  const char *uri, const char *dir,
					  const char *id,
					  struct attempt *attempt)
{
	const char *to_dir = apply_outcome(delivery, attempt);
	bool stored;

	log_attempt(delivery, uri, attempt);
	stored = store_outcome(delivery, dir, id, to_dir, attempt->status);
	strbuf_free(&attempt->relay);
	strbuf_free(&attempt->reason);
	if (!stored)
		return DELIVER_SENT_UNMOVED;
	return attempt->status == ATTEMPT_SENT ? DELIVER_SENT
		: attempt->status == ATTEMPT_DEFERRED ? DELIVER_DEFERRED
		: DELIVER_BOUNCED;
}

/*
 * Open dir/id and lock it for the attempt. The lock is released when
 * the descriptor is closed, after the file has moved. Returns the
 * descriptor, or -1 with *failure set: DELIVER_BUSY when someone else
 * holds the lock, DELIVER_GONE when the file is no longer at dir/id
 * (it may have moved between the open and the lock).
 */
static int lock_file(const char *dir, const char *id,
		     enum deliver_result *failure)
{
	char *path = xasprintf("%s/%s", dir, id);
	struct stat locked, current;
	/* O_NONBLOCK: a FIFO in the queue must not block the open. */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	*failure = DELIVER_GONE;
	if (fd < 0)
		goto done;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		*failure = DELIVER_BUSY;
		msg_info("%s: %s is locked by another process; trying again "
			 "later", id, path);
		goto fail;
	}
	if (fstat(fd, &locked) != 0 || stat(path, &current) != 0
	    || locked.st_dev != current.st_dev
	    || locked.st_ino != current.st_ino)
		goto fail;
	goto done;

fail:
	close(fd);
	fd = -1;
done:
	free(path);
	return fd;
}

enum deliver_result deliver_file(const char *dir, const char *id,
				 const struct mailer_keys *keys)
{
	struct delivery delivery;
	struct attempt attempt;
	enum deliver_result result;
	const char *uri;
	int lock = lock_file(dir, id, &result);

	if (lock < 0)
		return result;
	if (deliver_read(dir, id, &delivery, &result) != 0) {
		close(lock);
		return result;
	}
	uri = destination_of(&delivery);
	init_attempt(&attempt, id, &delivery, keys);
	attempt_destination(&delivery, uri, &attempt);
	result = finish_attempt(&delivery, uri, dir, id, &attempt);
	delivery_free(&delivery);
	close(lock);
	return result;
}

void deliver_abandon(const char *dir, const char *id, const char *reason)
{
	struct delivery delivery;
	struct attempt attempt;
	enum deliver_result ignored;
	int lock = lock_file(dir, id, &ignored);

	if (lock < 0)
		return;
	if (deliver_read(dir, id, &delivery, &ignored) != 0) {
		close(lock);
		return;
	}
	init_attempt(&attempt, id, &delivery, NULL);
	attempt_set(&attempt, ATTEMPT_DEFERRED, "%s", reason);
	finish_attempt(&delivery, destination_of(&delivery), dir, id,
		       &attempt);
	delivery_free(&delivery);
	close(lock);
}

int deliver_move_sent(const char *dir, const char *id)
{
	enum deliver_result failure;
	int lock = lock_file(dir, id, &failure);
	int status;
	int saved;

	if (lock < 0) {
		if (failure == DELIVER_GONE)
			return 0;
		errno = EWOULDBLOCK;
		return -1;
	}
	status = move_sent(dir, id);
	saved = errno;
	close(lock);
	errno = saved;
	return status;
}
