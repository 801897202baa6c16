/*
 * config: main.cf parser, $name expansion and typed access; see config.h.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "msg.h"
#include "xalloc.h"

#define CONFIG_MAX_LINE		65536	/* longest logical line */
#define CONFIG_MAX_DEPTH	32	/* nesting of $name references */
#define CONFIG_MAX_VALUE	65536	/* longest value after expansion */

struct entry {
	char *name;
	char *raw;		/* value as written, before expansion */
	char *value;		/* expanded value, NULL until computed */
	char *source;		/* "default", "FILE line N" or "-o" */
	const struct param_def *def;	/* NULL for unknown names */
	int line_number;	/* line of main.cf, INT_MAX for -o, 0 for a
				 * default */
	bool is_default;
	bool expanding;		/* cycle detection */
};

static struct entry *entries;
static size_t entry_count;
static char *loaded_dir;
static char **overrides;
static size_t override_count;

/* A problem found during a load, kept until the load sorts them. */
struct problem {
	int line_number;	/* as in struct entry */
	size_t order;		/* when it was found, for equal lines */
	char *text;
};

/*
 * The reporting rules of one load for a problem that a default can
 * repair: an invalid value (the parameter goes back to its default) or a
 * line that is not "name = value" (the line is skipped). The load goes
 * on, so that one run lists every such problem, and then writes them in
 * the order of their lines in main.cf.
 */
struct load_mode {
	struct strbuf *out;		/* where the problems go */
	bool newline_after_each;	/* relaxed: "...\n" per line, else
					 * '\n' between lines */
	const char *value_note;		/* appended for an invalid value */
	const char *line_note;		/* appended for a skipped line */
	struct problem *problems;
	size_t problem_count;
};

/* The mode of the load that is running, else NULL. */
static struct load_mode *load_mode;

/* The innermost entry whose $name expansion failed, for the load to put
 * back to its default. */
static struct entry *failed_entry;

/* Start a new line in a list of messages separated by '\n'. */
static void begin_line(struct strbuf *out)
{
	if (out->len > 0)
		strbuf_putc(out, '\n');
}

/* Record a problem that the load repairs with a default or by skipping
 * the line, followed by note. */
static void report_problem(int line_number, const char *text,
			   const char *note)
{
	struct problem *problem;

	load_mode->problems = xreallocarray(load_mode->problems,
					    load_mode->problem_count + 1,
					    sizeof(*load_mode->problems));
	problem = &load_mode->problems[load_mode->problem_count];
	problem->line_number = line_number;
	problem->order = load_mode->problem_count++;
	problem->text = xasprintf("%s%s", text, note);
}

