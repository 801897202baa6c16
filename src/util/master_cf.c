/*
 * master_cf: master.cf parser and checks; see master_cf.h.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master_cf.h"
#include "xalloc.h"

#define MASTER_CF_COLUMNS	8	/* the seven fixed columns + command */

static const char *const column_names =
	"service type private unpriv chroot wakeup maxproc command";

/* The file and line of the entry being parsed, for error messages. */
struct position {
	const char *path;
	int line;
};

static int fail(struct strbuf *error, const struct position *where,
		const char *format, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct strbuf *error, const struct position *where,
		const char *format, ...)
{
	va_list ap;

	strbuf_printf(error, "%s line %d: ", where->path, where->line);
	va_start(ap, format);
	strbuf_vprintf(error, format, ap);
	va_end(ap);
	return -1;
}

const char *master_cf_type_name(enum master_cf_type type)
{
	return type == MASTER_CF_DGRAM ? "dgram" : "unix";
}

static bool is_service_char(int c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '-';
}

static int parse_service(const char *text, struct master_cf_entry *entry,
			 const struct position *where, struct strbuf *error)
{
	const char *cursor;

	if (strlen(text) > MASTER_CF_MAX_SERVICE)
		return fail(error, where, "service name \"%s\" is longer than "
			    "%d bytes", text, MASTER_CF_MAX_SERVICE);
	if (!isalnum((unsigned char)text[0]))
		return fail(error, where, "invalid service name \"%s\": "
			    "expected a letter or digit first", text);
	for (cursor = text; *cursor != '\0'; cursor++)
		if (!is_service_char((unsigned char)*cursor))
			return fail(error, where, "invalid service name "
				    "\"%s\": expected letters, digits, '.', "
				    "'_' and '-' only", text);
	entry->service = xstrdup(text);
	return 0;
}

static int parse_type(const char *text, struct master_cf_entry *entry,
		      const struct position *where, struct strbuf *error)
{
	if (strcmp(text, "dgram") == 0)
		entry->type = MASTER_CF_DGRAM;
	else if (strcmp(text, "unix") == 0)
		entry->type = MASTER_CF_UNIX;
	else
		return fail(error, where, "invalid type \"%s\" for service "
			    "\"%s\": expected dgram or unix", text,
			    entry->service);
	return 0;
}

/* A y/n column; "-" selects the default. */
static int parse_flag(const char *text, const char *column, bool def,
		      bool *flag, const struct master_cf_entry *entry,
		      const struct position *where, struct strbuf *error)
{
	if (strcmp(text, "-") == 0)
		*flag = def;
	else if (strcmp(text, "y") == 0)
		*flag = true;
	else if (strcmp(text, "n") == 0)
		*flag = false;
	else
		return fail(error, where, "invalid %s value \"%s\" for service "
			    "\"%s\": expected y, n or -", column, text,
			    entry->service);
	return 0;
}

static int parse_flags(char **fields, struct master_cf_entry *entry,
		       const struct position *where, struct strbuf *error)
{
	if (parse_flag(fields[2], "private", true, &entry->private, entry,
		       where, error) != 0
	    || parse_flag(fields[3], "unpriv", true, &entry->unpriv, entry,
			  where, error) != 0
	    || parse_flag(fields[4], "chroot", false, &entry->chroot, entry,
			  where, error) != 0)
		return -1;

	/* Postfix's "n" values describe behaviour that tlsrptd rejects. */
	if (!entry->private && entry->type == MASTER_CF_UNIX)
		return fail(error, where, "invalid private value \"n\" for "
			    "service \"%s\": expected y or -, because wakeup "
			    "FIFOs are only accessible to mail_owner",
			    entry->service);
	if (!entry->unpriv)
		return fail(error, where, "invalid unpriv value \"n\" for "
			    "service \"%s\": expected y or -, because every "
			    "tlsrptd worker drops root privileges",
			    entry->service);
	return 0;
}

static int parse_count(const char *text, unsigned def, unsigned max,
		       unsigned *count)
{
	char *end;
	unsigned long value;

	if (strcmp(text, "-") == 0) {
		*count = def;
		return 0;
	}
	if (!isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno != 0 || *end != '\0' || value > max)
		return -1;
	*count = (unsigned)value;
	return 0;
}

