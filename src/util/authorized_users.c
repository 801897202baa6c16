/*
 * authorized_users: parse receiver_authorized_users into uids and check
 * a sender against them; see authorized_users.h.
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "authorized_users.h"
#include "xalloc.h"

#define SEPARATORS ", \t\r\n"

/* Read a decimal uid; returns -1 unless the whole word is one. */
static int parse_uid(const char *word, uid_t *uid)
{
	unsigned long long value;
	char *end;

	if (word[0] < '0' || word[0] > '9')
		return -1;
	errno = 0;
	value = strtoull(word, &end, 10);
	if (errno != 0 || *end != '\0' || value != (uid_t)value ||
	    (uid_t)value == (uid_t)-1)
		return -1;
	*uid = (uid_t)value;
	return 0;
}

/* Resolve a user name; returns -1 with a reason in error. */
static int resolve_name(const char *name, uid_t *uid, struct strbuf *error)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(name);
	if (pw != NULL) {
		*uid = pw->pw_uid;
		return 0;
	}
	if (errno != 0 && errno != ENOENT && errno != ESRCH)
		strbuf_printf(error, "receiver_authorized_users: cannot look "
			      "up user \"%s\": %s", name, strerror(errno));
	else
		strbuf_printf(error, "receiver_authorized_users: unknown user "
			      "\"%s\"; name an existing account or a numeric "
			      "uid", name);
	return -1;
}

static int add_word(const char *word, struct authorized_users *users,
		    struct strbuf *error)
{
	uid_t uid;

	if (parse_uid(word, &uid) != 0) {
		if (word[0] >= '0' && word[0] <= '9') {
			strbuf_printf(error, "receiver_authorized_users: "
				      "invalid uid \"%s\"", word);
			return -1;
		}
		if (resolve_name(word, &uid, error) != 0)
			return -1;
	}
	users->uids = xrealloc(users->uids,
			       (users->count + 1) * sizeof(*users->uids));
	users->uids[users->count++] = uid;
	return 0;
}

int authorized_users_parse(const char *value, struct authorized_users *users,
			   struct strbuf *error)
{
	char *copy = xstrdup(value);
	char *cursor = copy;
	char *word;
	int status = 0;

	users->uids = NULL;
	users->count = 0;
	while ((word = strsep(&cursor, SEPARATORS)) != NULL) {
		if (word[0] == '\0')
			continue;
		if (add_word(word, users, error) != 0) {
			status = -1;
			break;
		}
	}
	free(copy);
	if (status != 0)
		authorized_users_free(users);
	return status;
}

/* Whether a datagram from uid (-1: no credentials) is admitted. */
bool authorized_users_admit(const struct authorized_users *users,
			    long long uid)
{
	size_t i;

	if (users->count == 0)
		return true;
	for (i = 0; i < users->count; i++)
		if ((long long)users->uids[i] == uid)
			return true;
	return false;
}

void authorized_users_free(struct authorized_users *users)
{
	free(users->uids);
	users->uids = NULL;
	users->count = 0;
}
