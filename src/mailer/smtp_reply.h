/*
 * smtp_reply: parse SMTP server replies (RFC 5321 section 4.2) and the
 * extensions that an EHLO reply announces.
 *
 * A reply is one or more lines "CODE-text" ending with "CODE text" or a
 * bare "CODE". Every line of a reply must carry the same code from 200
 * to 599. smtp_reply_add() takes the reply one line at a time, without
 * its CRLF, so a caller can read from the network line by line and stop
 * as soon as the last line arrives.
 *
 * These are pure functions on memory: no I/O, no configuration, no
 * logging, so a fuzz target can call them directly.
 *
 * Limits: a line longer than SMTP_REPLY_LINE_MAX or a reply longer than
 * SMTP_REPLY_TEXT_MAX is an error. Control characters other than TAB are
 * an error, and bytes above 0x7e are stored as '?', so the reply text
 * is printable ASCII that can go into a log line or a queue file.
 */
#ifndef TLSRPTD_SMTP_REPLY_H
#define TLSRPTD_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

#define SMTP_REPLY_LINE_MAX	2048	/* RFC 5321 needs only 512 */
#define SMTP_REPLY_TEXT_MAX	65536	/* all lines of one reply */

enum smtp_reply_state {
	SMTP_REPLY_MORE,	/* the reply continues on the next line */
	SMTP_REPLY_DONE,	/* that was the last line */
	SMTP_REPLY_INVALID,	/* not a valid reply: see the error text */
};

struct smtp_reply {
	int code;		/* 200..599, or -1 before the first line */
	unsigned lines;
	struct strbuf text;	/* the lines as received, joined by ' ' */
	struct strbuf params;	/* text after each code, one per line, '\n' */
};

/* Extensions of an EHLO reply that the client uses. */
struct smtp_extensions {
	bool starttls;
	bool auth_plain;
	bool auth_login;
};

void smtp_reply_init(struct smtp_reply *reply);
void smtp_reply_reset(struct smtp_reply *reply);
void smtp_reply_free(struct smtp_reply *reply);

/*
 * Add one line, without its CRLF, to reply. Returns SMTP_REPLY_MORE or
 * SMTP_REPLY_DONE, or SMTP_REPLY_INVALID with *error set to a static
 * description such as "malformed reply".
 */
enum smtp_reply_state smtp_reply_add(struct smtp_reply *reply,
				     const char *line, size_t len,
				     const char **error);

/* Store the extensions announced by a complete EHLO reply in ext. The
 * first line is the server's greeting and announces nothing. */
void smtp_reply_extensions(const struct smtp_reply *reply,
			   struct smtp_extensions *ext);

#endif
