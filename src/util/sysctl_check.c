/*
 * sysctl_check: /proc/sys reads and the datagram queue length advice;
 * see sysctl_check.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sysctl_check.h"
#include "xalloc.h"

#define SYSCTL_ROOT "/proc/sys/"
#define VALUE_MAX 64 /* maximum length of a value's text */

/* A plain dotted name: letters, digits, '_' and '-' between single dots,
 * so that it cannot leave /proc/sys. */
static int valid_name(const char *name)
{
	const char *cursor;

	if (name[0] == '\0' || name[0] == '.')
		return 0;
	for (cursor = name; *cursor != '\0'; cursor++) {
		char c = *cursor;

		if (c == '.' && (cursor[1] == '.' || cursor[1] == '\0'))
			return 0;
		if (c != '.' && c != '_' && c != '-' && !(c >= 'a' && c <= 'z')
		    && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9'))
			return 0;
	}
	return 1;
}

/* Read at most size - 1 bytes of path as a string. */
static int read_text(const char *path, char *text, size_t size)
{
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	got = read(fd, text, size - 1);
	if (got < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	text[got] = '\0';
	return 0;
}

int sysctl_read(const char *name, long long *value)
{
	char text[VALUE_MAX];
	char *path;
	char *end;
	char *cursor;
	int status;

	if (!valid_name(name)) {
		errno = EINVAL;
		return -1;
	}
	path = xasprintf("%s%s", SYSCTL_ROOT, name);
	for (cursor = path + strlen(SYSCTL_ROOT); *cursor != '\0'; cursor++)
		if (*cursor == '.')
			*cursor = '/';
	status = read_text(path, text, sizeof(text));
	free(path);
	if (status != 0)
		return -1;

	errno = 0;
	*value = strtoll(text, &end, 10);
	if (errno != 0 || end == text || (*end != '\n' && *end != '\0')) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int sysctl_dgram_qlen_advice(long long qlen, struct strbuf *warning)
{
	if (qlen >= SYSCTL_DGRAM_QLEN_RECOMMENDED)
		return 0;
	strbuf_printf(warning,
		      "%s is %lld%s: the receiver socket queues at most that "
		      "many datagrams, and libtlsrpt's non-blocking sends are "
		      "lost without a trace while it is full; set it to %d "
		      "(echo '%s = %d' > /etc/sysctl.d/60-tlsrptd.conf; "
		      "sysctl --system), then restart tlsrptd",
		      SYSCTL_DGRAM_QLEN, qlen,
		      qlen == SYSCTL_DGRAM_QLEN_DEFAULT ? " (the default)" : "",
		      SYSCTL_DGRAM_QLEN_RECOMMENDED, SYSCTL_DGRAM_QLEN,
		      SYSCTL_DGRAM_QLEN_RECOMMENDED);
	return 1;
}

int sysctl_check_dgram_qlen(struct strbuf *message)
{
	long long qlen;

	if (sysctl_read(SYSCTL_DGRAM_QLEN, &qlen) != 0) {
		strbuf_printf(message, "cannot read %s: %s", SYSCTL_DGRAM_QLEN,
			      strerror(errno));
		return -1;
	}
	return sysctl_dgram_qlen_advice(qlen, message);
}
