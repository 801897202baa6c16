/*
 * master_cf: the service table master.cf, in Postfix's column layout.
 *
 * Each entry has eight columns, separated by white space:
 *
 *	service type private unpriv chroot wakeup maxproc command [args ...]
 *
 * A line whose first non-blank character is '#' is a comment, a blank
 * line is skipped, and a line that starts with white space continues the
 * entry above it. "-" in a column selects its default: private y, unpriv
 * y, chroot n, wakeup 0 (no periodic wakeup), maxproc 1.
 *
 *	service	a name of letters, digits, '.', '_' and '-' used in logs
 *		and as the wakeup FIFO private/SERVICE
 *	type	dgram: the one service that receives the receiver socket;
 *		unix: a worker woken through its FIFO
 *	private	y for every unix service, because wakeup FIFOs are only
 *		accessible to the suite's accounts (mail_owner and its
 *		group); a dgram service accepts y or n, since access to its
 *		socket is set by receiver_socket_mode
 *	unpriv	y: every worker drops root privileges, so n is an error
 *	chroot	y or n: the worker chroots to queue_directory
 *	wakeup	seconds between wakeups, 0 to MASTER_CF_MAX_WAKEUP; a
 *		dgram service has no FIFO and takes 0 only
 *	maxproc	1: every tlsrptd worker is a singleton
 *	command	a program name without '/', looked up in daemon_directory,
 *		then its arguments, passed through unchanged; "-o" must be
 *		followed by a "name=value" argument. "-o mail_owner=NAME"
 *		runs the service as its own account (the receiver does)
 *
 * The table must define at least one service, at most one dgram service,
 * and no service twice. Errors name the file, the line and what was
 * expected: "/etc/tlsrptd/master.cf line 7: ...".
 */
#ifndef TLSRPTD_MASTER_CF_H
#define TLSRPTD_MASTER_CF_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

#define MASTER_CF_MAX_SIZE	(1024 * 1024)	/* bytes in master.cf */
#define MASTER_CF_MAX_SERVICE	64	/* bytes in a service name */
#define MASTER_CF_MAX_WAKEUP	86400	/* seconds */

enum master_cf_type {
	MASTER_CF_DGRAM,	/* gets the receiver socket */
	MASTER_CF_UNIX,		/* gets a wakeup FIFO */
};

struct master_cf_entry {
	char *service;
	enum master_cf_type type;
	bool private;
	bool unpriv;
	bool chroot;
	unsigned wakeup;	/* seconds between wakeups; 0: none */
	unsigned maxproc;
	char **argv;		/* command and arguments, NULL-terminated */
	size_t argc;		/* at least 1: the command */
	int line;		/* first line of the entry in master.cf */
};

/* A parsed master.cf. The table owns its path and entries. */
struct master_cf {
	char *path;
	struct master_cf_entry *entries;
	size_t count;
};

int master_cf_read(const char *path, struct master_cf *table,
		   struct strbuf *error);
int master_cf_parse(const char *path, const char *text, size_t len,
		    struct master_cf *table, struct strbuf *error);
void master_cf_free(struct master_cf *table);

const struct master_cf_entry *master_cf_find(const struct master_cf *table,
					     const char *service);
const char *master_cf_type_name(enum master_cf_type type);
bool master_cf_entry_equal(const struct master_cf_entry *a,
			   const struct master_cf_entry *b);
const char *master_cf_entry_option(const struct master_cf_entry *entry,
				   const char *name);
const char *master_cf_entry_next_option(const struct master_cf_entry *entry,
					size_t *index);
/* Return the account that entry runs as ("-o mail_owner", else
 * mail_owner). Only the dgram service may run as another account than
 * mail_owner: the other services write queue directories that only
 * mail_owner may write. For another service with its own account,
 * return NULL and put the problem into error. */
const char *master_cf_entry_account(const struct master_cf *table,
				    const struct master_cf_entry *entry,
				    const char *mail_owner,
				    struct strbuf *error);
void master_cf_entry_copy(struct master_cf_entry *copy,
			  const struct master_cf_entry *entry);
void master_cf_entry_free(struct master_cf_entry *entry);

#endif
