/*
 * manifest: read the file list tlsrptd-files; see manifest.h.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "manifest.h"
#include "queue_file.h"
#include "xalloc.h"

#define MANIFEST_COLUMNS	5

/* The primary group of mail_owner, or NULL when it cannot be found. */
static char *mail_group(void)
{
	struct passwd *pw = getpwnam(config_str("mail_owner"));
	struct group *gr;

	if (pw == NULL)
		return NULL;
	gr = getgrgid(pw->pw_gid);
	return gr != NULL ? xstrdup(gr->gr_name) : NULL;
}

/* Append the value of parameter name; -1 when the name is unknown. */
static int expand_name(const char *name, size_t len, struct strbuf *out)
{
	char *copy = xstrndup(name, len);
	int status = 0;

	if (strcmp(copy, "mail_group") == 0) {
		char *group = mail_group();

		if (group != NULL)
			strbuf_puts(out, group);
		free(group);
	} else if (param_find(copy) != NULL) {
		strbuf_puts(out, config_str(copy));
	} else {
		status = -1;
	}
	free(copy);
	return status;
}

/* Expand "$name" and "${name}" in text; -1 names the bad one in error. */
static int expand(const char *text, struct strbuf *out, struct strbuf *error)
{
	const char *cursor = text;

	while (*cursor != '\0') {
		const char *name;
		size_t len;
		bool braced;

		if (*cursor != '$') {
			strbuf_putc(out, *cursor++);
			continue;
		}
		braced = cursor[1] == '{';
		name = cursor + (braced ? 2 : 1);
		for (len = 0; isalnum((unsigned char)name[len])
		     || name[len] == '_'; len++)
			continue;
		if (len == 0 || (braced && name[len] != '}')
		    || expand_name(name, len, out) != 0) {
			strbuf_printf(error, "unknown parameter in \"%s\"",
				      text);
			return -1;
		}
		cursor = name + len + (braced ? 1 : 0);
	}
	return 0;
}

/* Expand one column; "-" and an empty value become NULL. */
static int expand_column(const char *text, char **value,
			 struct strbuf *error)
{
	struct strbuf out;

	*value = NULL;
	if (strcmp(text, "-") == 0)
		return 0;
	strbuf_init(&out);
	if (expand(text, &out, error) != 0) {
		strbuf_free(&out);
		return -1;
	}
	if (out.len > 0)
		*value = strbuf_detach(&out, NULL);
	else
		strbuf_free(&out);
	return 0;
}

static int parse_mode(const char *text, struct manifest_entry *entry,
		      struct strbuf *error)
{
	char *value;
	char *end;
	unsigned long mode;

	if (expand_column(text, &value, error) != 0)
		return -1;
	if (value == NULL)
		return 0;
	errno = 0;
	mode = strtoul(value, &end, 8);
	if (errno != 0 || *end != '\0' || end == value || mode > 07777) {
		strbuf_printf(error, "invalid mode \"%s\": expected octal "
			      "digits such as 0750, or -", value);
		free(value);
		return -1;
	}
	free(value);
	entry->has_mode = true;
	entry->mode = (mode_t)mode;
	return 0;
}

static int parse_path(const char *text, struct manifest_entry *entry,
		      struct strbuf *error)
{
	char *path;
	size_t len;

	if (expand_column(text, &path, error) != 0)
		return -1;
	if (path == NULL) {
		strbuf_printf(error, "empty path \"%s\"", text);
		return -1;
	}

	/* A relative socket path is relative to the queue directory. */
	if (path[0] != '/') {
		char *absolute = xasprintf("%s/%s",
					   config_str("queue_directory"), path);

		free(path);
		path = absolute;
	}
	len = strlen(path);
	if (len > 2 && strcmp(path + len - 2, "/*") == 0) {
		path[len - 2] = '\0';
		entry->every_entry = true;
	}
	entry->path = path;
	return 0;
}

static int parse_entry(char **fields, struct manifest_entry *entry,
		       struct strbuf *error)
{
	if (strlen(fields[1]) != 1 || strchr("dfps", fields[1][0]) == NULL) {
		strbuf_printf(error, "invalid type \"%s\": expected d, f, p "
			      "or s", fields[1]);
		return -1;
	}
	entry->type = fields[1][0];
	if (parse_path(fields[0], entry, error) != 0
	    || expand_column(fields[2], &entry->owner, error) != 0
	    || expand_column(fields[3], &entry->group, error) != 0
	    || parse_mode(fields[4], entry, error) != 0)
		return -1;
	return 0;
}

static void entry_free(struct manifest_entry *entry)
{
	free(entry->path);
	free(entry->owner);
	free(entry->group);
}

/* Parse one line; returns 1 for an entry, 0 for a comment, -1 on error. */
static int parse_line(char *line, struct manifest_entry *entry,
		      struct strbuf *error)
{
	char *fields[MANIFEST_COLUMNS];
	char *save = NULL;
	char *field;
	size_t count = 0;

	line += strspn(line, " \t");
	if (*line == '#' || *line == '\0' || *line == '\n')
		return 0;
	for (field = strtok_r(line, " \t\n", &save); field != NULL;
	     field = strtok_r(NULL, " \t\n", &save)) {
		if (count == MANIFEST_COLUMNS) {
			strbuf_printf(error, "expected %d columns: path, type, "
				      "owner, group, mode", MANIFEST_COLUMNS);
			return -1;
		}
		fields[count++] = field;
	}
	if (count != MANIFEST_COLUMNS) {
		strbuf_printf(error, "expected %d columns: path, type, owner, "
			      "group, mode", MANIFEST_COLUMNS);
		return -1;
	}
	memset(entry, 0, sizeof(*entry));
	if (parse_entry(fields, entry, error) != 0) {
		entry_free(entry);
		return -1;
	}
	return 1;
}

static int parse_text(char *text, struct manifest *manifest,
		      struct strbuf *error)
{
	struct strbuf reason;
	char *save = NULL;
	char *line;
	int number = 0;

	strbuf_init(&reason);
	for (line = text; line != NULL; line = save) {
		struct manifest_entry entry;
		int status;

		save = strchr(line, '\n');
		if (save != NULL)
			*save++ = '\0';
		number++;
		status = parse_line(line, &entry, &reason);
		if (status < 0) {
			strbuf_printf(error, "%s line %d: %s", manifest->path,
				      number, reason.data);
			strbuf_free(&reason);
			return -1;
		}
		if (status == 0)
			continue;
		entry.line = number;
		manifest->entries = xreallocarray(manifest->entries,
						  manifest->count + 1,
						  sizeof(*manifest->entries));
		manifest->entries[manifest->count++] = entry;
	}
	strbuf_free(&reason);
	return 0;
}

int manifest_read(const char *path, struct manifest *manifest,
		  struct strbuf *error)
{
	char *text;
	size_t len;
	int status;

	memset(manifest, 0, sizeof(*manifest));
	manifest->path = xstrdup(path);
	if (queue_read_file(path, MANIFEST_MAX_SIZE, &text, &len) != 0) {
		strbuf_printf(error, "cannot read %s: %s", path,
			      strerror(errno));
		manifest_free(manifest);
		return -1;
	}
	status = parse_text(text, manifest, error);
	free(text);
	if (status != 0)
		manifest_free(manifest);
	return status;
}

void manifest_free(struct manifest *manifest)
{
	size_t i;

	for (i = 0; i < manifest->count; i++)
		entry_free(&manifest->entries[i]);
	free(manifest->entries);
	free(manifest->path);
	memset(manifest, 0, sizeof(*manifest));
}