static int compare_problems(const void *left, const void *right)
{
	const struct problem *a = left;
	const struct problem *b = right;

	if (a->line_number != b->line_number)
		return a->line_number < b->line_number ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* Write the problems of mode in the order of their lines and free them.
 * The count stays, for the caller's result. */
static void write_problems(struct load_mode *mode)
{
	size_t i;

	if (mode->problem_count == 0)
		return;
	qsort(mode->problems, mode->problem_count, sizeof(*mode->problems),
	      compare_problems);
	for (i = 0; i < mode->problem_count; i++) {
		if (mode->newline_after_each) {
			strbuf_printf(mode->out, "%s\n",
				      mode->problems[i].text);
		} else {
			begin_line(mode->out);
			strbuf_puts(mode->out, mode->problems[i].text);
		}
		free(mode->problems[i].text);
	}
	free(mode->problems);
	mode->problems = NULL;
}

const struct param_def *param_find(const char *name)
{
	size_t i;

	for (i = 0; i < param_count; i++)
		if (strcmp(param_table[i].name, name) == 0)
			return &param_table[i];
	return NULL;
}

static struct entry *find_entry(const char *name)
{
	size_t i;

	for (i = 0; i < entry_count; i++)
		if (strcmp(entries[i].name, name) == 0)
			return &entries[i];
	return NULL;
}

static struct entry *set_entry(const char *name, const char *raw,
			       const char *source, bool is_default)
{
	struct entry *entry = find_entry(name);

	if (entry == NULL) {
		entries = xreallocarray(entries, entry_count + 1,
					sizeof(*entries));
		entry = &entries[entry_count++];
		memset(entry, 0, sizeof(*entry));
		entry->name = xstrdup(name);
		entry->def = param_find(name);
	}
	free(entry->raw);
	free(entry->source);
	entry->raw = xstrdup(raw);
	entry->source = xstrdup(source);
	entry->line_number = 0;
	entry->is_default = is_default;
	return entry;
}

static void free_entries(struct entry *list, size_t count, char *dir)
{
	size_t i;

	for (i = 0; i < count; i++) {
		free(list[i].name);
		free(list[i].raw);
		free(list[i].value);
		free(list[i].source);
	}
	free(list);
	free(dir);
}

void config_free(void)
{
	free_entries(entries, entry_count, loaded_dir);
	entries = NULL;
	entry_count = 0;
	loaded_dir = NULL;
}

/* Like Postfix, myhostname defaults to what the system calls itself. */
static void system_hostname(char *host, size_t size)
{
	if (gethostname(host, size) != 0 || host[0] == '\0')
		snprintf(host, size, "localhost");
	host[size - 1] = '\0';
}

static void set_defaults(void)
{
	char host[256];
	size_t i;

	for (i = 0; i < param_count; i++)
		set_entry(param_table[i].name, param_table[i].def, "default",
			  true);
	system_hostname(host, sizeof(host));
	set_entry("myhostname", host, "default", true);
}

static bool is_name_char(int c)
{
	return isalnum(c) || c == '_';
}

static char *trim(char *text)
{
	char *end;

	while (*text == ' ' || *text == '\t')
		text++;
	end = text + strlen(text);
	while (end > text && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return text;
}

/* Explain a parameter name with a character other than a letter, digit
 * or "_", and suggest the known parameter that has "_" for each "-". */
static void report_invalid_name(const char *name, size_t len,
				const char *source, struct strbuf *error)
{
	char *suggestion = xstrndup(name, len);
	char *hyphen;

	strbuf_printf(error, "%s: invalid parameter name \"%.*s\": names "
		      "contain only letters, digits and \"_\"", source,
		      (int)len, name);
	while ((hyphen = strchr(suggestion, '-')) != NULL)
		*hyphen = '_';
	if (param_find(suggestion) != NULL)
		strbuf_printf(error, "; did you mean \"%s\"?", suggestion);
	free(suggestion);
}

/* Longer than every parameter name, so a longer name is never close. */
#define PARAM_NAME_MAX 64

/* Return the edit distance (insertions, deletions, substitutions)
 * between two names, or SIZE_MAX when one is too long to compare. */
static size_t edit_distance(const char *left, const char *right)
{
	size_t row[PARAM_NAME_MAX + 1];
	size_t left_len = strlen(left);
	size_t right_len = strlen(right);
	size_t i;
	size_t j;

	if (left_len > PARAM_NAME_MAX || right_len > PARAM_NAME_MAX)
		return SIZE_MAX;
	for (j = 0; j <= right_len; j++)
		row[j] = j;
	for (i = 1; i <= left_len; i++) {
		size_t diagonal = row[0];

		row[0] = i;
		for (j = 1; j <= right_len; j++) {
			size_t above = row[j];
			size_t best = diagonal + (left[i - 1] != right[j - 1]);

			if (above + 1 < best)
				best = above + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diagonal = above;
		}
	}
	return row[right_len];
}

/* Warn about a parameter that no program declares, with the known one
 * that is at most two edits away, if there is one. */
static void warn_unknown(const char *name, const char *source)
{
	const char *suggestion = NULL;
	size_t best = 3;
	size_t i;

	for (i = 0; i < param_count; i++) {
		size_t distance = edit_distance(name, param_table[i].name);

		if (distance < best) {
			best = distance;
			suggestion = param_table[i].name;
		}
	}
	if (suggestion != NULL)
		msg_warn("%s: unknown parameter \"%s\"; did you mean \"%s\"?",
			 source, name, suggestion);
	else
		msg_warn("%s: unknown parameter \"%s\"; check the spelling",
			 source, name);
}

/* Split one logical line into name and value and record it. */
static int parse_assignment(char *line, const char *source, int line_number,
			    struct strbuf *error)
{
	char *name = trim(line);
	char *cursor = name;
	char *value;

	while (is_name_char((unsigned char)*cursor))
		cursor++;
	if (*cursor != '\0' && *cursor != ' ' && *cursor != '\t'
	    && *cursor != '=') {
		report_invalid_name(name, strcspn(name, " \t="), source,
				    error);
		return -1;
	}
	if (cursor == name) {
		strbuf_printf(error, "%s: missing parameter name before "
			      "\"=\"; expected \"name = value\"", source);
		return -1;
	}
	value = cursor;
	while (*value == ' ' || *value == '\t')
		value++;
	if (*value != '=') {
		strbuf_printf(error, "%s: missing \"=\" after parameter name "
			      "\"%.*s\"; expected \"name = value\"", source,
			      (int)(cursor - name), name);
		return -1;
	}
	*cursor = '\0';
	value = trim(value + 1);
	if (param_find(name) == NULL)
		warn_unknown(name, source);
	set_entry(name, value, source, false)->line_number = line_number;
	return 0;
}

static void commit_logical_line(struct strbuf *logical, const char *path,
				int line_number)
{
	char source[PATH_MAX + 32];
	struct strbuf problem;
	int status;

	if (logical->len == 0)
		return;
	snprintf(source, sizeof(source), "%s line %d", path, line_number);
	strbuf_init(&problem);
	status = parse_assignment(logical->data, source, line_number,
				  &problem);
	strbuf_reset(logical);

	/* A line that is not "name = value" is skipped, so that the lines
	 * after it are still read and checked. */
	if (status != 0)
		report_problem(line_number, problem.data,
			       load_mode->line_note);
	strbuf_free(&problem);
}

static int read_file(const char *path, struct strbuf *error)
{
	FILE *fp = fopen(path, "r");
	struct strbuf logical;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int line_number = 0;
	int start_line = 0;
	int status = 0;

	if (fp == NULL) {
		strbuf_printf(error, "cannot open %s: %s", path,
			      strerror(errno));
		return -1;
	}
	strbuf_init(&logical);
	while (status == 0 && (len = getline(&line, &cap, fp)) >= 0) {
		char *text = line;

		line_number++;
		if (memchr(line, '\0', (size_t)len) != NULL) {
			strbuf_printf(error, "%s line %d: NUL byte in "
				      "configuration", path, line_number);
			status = -1;
			break;
		}
		while (len > 0 && isspace((unsigned char)line[len - 1]))
			line[--len] = '\0';
		while (*text == ' ' || *text == '\t')
			text++;
		if (*text == '#' || *text == '\0')
			continue;
		if (text != line && logical.len > 0) {
			/* White space at the start continues the line. */
			strbuf_putc(&logical, ' ');
			strbuf_puts(&logical, text);
		} else {
			commit_logical_line(&logical, path, start_line);
			start_line = line_number;
			strbuf_puts(&logical, text);
		}
		if (logical.len > CONFIG_MAX_LINE) {
			strbuf_printf(error, "%s line %d: logical line longer "
				      "than %d bytes", path, start_line,
				      CONFIG_MAX_LINE);
			status = -1;
		}
	}
	if (status == 0)
		commit_logical_line(&logical, path, start_line);
	if (status == 0 && ferror(fp)) {
		strbuf_printf(error, "cannot read %s: %s", path,
			      strerror(errno));
		status = -1;
	}
	free(line);
	strbuf_free(&logical);
	fclose(fp);
	return status;
}

static const char *expand_entry(struct entry *entry, int depth,
				struct strbuf *error);

/* Expand $name, ${name}, $(name) and $$ in one value. */
static char *expand_text(const char *raw, const char *source, int depth,
			 struct strbuf *error)
{
	struct strbuf out;
	const char *cursor = raw;

	strbuf_init(&out);
	while (*cursor != '\0') {
		const char *start;
		const char *value;
		char close = '\0';
		char *name;
		struct entry *ref;

		if (*cursor != '$') {
			strbuf_putc(&out, *cursor++);
			continue;
		}
		cursor++;
		if (*cursor == '$') {
			strbuf_putc(&out, *cursor++);
			continue;
		}
		if (*cursor == '{' || *cursor == '(') {
			close = *cursor == '{' ? '}' : ')';
			cursor++;
		}
		start = cursor;
		while (is_name_char((unsigned char)*cursor))
			cursor++;
		if (cursor == start || (close && *cursor != close)) {
			strbuf_printf(error, "%s: invalid \"$\" reference in "
				      "\"%s\"; write $$ for a literal dollar "
				      "sign", source, raw);
			goto fail;
		}
		name = xstrndup(start, (size_t)(cursor - start));
		if (close)
			cursor++;
		ref = find_entry(name);
		if (ref == NULL) {
			strbuf_printf(error, "%s: undefined parameter \"$%s\" "
				      "in \"%s\"", source, name, raw);
			free(name);
			goto fail;
		}
		free(name);
		value = expand_entry(ref, depth + 1, error);
		if (value == NULL)
			goto fail;

		/* A value that names another several times grows with each
		 * level, so a few short lines could expand to gigabytes. */
		if (out.len + strlen(value) > CONFIG_MAX_VALUE) {
			strbuf_printf(error, "%s: value longer than %d bytes "
				      "after $name expansion in \"%.80s\"",
				      source, CONFIG_MAX_VALUE, raw);
			goto fail;
		}
		strbuf_puts(&out, value);
	}
	return strbuf_detach(&out, NULL);

fail:
	strbuf_free(&out);
	return NULL;
}

static const char *expand_entry(struct entry *entry, int depth,
				struct strbuf *error)
{
	if (entry->value != NULL)
		return entry->value;
	if (entry->expanding || depth > CONFIG_MAX_DEPTH) {
		strbuf_printf(error, "%s: parameter \"%s\" refers to itself "
			      "through $name references", entry->source,
			      entry->name);
		if (failed_entry == NULL)
			failed_entry = entry;
		return NULL;
	}
	entry->expanding = true;
	entry->value = expand_text(entry->raw, entry->source, depth, error);
	entry->expanding = false;
	if (entry->value == NULL && failed_entry == NULL)
		failed_entry = entry;
	return entry->value;
}

static const char *type_hint(enum param_type type)
{
	switch (type) {
	case PARAM_INT:
		return "a whole number";
	case PARAM_TIME:
		return "a time such as 30s, 10m, 24h or 7d";
	case PARAM_SIZE:
		return "a size in bytes such as 65536, 512k or 10m";
	case PARAM_BOOL:
		return "yes or no";
	case PARAM_MODE:
		return "an octal file mode such as 0660";
	case PARAM_STR:
		break;
	}
	return "text";
}

/* Append a bound in the notation of its type: 07777 for a mode, 1d or
 * 90s for a time, 64k or 1g for a size, with the largest unit that
 * divides it. */
static void append_bound(struct strbuf *out, enum param_type type,
			 long long value)
{
	static const struct {
		long long factor;
		char unit;
	} times[] = { {86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'} },
	  sizes[] = { {1024LL * 1024 * 1024, 'g'}, {1024 * 1024, 'm'},
		      {1024, 'k'} };
	size_t i;

	if (type == PARAM_MODE) {
		strbuf_printf(out, "%#llo", value);
		return;
	}
	if (type == PARAM_TIME && value != 0) {
		for (i = 0; i < sizeof(times) / sizeof(times[0]); i++)
			if (value % times[i].factor == 0) {
				strbuf_printf(out, "%lld%c",
					      value / times[i].factor,
					      times[i].unit);
				return;
			}
	}
	if (type == PARAM_SIZE && value != 0) {
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			if (value % sizes[i].factor == 0) {
				strbuf_printf(out, "%lld%c",
					      value / sizes[i].factor,
					      sizes[i].unit);
				return;
			}
	}
	strbuf_printf(out, "%lld%s", value, type == PARAM_TIME ? "s" : "");
}

static long long unit_multiplier(enum param_type type, char unit)
{
	unit = (char)tolower((unsigned char)unit);
	if (type == PARAM_TIME) {
		switch (unit) {
		case 's':
			return 1;
		case 'm':
			return 60;
		case 'h':
			return 3600;
		case 'd':
			return 86400;
		case 'w':
			return 7 * 86400;
		}
	} else if (type == PARAM_SIZE) {
		switch (unit) {
		case 'k':
			return 1024;
		case 'm':
			return 1024 * 1024;
		case 'g':
			return 1024LL * 1024 * 1024;
		}
	}
	return 0;
}

int config_parse_number(const struct param_def *def, const char *value,
			long long *result)
{
	char *end;
	long long number;
	long long multiplier = 1;

	if (def->type == PARAM_BOOL) {
		if (strcasecmp(value, "yes") == 0
		    || strcasecmp(value, "true") == 0)
			*result = 1;
		else if (strcasecmp(value, "no") == 0
			 || strcasecmp(value, "false") == 0)
			*result = 0;
		else
			return -1;
		return 0;
	}
	if (!isdigit((unsigned char)value[0]))
		return -1;
	errno = 0;
	number = strtoll(value, &end, def->type == PARAM_MODE ? 8 : 10);
	if (errno != 0)
		return -1;
	if (*end != '\0' && end[1] == '\0'
	    && (def->type == PARAM_TIME || def->type == PARAM_SIZE)) {
		multiplier = unit_multiplier(def->type, *end);
		if (multiplier == 0)
			return -1;
		end++;
	}
	if (*end != '\0')
		return -1;
	if (number > LLONG_MAX / multiplier)
		return -1;
	number *= multiplier;
	if (number < def->min || number > def->max)
		return -1;
	*result = number;
	return 0;
}

static int check_entry(struct entry *entry, struct strbuf *error)
{
	const struct param_def *def = entry->def;
	long long number;

	if (def == NULL || def->type == PARAM_STR)
		return 0;
	if (config_parse_number(def, entry->value, &number) == 0)
		return 0;
	strbuf_printf(error, "%s: invalid value \"%s\" for %s: expected %s",
		      entry->source, entry->value, entry->name,
		      type_hint(def->type));
	if (def->type != PARAM_BOOL) {
		strbuf_puts(error, " from ");
		append_bound(error, def->type, def->min);
		strbuf_puts(error, " to ");
		append_bound(error, def->type, def->max);
	}
	return -1;
}

static int apply_overrides(struct strbuf *error)
{
	size_t i;

	for (i = 0; i < override_count; i++) {
		char *copy = xstrdup(overrides[i]);
		int status = parse_assignment(copy, "-o option", INT_MAX,
					      error);

		free(copy);
		if (status != 0)
			return -1;
	}
	return 0;
}

int config_override(const char *assignment, struct strbuf *error)
{
	const char *equals = strchr(assignment, '=');

	if (equals == NULL || equals == assignment) {
		strbuf_printf(error, "invalid -o option \"%s\": expected "
			      "name=value", assignment);
		return -1;
	}
	overrides = xreallocarray(overrides, override_count + 1,
				  sizeof(*overrides));
	overrides[override_count++] = xstrdup(assignment);
	return 0;
}

/* Put an entry back to its default; one the table does not know becomes
 * empty. */
static void reset_to_default(struct entry *entry)
{
	char host[256];
	const char *value = entry->def != NULL ? entry->def->def : "";

	if (strcmp(entry->name, "myhostname") == 0) {
		system_hostname(host, sizeof(host));
		value = host;
	}
	set_entry(entry->name, value, "default", true);
}

/* Forget every expanded value, because some may contain one that
 * changed. */
static void forget_values(void)
{
	size_t i;

	for (i = 0; i < entry_count; i++) {
		free(entries[i].value);
		entries[i].value = NULL;
	}
}

/*
 * Expand and check one entry. Returns 0 when it is valid. When it is not,
 * it records the problem in the load mode, puts the entry at fault back
 * to its default and returns 1. Returns -1 with a message in error when
 * the entry at fault is already a default.
 */
static int expand_and_check(struct entry *entry, struct strbuf *error)
{
	struct strbuf problem;
	struct entry *culprit;

	strbuf_init(&problem);
	failed_entry = NULL;
	if (expand_entry(entry, 0, &problem) != NULL
	    && check_entry(entry, &problem) == 0) {
		strbuf_free(&problem);
		return 0;
	}

	/* A failed expansion is the fault of the innermost value. A default
	 * that fails cannot be repaired by going back to it. */
	culprit = failed_entry != NULL ? failed_entry : entry;
	if (culprit->is_default) {
		strbuf_puts(error, problem.data);
		strbuf_free(&problem);
		return -1;
	}
	report_problem(culprit->line_number, problem.data,
		       load_mode->value_note);
	strbuf_free(&problem);
	reset_to_default(culprit);
	forget_values();
	return 1;
}

/* Expand and check every entry; start again after each fallback to a
 * default, which may change the values expanded before it. */
static int expand_all(struct strbuf *error)
{
	size_t i = 0;

	while (i < entry_count) {
		int status = expand_and_check(&entries[i], error);

		if (status < 0)
			return -1;
		i = status == 0 ? i + 1 : 0;
	}
	return 0;
}

/*
 * Read main.cf and the overrides into a new configuration, recording
 * each invalid value or line in mode. validate, if not NULL, runs even
 * after such a problem, with the parameter at its default, so that one
 * load lists every problem. With replace_on_problem the new configuration
 * replaces the one in use despite problems; otherwise it does only when
 * there was none and validate accepts it. Returns -1 when the old
 * configuration stays in use.
 */
static int load(const char *config_dir, int (*validate)(struct strbuf *),
		struct load_mode *mode, bool replace_on_problem,
		struct strbuf *error)
{
	struct entry *old_entries = entries;
	size_t old_count = entry_count;
	char *old_dir = loaded_dir;
	struct strbuf fatal;
	char *path;
	int status;

	/* Build the new configuration beside the old one, so that a failed
	 * reload leaves the values in use untouched. */
	entries = NULL;
	entry_count = 0;
	loaded_dir = xstrdup(config_dir);
	load_mode = mode;
	strbuf_init(&fatal);
	set_defaults();
	path = xasprintf("%s/main.cf", config_dir);
	status = read_file(path, &fatal);
	free(path);
	if (status == 0)
		status = apply_overrides(&fatal);
	if (status == 0)
		status = expand_all(&fatal);
	load_mode = NULL;

	/* The problems of main.cf in its order, then the one that ended the
	 * load, if any, then those of validate. */
	write_problems(mode);
	if (fatal.len > 0) {
		begin_line(error);
		strbuf_puts(error, fatal.data);
	}
	strbuf_free(&fatal);
	if (status == 0 && validate != NULL && validate(error) != 0)
		status = -1;
	if (status == 0 && mode->problem_count > 0 && !replace_on_problem)
		status = -1;
	if (status != 0) {
		config_free();
		entries = old_entries;
		entry_count = old_count;
		loaded_dir = old_dir;
		return -1;
	}
	free_entries(old_entries, old_count, old_dir);
	return 0;
}

int config_load(const char *config_dir, struct strbuf *error)
{
	struct load_mode mode = { error, false, "", "", NULL, 0 };

	return load(config_dir, NULL, &mode, false, error);
}

void config_fatal(const char *config_dir, const char *problems)
{
	msg_error_lines("", problems);
	msg_fatal("not starting: fix the configuration in %s (\"tlsrptd "
		  "check\" lists every problem)", config_dir);
}

int config_load_validated(const char *config_dir,
			  int (*validate)(struct strbuf *error),
			  struct strbuf *error)
{
	struct load_mode mode = { error, false, "", "", NULL, 0 };

	return load(config_dir, validate, &mode, false, error);
}

int config_load_relaxed(const char *config_dir, struct strbuf *warnings,
			struct strbuf *error)
{
	struct load_mode mode = {
		warnings, true, "; using the default for this command",
		"; ignoring this line for this command", NULL, 0
	};

	return load(config_dir, NULL, &mode, true, error);
}

int config_load_with_defaults(const char *config_dir, struct strbuf *errors)
{
	struct load_mode mode = { errors, false, "", "", NULL, 0 };

	if (load(config_dir, NULL, &mode, true, errors) != 0)
		return -1;
	return mode.problem_count > 0 ? 1 : 0;
}

int config_check_required(struct strbuf *error)
{
	size_t i;
	int status = 0;

	for (i = 0; i < param_count; i++) {
		const char *value;

		if (!param_table[i].required)
			continue;
		value = config_str(param_table[i].name);
		if (value[0] != '\0')
			continue;
		strbuf_printf(error, "%s%s is not set; add \"%s = ...\" to "
			      "%s/main.cf", status ? "\n" : "",
			      param_table[i].name, param_table[i].name,
			      config_directory());
		status = -1;
	}
	return status;
}

const char *config_directory(void)
{
	return loaded_dir != NULL ? loaded_dir : "";
}

static struct entry *lookup(const char *name, enum param_type type)
{
	struct entry *entry = find_entry(name);

	if (entry == NULL || entry->value == NULL)
		msg_panic("configuration parameter \"%s\" is not loaded", name);
	if (entry->def == NULL || entry->def->type != type)
		msg_panic("configuration parameter \"%s\" read with the "
			  "wrong type", name);
	return entry;
}

static long long lookup_number(const char *name, enum param_type type)
{
	struct entry *entry = lookup(name, type);
	long long number;

	if (config_parse_number(entry->def, entry->value, &number) != 0)
		msg_panic("configuration parameter \"%s\" was not checked",
			  name);
	return number;
}

const char *config_str(const char *name)
{
	struct entry *entry = find_entry(name);

	if (entry == NULL || entry->value == NULL)
		msg_panic("configuration parameter \"%s\" is not loaded", name);
	return entry->value;
}

long long config_int(const char *name)
{
	return lookup_number(name, PARAM_INT);
}

long long config_time(const char *name)
{
	return lookup_number(name, PARAM_TIME);
}

long long config_size(const char *name)
{
	return lookup_number(name, PARAM_SIZE);
}

bool config_bool(const char *name)
{
	return lookup_number(name, PARAM_BOOL) != 0;
}

mode_t config_mode(const char *name)
{
	return (mode_t)lookup_number(name, PARAM_MODE);
}

const char *config_source(const char *name)
{
	struct entry *entry = find_entry(name);

	if (entry == NULL)
		msg_panic("configuration parameter \"%s\" is not loaded", name);
	return entry->source;
}

bool config_is_set(const char *name)
{
	struct entry *entry = find_entry(name);

	return entry != NULL && !entry->is_default;
}

void config_foreach(void (*visit)(const char *name, const char *value,
				  bool is_default, void *context),
		    void *context)
{
	size_t i;

	for (i = 0; i < entry_count; i++)
		visit(entries[i].name, entries[i].value, entries[i].is_default,
		      context);
}
