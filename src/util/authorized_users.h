/*
 * authorized_users: the senders that receiver_authorized_users admits.
 *
 * The parameter lists user names and numeric uids, separated by commas
 * or white space, as Postfix lists are: for example "postfix, 0". When
 * it is empty every sender is admitted. Otherwise a datagram is accepted
 * only when the uid that the kernel passed with it (SCM_CREDENTIALS) is
 * in the list. A datagram without credentials is rejected.
 *
 * Names are resolved once, at start and before the receiver drops
 * privileges or chroots, because the password database may not be
 * reachable after that. authorized_users_parse() fails on a name that
 * the database does not know, naming it; "tlsrptd check" and the master
 * use it to catch such a name before the receiver starts.
 */
#ifndef TLSRPTD_AUTHORIZED_USERS_H
#define TLSRPTD_AUTHORIZED_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "strbuf.h"

struct authorized_users {
	uid_t *uids;	/* owned; NULL when everyone is admitted */
	size_t count;
};

int authorized_users_parse(const char *value, struct authorized_users *users,
			   struct strbuf *error);
bool authorized_users_admit(const struct authorized_users *users,
			    long long uid);
void authorized_users_free(struct authorized_users *users);

#endif