static int parse_wakeup(const char *text, struct master_cf_entry *entry,
			const struct position *where, struct strbuf *error)
{
	if (parse_count(text, 0, MASTER_CF_MAX_WAKEUP, &entry->wakeup) != 0)
		return fail(error, where, "invalid wakeup value \"%s\" for "
			    "service \"%s\": expected seconds from 0 to %d, "
			    "or -", text, entry->service,
			    MASTER_CF_MAX_WAKEUP);
	if (entry->wakeup > 0 && entry->type == MASTER_CF_DGRAM)
		return fail(error, where, "invalid wakeup value \"%s\" for "
			    "service \"%s\": expected 0 or -, because a dgram "
			    "service has no wakeup FIFO", text,
			    entry->service);
	return 0;
}

static int parse_maxproc(const char *text, struct master_cf_entry *entry,
			 const struct position *where, struct strbuf *error)
{
	if (parse_count(text, 1, 1, &entry->maxproc) != 0
	    || entry->maxproc != 1)
		return fail(error, where, "invalid maxproc value \"%s\" for "
			    "service \"%s\": expected 1 or -, because every "
			    "tlsrptd worker runs as a single process", text,
			    entry->service);
	return 0;
}

static int parse_command(char **fields, size_t count,
			 struct master_cf_entry *entry,
			 const struct position *where, struct strbuf *error)
{
	size_t i;

	if (strchr(fields[0], '/') != NULL)
		return fail(error, where, "invalid command \"%s\" for service "
			    "\"%s\": expected a program name without '/', "
			    "which is looked up in daemon_directory",
			    fields[0], entry->service);
	for (i = 1; i < count; i++) {
		const char *value;

		if (strcmp(fields[i], "-o") != 0)
			continue;
		value = i + 1 < count ? fields[i + 1] : "";
		if (value[0] == '=' || strchr(value, '=') == NULL)
			return fail(error, where, "invalid -o option \"%s\" "
				    "for service \"%s\": expected -o "
				    "name=value", value, entry->service);
		i++;
	}

	entry->argv = xcalloc(count + 1, sizeof(*entry->argv));
	for (i = 0; i < count; i++)
		entry->argv[i] = xstrdup(fields[i]);
	entry->argc = count;
	return 0;
}

/* Split a logical line at white space; the fields point into line. */
static size_t split_fields(char *line, char ***fields)
{
	size_t count = 0;
	char *save = NULL;
	char *field;

	*fields = NULL;
	for (field = strtok_r(line, " \t\r\n", &save); field != NULL;
	     field = strtok_r(NULL, " \t\r\n", &save)) {
		*fields = xreallocarray(*fields, count + 1, sizeof(**fields));
		(*fields)[count++] = field;
	}
	return count;
}

static int parse_columns(char **fields, size_t count,
			 struct master_cf_entry *entry,
			 const struct position *where, struct strbuf *error)
{
	if (count < MASTER_CF_COLUMNS && strncmp(fields[0], "-o", 2) == 0)
		return fail(error, where, "expected %d columns (%s), found "
			    "%zu; a continuation line such as \"-o "
			    "name=value\" must start with white space",
			    MASTER_CF_COLUMNS, column_names, count);
	if (count < MASTER_CF_COLUMNS)
		return fail(error, where, "expected %d columns (%s), found "
			    "%zu", MASTER_CF_COLUMNS, column_names, count);
	if (parse_service(fields[0], entry, where, error) != 0
	    || parse_type(fields[1], entry, where, error) != 0
	    || parse_flags(fields, entry, where, error) != 0
	    || parse_wakeup(fields[5], entry, where, error) != 0
	    || parse_maxproc(fields[6], entry, where, error) != 0)
		return -1;
	return parse_command(fields + 7, count - 7, entry, where, error);
}

