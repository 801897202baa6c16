/*
 * file_transport: deliver a report to a file:DIR destination, for
 * trials (delivery_redirect = file:DIR) and previews.
 *
 * Two files appear in DIR: the gzip'd report under its RFC 8460 file
 * name, and the message that would have been mailed as <queue ID>.eml,
 * addressed to the first mailto: address of the record (or postmaster
 * of the report domain) and DKIM-signed like a mailed one. Each is written to a hidden temporary file in
 * DIR, fsync'ed and renamed into place, so a reader of DIR never finds
 * a partial file. A repeated delivery of the same report replaces its
 * files. DIR must exist already: a missing directory defers the
 * delivery, so reports wait until the admin creates it.
 *
 * A relative DIR is relative to queue_directory, the mailer's working
 * directory. With chroot, DIR must be inside the queue directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue_file.h"
#include "report_mail.h"
#include "transport.h"
#include "xalloc.h"

#define OUTPUT_FILE_MODE	0644

static int write_all(int fd, const void *data, size_t len)
{
	const char *next = data;

	while (len > 0) {
		ssize_t written = write(fd, next, len);

		if (written < 0 && errno == EINTR)
			continue;
		if (written < 0)
			return -1;
		next += written;
		len -= (size_t)written;
	}
	return 0;
}

/* Write DIR/NAME through a temporary file and rename(). Returns 0, or
 * -1 with errno set. */
static int write_file_atomic(const char *dir, const char *name,
			     const void *data, size_t len)
{
	char *temp = xasprintf("%s/.%s.XXXXXX", dir, name);
	char *path = xasprintf("%s/%s", dir, name);
	int fd = mkstemp(temp);
	int saved;

	if (fd < 0)
		goto fail;
	if (fchmod(fd, OUTPUT_FILE_MODE) != 0 || write_all(fd, data, len) != 0
	    || fsync(fd) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		goto fail_unlink;
	}
	if (close(fd) != 0 || rename(temp, path) != 0)
		goto fail_unlink;
	free(temp);
	free(path);
	return queue_fsync_dir(dir);

fail_unlink:
	saved = errno;
	unlink(temp);
	errno = saved;
fail:
	saved = errno;
	free(temp);
	free(path);
	errno = saved;
	return -1;
}

void transport_file(const struct delivery *delivery, const char *uri,
		    struct attempt *attempt)
{
	const char *dir = uri + strlen("file:");
	struct strbuf to, message, name;
	struct stat st;

	strbuf_reset(&attempt->relay);
	strbuf_puts(&attempt->relay, "file");
	if (dir[0] == '\0') {
		attempt_set(attempt, ATTEMPT_BOUNCED, "file: destination "
			    "without a directory");
		return;
	}
	if (stat(dir, &st) != 0) {
		attempt_set(attempt, ATTEMPT_DEFERRED, "cannot use directory "
			    "%s: %s; create it or change delivery_redirect",
			    dir, strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		attempt_set(attempt, ATTEMPT_DEFERRED, "%s is not a directory; "
			    "change delivery_redirect", dir);
		return;
	}

	strbuf_init(&to);
	strbuf_init(&message);
	strbuf_init(&name);
	report_mail_preview_to(delivery, &to);
	if (transport_build_message(delivery, to.data, attempt, &message) != 0)
		goto done;

	/* report_mail_build() has checked that the file name is safe. */
	if (write_file_atomic(dir, delivery->filename, delivery->payload,
			      delivery->payload_len) != 0) {
		attempt_set(attempt, ATTEMPT_DEFERRED, "cannot write %s/%s: %s",
			    dir, delivery->filename, strerror(errno));
		goto done;
	}
	strbuf_printf(&name, "%s.eml", attempt->queue_id);
	if (write_file_atomic(dir, name.data, message.data, message.len) != 0) {
		attempt_set(attempt, ATTEMPT_DEFERRED, "cannot write %s/%s: %s",
			    dir, name.data, strerror(errno));
		goto done;
	}
	attempt_set(attempt, ATTEMPT_SENT, "written to %s/%s and %s", dir,
		    delivery->filename, name.data);

done:
	strbuf_free(&to);
	strbuf_free(&message);
	strbuf_free(&name);
}
