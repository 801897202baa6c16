/*
 * manifest: the file list conf/tlsrptd-files, which says what owner,
 * group and mode every directory and file of the suite should have.
 *
 * Each line holds five columns: path, type (d, f, p or s), owner, group
 * and mode; '#' starts a comment line. "$name" and "${name}" in a column
 * stand for the value of a main.cf parameter, and "$mail_group" for the
 * primary group of mail_owner. A path that ends in a slash and an
 * asterisk covers every entry of that directory. "-" in owner, group or mode means "not
 * checked", and so does a parameter whose value is empty.
 *
 * manifest_read() expands the parameters with the configuration loaded
 * now; errors name the file and the line.
 */
#ifndef TLSRPTD_MANIFEST_H
#define TLSRPTD_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "strbuf.h"

#define MANIFEST_FILE		"tlsrptd-files"
#define MANIFEST_MAX_SIZE	(64 * 1024)

struct manifest_entry {
	char *path;		/* expanded, without a final slash-asterisk */
	bool every_entry;	/* it ended in a slash and an asterisk */
	char type;		/* 'd', 'f', 'p' or 's' */
	char *owner;		/* NULL: not checked */
	char *group;		/* NULL: not checked */
	bool has_mode;
	mode_t mode;
	int line;
};

struct manifest {
	char *path;
	struct manifest_entry *entries;
	size_t count;
};

int manifest_read(const char *path, struct manifest *manifest,
		  struct strbuf *error);
void manifest_free(struct manifest *manifest);

#endif