/* Check one new entry against the ones before it. */
static int check_unique(const struct master_cf *table,
			const struct master_cf_entry *entry,
			const struct position *where, struct strbuf *error)
{
	size_t i;

	for (i = 0; i < table->count; i++) {
		const struct master_cf_entry *other = &table->entries[i];

		if (strcmp(other->service, entry->service) == 0)
			return fail(error, where, "service \"%s\" is already "
				    "defined at line %d", entry->service,
				    other->line);
		if (other->type == MASTER_CF_DGRAM
		    && entry->type == MASTER_CF_DGRAM)
			return fail(error, where, "second dgram service \"%s\":"
				    " only one service can receive the receiver"
				    " socket, and \"%s\" at line %d already "
				    "does", entry->service, other->service,
				    other->line);
	}
	return 0;
}

static int add_entry(struct master_cf *table, struct strbuf *logical,
		     const struct position *where, struct strbuf *error)
{
	struct master_cf_entry entry;
	char **fields;
	size_t count;
	int status;

	if (logical->len == 0)
		return 0;
	memset(&entry, 0, sizeof(entry));
	entry.line = where->line;
	count = split_fields(logical->data, &fields);
	status = parse_columns(fields, count, &entry, where, error);
	if (status == 0)
		status = check_unique(table, &entry, where, error);
	free(fields);
	strbuf_reset(logical);
	if (status != 0) {
		master_cf_entry_free(&entry);
		return -1;
	}
	table->entries = xreallocarray(table->entries, table->count + 1,
				       sizeof(*table->entries));
	table->entries[table->count++] = entry;
	return 0;
}

/* Feed one physical line; an entry is complete when the next one starts. */
static int parse_line(struct master_cf *table, struct strbuf *logical,
		      struct position *entry_start, const char *line,
		      int number, struct strbuf *error)
{
	const char *text = line + strspn(line, " \t\r");
	struct position here = { entry_start->path, number };

	if (*text == '#' || *text == '\0')
		return 0;
	if (text != line) {
		if (logical->len == 0)
			return fail(error, &here, "continuation line without "
				    "an entry above it; remove the leading "
				    "white space to start a new entry");
		strbuf_putc(logical, ' ');
		strbuf_puts(logical, text);
		return 0;
	}
	if (add_entry(table, logical, entry_start, error) != 0)
		return -1;
	entry_start->line = number;
	strbuf_puts(logical, text);
	return 0;
}

int master_cf_parse(const char *path, const char *text, size_t len,
		    struct master_cf *table, struct strbuf *error)
{
	struct position entry_start = { path, 0 };
	struct strbuf logical;
	struct strbuf line;
	size_t offset = 0;
	int number = 0;
	int status = 0;

	memset(table, 0, sizeof(*table));
	table->path = xstrdup(path);
	strbuf_init(&logical);
	strbuf_init(&line);
	while (status == 0 && offset < len) {
		const char *newline = memchr(text + offset, '\n', len - offset);
		size_t end = newline ? (size_t)(newline - text) : len;
		struct position here = { path, ++number };

		strbuf_reset(&line);
		strbuf_append(&line, text + offset, end - offset);
		offset = end + 1;
		if (strlen(line.data) != line.len)
			status = fail(error, &here, "NUL byte in master.cf");
		else
			status = parse_line(table, &logical, &entry_start,
					    line.data, number, error);
	}
	if (status == 0)
		status = add_entry(table, &logical, &entry_start, error);
	if (status == 0 && table->count == 0) {
		strbuf_printf(error, "%s: no services defined; expected lines "
			      "of %s", path, column_names);
		status = -1;
	}
	strbuf_free(&logical);
	strbuf_free(&line);
	if (status != 0)
		master_cf_free(table);
	return status;
}

int master_cf_read(const char *path, struct master_cf *table,
		   struct strbuf *error)
{
	FILE *fp = fopen(path, "r");
	struct strbuf text;
	char chunk[8192];
	size_t got;
	int status;

	memset(table, 0, sizeof(*table));
	if (fp == NULL) {
		strbuf_printf(error, "cannot open %s: %s", path,
			      strerror(errno));
		return -1;
	}
	strbuf_init(&text);
	while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0
	       && text.len <= MASTER_CF_MAX_SIZE)
		strbuf_append(&text, chunk, got);
	if (ferror(fp)) {
		strbuf_printf(error, "cannot read %s: %s", path,
			      strerror(errno));
		status = -1;
	} else if (text.len > MASTER_CF_MAX_SIZE) {
		strbuf_printf(error, "%s is larger than %d bytes; is it the "
			      "right file?", path, MASTER_CF_MAX_SIZE);
		status = -1;
	} else {
		status = master_cf_parse(path, text.data, text.len, table,
					 error);
	}
	fclose(fp);
	strbuf_free(&text);
	return status;
}

