/*
 * sendmail: hand one message to the local MTA through its sendmail
 * program (sendmail_path) instead of SMTP.
 *
 * The program runs as "PATH -i -f SENDER -- RECIPIENT [BCC]" with the
 * message on its standard input, with LF line ends as the sendmail
 * interface expects. Its exit status is the outcome: 0 sent, 75
 * (EX_TEMPFAIL) deferred, any other status bounced. A program that
 * cannot be executed, is killed by a signal or is still running when
 * the timeout expires (it is then killed) defers the delivery, because
 * the admin can fix those. The first line of what the program writes to
 * standard output or standard error becomes part of the reason.
 *
 * The program inherits the mailer's environment and user ID, and with
 * chroot it must exist inside the queue directory.
 */
#ifndef TLSRPTD_SENDMAIL_H
#define TLSRPTD_SENDMAIL_H

#include <stddef.h>

#include "strbuf.h"

#define SENDMAIL_OUTPUT_MAX	1000	/* bytes of output kept */

enum sendmail_status {
	SENDMAIL_SENT,
	SENDMAIL_TEMPORARY,
	SENDMAIL_PERMANENT,
};

/* Run path for message. bcc is NULL or "" for no copy; timeout is in
 * seconds. reason receives the outcome in words. */
enum sendmail_status sendmail_send(const char *path, const char *sender,
				   const char *recipient, const char *bcc,
				   const char *message, size_t message_len,
				   long long timeout, struct strbuf *reason);

#endif