const struct master_cf_entry *master_cf_find(const struct master_cf *table,
					     const char *service)
{
	size_t i;

	for (i = 0; i < table->count; i++)
		if (strcmp(table->entries[i].service, service) == 0)
			return &table->entries[i];
	return NULL;
}

/* Tell whether two entries run the same command in the same way; the
 * line number does not count. */
bool master_cf_entry_equal(const struct master_cf_entry *a,
			   const struct master_cf_entry *b)
{
	size_t i;

	if (strcmp(a->service, b->service) != 0 || a->type != b->type
	    || a->private != b->private || a->unpriv != b->unpriv
	    || a->chroot != b->chroot || a->wakeup != b->wakeup
	    || a->maxproc != b->maxproc || a->argc != b->argc)
		return false;
	for (i = 0; i < a->argc; i++)
		if (strcmp(a->argv[i], b->argv[i]) != 0)
			return false;
	return true;
}

/*
 * Return the next "name=value" assignment of the entry's arguments, given
 * with "-o name=value" or "-oname=value", starting at argument *index (1
 * at first), and advance *index past it; NULL after the last one. The
 * result points into the entry.
 */
const char *master_cf_entry_next_option(const struct master_cf_entry *entry,
					size_t *index)
{
	while (*index < entry->argc) {
		const char *argument = entry->argv[(*index)++];

		if (strcmp(argument, "-o") == 0 && *index < entry->argc)
			return entry->argv[(*index)++];
		if (strncmp(argument, "-o", 2) == 0 && argument[2] != '\0')
			return argument + 2;
	}
	return NULL;
}

/*
 * Return the value that the entry's arguments give parameter name with
 * "-o name=value" or "-oname=value", the last one when there are several,
 * or NULL. The result points into the entry.
 */
const char *master_cf_entry_option(const struct master_cf_entry *entry,
				   const char *name)
{
	size_t name_len = strlen(name);
	const char *value = NULL;
	const char *assignment;
	size_t index = 1;

	while ((assignment = master_cf_entry_next_option(entry, &index))
	       != NULL)
		if (strncmp(assignment, name, name_len) == 0
		    && assignment[name_len] == '=')
			value = assignment + name_len + 1;
	return value;
}

const char *master_cf_entry_account(const struct master_cf *table,
				    const struct master_cf_entry *entry,
				    const char *mail_owner,
				    struct strbuf *error)
{
	const char *name = master_cf_entry_option(entry, "mail_owner");

	if (name == NULL || strcmp(name, mail_owner) == 0)
		return mail_owner;
	if (entry->type == MASTER_CF_DGRAM)
		return name;
	strbuf_printf(error, "%s line %d: service %s: only the dgram service "
		      "(the receiver) may run as its own account; this "
		      "service writes queue directories that only mail_owner "
		      "%s may write, so remove \"-o mail_owner=%s\"",
		      table->path, entry->line, entry->service, mail_owner,
		      name);
	return NULL;
}

void master_cf_entry_copy(struct master_cf_entry *copy,
			  const struct master_cf_entry *entry)
{
	size_t i;

	*copy = *entry;
	copy->service = xstrdup(entry->service);
	copy->argv = xcalloc(entry->argc + 1, sizeof(*copy->argv));
	for (i = 0; i < entry->argc; i++)
		copy->argv[i] = xstrdup(entry->argv[i]);
}

void master_cf_entry_free(struct master_cf_entry *entry)
{
	size_t i;

	free(entry->service);
	for (i = 0; entry->argv != NULL && i < entry->argc; i++)
		free(entry->argv[i]);
	free(entry->argv);
	memset(entry, 0, sizeof(*entry));
}

void master_cf_free(struct master_cf *table)
{
	size_t i;

	for (i = 0; i < table->count; i++)
		master_cf_entry_free(&table->entries[i]);
	free(table->entries);
	free(table->path);
	memset(table, 0, sizeof(*table));
}
